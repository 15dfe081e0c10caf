/*
 * The sender's per-chunk path (sender/chunker.ts) in one call, for the
 * capture kernel's one CPU: each page is looked at once for zeros and moved
 * into place, the kept pages are hashed (XXH32) and lz4-compressed with the
 * acceleration the caller asks for. In JavaScript the same work is four
 * passes with a boundary crossing per page (compare, copyWithin) and the npm
 * lz4 binding, which offers only LZ4_compress_default.
 *
 * Nothing is allocated per call: the caller owns every buffer, and the lz4
 * state lives in the addon's instance data. The frame layout stays the
 * caller's; this only fills the zero bitmap and the payload it is handed.
 *
 * encode(pages, pageCount, pageSize, bitmap, payload, acceleration, result)
 *   pages    Buffer of pageCount * pageSize bytes, compacted in place
 *   bitmap   Buffer of at least ceil(pageCount / 8) bytes: bit i = page i is zero
 *   payload  Buffer the payload is written to (lz4 block, or the pages raw)
 *   result   Uint32Array(6): packed bytes, zero pages, payload bytes,
 *            lz4 (1) or raw (0), XXH32 of the packed pages (seed 0),
 *            XXH32 of the bitmap seeded with that (the chunk checksum)
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lz4.h"
#include "xxhash.h"

#define RESULT_SLOTS 6

typedef struct {
  void *lz4_state;
} instance_t;

static napi_value throw_error(napi_env env, const char *code, const char *message) {
  napi_throw_range_error(env, code, message);
  return NULL;
}

/* A page is zero when every 64-bit word is: the first word settles most kept pages at once. */
static int page_is_zero(const unsigned char *page, size_t page_size) {
  const uint64_t *words = (const uint64_t *)page;
  size_t count = page_size / sizeof(uint64_t);
  if (words[0] != 0) return 0;
  for (size_t i = 0; i < count; i += 8) {
    uint64_t any = words[i] | words[i + 1] | words[i + 2] | words[i + 3] | words[i + 4] | words[i + 5] | words[i + 6] | words[i + 7];
    if (any != 0) return 0;
  }
  return 1;
}

static int buffer_arg(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static int uint32_arg(napi_env env, napi_value value, uint32_t *out) {
  return napi_get_value_uint32(env, value, out) == napi_ok;
}

static napi_value encode(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  instance_t *instance;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&instance) != napi_ok || argc != 7) {
    return throw_error(env, "ERR_ARGS", "encode(pages, pageCount, pageSize, bitmap, payload, acceleration, result) takes 7 arguments");
  }
  unsigned char *pages, *bitmap, *payload;
  size_t pages_length, bitmap_length, payload_length;
  uint32_t page_count, page_size, acceleration;
  if (!buffer_arg(env, argv[0], &pages, &pages_length) || !buffer_arg(env, argv[3], &bitmap, &bitmap_length) ||
      !buffer_arg(env, argv[4], &payload, &payload_length)) {
    return throw_error(env, "ERR_ARGS", "pages, bitmap and payload must be Buffers");
  }
  if (!uint32_arg(env, argv[1], &page_count) || !uint32_arg(env, argv[2], &page_size) || !uint32_arg(env, argv[5], &acceleration)) {
    return throw_error(env, "ERR_ARGS", "pageCount, pageSize and acceleration must be unsigned 32-bit integers");
  }
  napi_typedarray_type result_type;
  size_t result_length;
  void *result_data;
  if (napi_get_typedarray_info(env, argv[6], &result_type, &result_length, &result_data, NULL, NULL) != napi_ok ||
      result_type != napi_uint32_array || result_length < RESULT_SLOTS) {
    return throw_error(env, "ERR_ARGS", "result must be a Uint32Array of 6 or more");
  }
  /* Page sizes are powers of two from 4 KiB (x86-64, arm64's smallest granule) to 64 KiB. */
  if (page_size < 4096 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
    return throw_error(env, "ERR_PAGE_SIZE", "pageSize must be a power of two from 4096 to 65536");
  }
  size_t raw_length = (size_t)page_count * page_size;
  size_t bitmap_needed = ((size_t)page_count + 7) / 8;
  if (raw_length > pages_length) return throw_error(env, "ERR_PAGES", "pages holds fewer than pageCount pages");
  if (raw_length > (size_t)LZ4_MAX_INPUT_SIZE) return throw_error(env, "ERR_PAGES", "a chunk larger than lz4's largest block");
  if (bitmap_needed > bitmap_length) return throw_error(env, "ERR_BITMAP", "bitmap is shorter than ceil(pageCount / 8) bytes");

  memset(bitmap, 0, bitmap_needed);
  size_t packed = 0;
  uint32_t zero_pages = 0;
  for (uint32_t i = 0; i < page_count; i++) {
    unsigned char *page = pages + (size_t)i * page_size;
    if (page_is_zero(page, page_size)) {
      bitmap[i >> 3] |= (unsigned char)(1u << (i & 7));
      zero_pages++;
      continue;
    }
    if (pages + packed != page) memmove(pages + packed, page, page_size);
    packed += page_size;
  }

  uint32_t pages_hash = XXH32(pages, packed, 0);
  int compressed = 0;
  if (packed > 0) {
    int capacity = payload_length > (size_t)INT32_MAX ? INT32_MAX : (int)payload_length;
    compressed = LZ4_compress_fast_extState(instance->lz4_state, (const char *)pages, (char *)payload, (int)packed, capacity,
                                            acceleration < 1 ? 1 : acceleration > 65537 ? 65537 : (int)acceleration);
  }
  uint32_t payload_bytes;
  uint32_t lz4 = 1;
  if (packed == 0 || compressed <= 0 || (size_t)compressed >= packed) {
    /* Incompressible (or empty): the pages go as they are. */
    if (packed > payload_length) return throw_error(env, "ERR_PAYLOAD", "payload is too small for the pages raw");
    memcpy(payload, pages, packed);
    payload_bytes = (uint32_t)packed;
    lz4 = 0;
  } else {
    payload_bytes = (uint32_t)compressed;
  }

  uint32_t *result = (uint32_t *)result_data;
  result[0] = (uint32_t)packed;
  result[1] = zero_pages;
  result[2] = payload_bytes;
  result[3] = lz4;
  result[4] = pages_hash;
  result[5] = XXH32(bitmap, bitmap_needed, pages_hash);
  return NULL;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  instance_t *instance = data;
  free(instance->lz4_state);
  free(instance);
}

NAPI_MODULE_INIT() {
  instance_t *instance = calloc(1, sizeof(*instance));
  if (instance) instance->lz4_state = malloc((size_t)LZ4_sizeofState());
  if (!instance || !instance->lz4_state) {
    napi_throw_error(env, "ERR_NO_MEMORY", "chunk encoder: no memory for the lz4 state");
    return NULL;
  }
  if (napi_set_instance_data(env, instance, free_instance, NULL) != napi_ok) return NULL;
  napi_value fn;
  if (napi_create_function(env, "encode", NAPI_AUTO_LENGTH, encode, instance, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "encode", fn) != napi_ok) return NULL;
  return exports;
}
