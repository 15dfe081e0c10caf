/*
 * Runs of pages to and from the form a kdump-compressed file stores them in,
 * one call a run: each non-zero page LZO1X-1-compressed as makedumpfile -l
 * compresses it, or raw where that does not make it smaller.
 *
 * encodeRun stores a run of raw pages: their data back to back and the run's
 * page descriptors beside. shared/kdump/writer.ts did this a page at a time
 * through node_lzo.node: a boundary crossing, an object and a copy per page,
 * which cost the receiver more than lz4 decoding and hashing together and
 * bounded an upload's speed (bench/stream-vs-makedumpfile.mjs, receiver
 * profile). The bytes are those the JavaScript path writes
 * (test/unit/stored-pages-native.test.ts compares them).
 *
 * Nothing is allocated per call: the caller owns the buffers; LZO's work
 * memory and one page of overflow room live in the addon's instance data.
 *
 * encodeRun(pageCount, pageSize, zeroBitmap, pages, data, descriptors, runStart, zeroPageOffset, result)
 *   zeroBitmap   bit i set = page i of the run is zero (stored as the shared zero page)
 *   pages        the run's non-zero pages, back to back
 *   data         where the stored pages go; room for every non-zero page raw
 *   descriptors  pageCount page_desc_t (24 bytes each: offset u64, size u32, flags u32, page_flags u64)
 *   runStart     file offset of data[0]; zeroPageOffset: the shared zero page's
 *   result       Uint32Array(2): data bytes written, zero pages
 */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minilzo.h"

#define RESULT_SLOTS 2
#define DESC_SIZE 24
#define MAX_PAGE_SIZE 65536u
/* page_desc_t.flags of an LZO page (makedumpfile's DUMP_DH_COMPRESSED_LZO). */
#define DUMP_DH_COMPRESSED_LZO 0x2u
/* LZO1X worst case (lzo's docs): n + n/16 + 64 + 3. */
#define LZO_BOUND(n) ((n) + (n) / 16 + 64 + 3)

typedef struct {
  lzo_align_t work[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
  /* Where a page is compressed when `data` has less room left than LZO's worst case. */
  unsigned char overflow[LZO_BOUND(MAX_PAGE_SIZE)];
} instance_t;

static napi_value throw_error(napi_env env, const char *code, const char *message) {
  napi_throw_range_error(env, code, message);
  return NULL;
}

static int buffer_arg(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, (void **)data, length) == napi_ok;
}

static void put_u32(unsigned char *at, uint32_t v) {
  at[0] = (unsigned char)v; at[1] = (unsigned char)(v >> 8); at[2] = (unsigned char)(v >> 16); at[3] = (unsigned char)(v >> 24);
}

static void put_descriptor(unsigned char *at, uint64_t offset, uint32_t size, uint32_t flags) {
  put_u32(at, (uint32_t)offset);
  put_u32(at + 4, (uint32_t)(offset >> 32));
  put_u32(at + 8, size);
  put_u32(at + 12, flags);
  memset(at + 16, 0, 8);
}

/* A file offset handed over as a JavaScript number: a whole number below 2^53. */
static int offset_arg(napi_env env, napi_value value, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}

static napi_value encode_run(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  instance_t *instance;
  char message[160];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&instance) != napi_ok || argc != 9) {
    return throw_error(env, "ERR_ARGS", "encodeRun(pageCount, pageSize, zeroBitmap, pages, data, descriptors, runStart, zeroPageOffset, result) takes 9 arguments");
  }
  uint32_t page_count, page_size;
  if (napi_get_value_uint32(env, argv[0], &page_count) != napi_ok || napi_get_value_uint32(env, argv[1], &page_size) != napi_ok) {
    return throw_error(env, "ERR_ARGS", "pageCount and pageSize must be unsigned 32-bit integers");
  }
  if (page_size < 4096 || page_size > MAX_PAGE_SIZE || (page_size & (page_size - 1)) != 0) {
    return throw_error(env, "ERR_PAGE_SIZE", "pageSize must be a power of two from 4096 to 65536");
  }
  unsigned char *bitmap, *pages, *data, *desc;
  size_t bitmap_length, pages_length, data_length, desc_length;
  if (!buffer_arg(env, argv[2], &bitmap, &bitmap_length) || !buffer_arg(env, argv[3], &pages, &pages_length) ||
      !buffer_arg(env, argv[4], &data, &data_length) || !buffer_arg(env, argv[5], &desc, &desc_length)) {
    return throw_error(env, "ERR_ARGS", "zeroBitmap, pages, data and descriptors must be Buffers");
  }
  uint64_t run_start, zero_offset;
  if (!offset_arg(env, argv[6], &run_start) || !offset_arg(env, argv[7], &zero_offset)) {
    return throw_error(env, "ERR_ARGS", "runStart and zeroPageOffset must be whole numbers from 0 to 2^53 - 1");
  }
  napi_typedarray_type type;
  size_t result_length;
  uint32_t *result;
  if (napi_get_typedarray_info(env, argv[8], &type, &result_length, (void **)&result, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      result_length < RESULT_SLOTS) {
    return throw_error(env, "ERR_ARGS", "result must be a Uint32Array of 2 or more");
  }
  if (bitmap_length < ((size_t)page_count + 7) / 8) return throw_error(env, "ERR_BITMAP", "zeroBitmap is shorter than ceil(pageCount / 8) bytes");
  if (desc_length < (size_t)page_count * DESC_SIZE) return throw_error(env, "ERR_DESCRIPTORS", "descriptors holds fewer than pageCount page descriptors");

  uint32_t zero_pages = 0;
  for (uint32_t i = 0; i < page_count; i++) zero_pages += (bitmap[i >> 3] >> (i & 7)) & 1;
  size_t kept_bytes = (size_t)(page_count - zero_pages) * page_size;
  if (pages_length != kept_bytes) {
    snprintf(message, sizeof message, "pages holds %zu bytes, but the bitmap leaves %u non-zero pages of %u bytes", pages_length,
             page_count - zero_pages, page_size);
    return throw_error(env, "ERR_PAGES", message);
  }
  if (data_length < kept_bytes) return throw_error(env, "ERR_DATA", "data has less room than the run's non-zero pages raw");

  size_t written = 0;
  const unsigned char *page = pages;
  for (uint32_t i = 0; i < page_count; i++) {
    unsigned char *d = desc + (size_t)i * DESC_SIZE;
    if ((bitmap[i >> 3] >> (i & 7)) & 1) {
      put_descriptor(d, zero_offset, page_size, 0);
      continue;
    }
    /* Straight into place when LZO's worst case fits; else into the overflow page, copied only if it is kept. */
    int direct = data_length - written >= LZO_BOUND((size_t)page_size);
    unsigned char *into = direct ? data + written : instance->overflow;
    lzo_uint packed = 0;
    int status = lzo1x_1_compress(page, page_size, into, &packed, instance->work);
    if (status == LZO_E_OK && packed < page_size) {
      if (!direct) memcpy(data + written, into, packed);
      put_descriptor(d, run_start + written, (uint32_t)packed, DUMP_DH_COMPRESSED_LZO);
      written += packed;
    } else {
      /* As makedumpfile: a page LZO does not shrink (or fails on) is stored as it is. */
      memcpy(data + written, page, page_size);
      put_descriptor(d, run_start + written, page_size, 0);
      written += page_size;
    }
    page += page_size;
  }
  result[0] = (uint32_t)written;
  result[1] = zero_pages;
  return NULL;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value init(napi_env env, napi_value exports) {
  if (lzo_init() != LZO_E_OK) return throw_error(env, "ERR_LZO", "lzo_init failed: minilzo was built for another ABI");
  instance_t *instance = calloc(1, sizeof *instance);
  if (!instance) return throw_error(env, "ERR_MEMORY", "no memory for LZO's work area");
  if (napi_set_instance_data(env, instance, free_instance, NULL) != napi_ok) {
    free(instance);
    return throw_error(env, "ERR_INIT", "could not keep the addon's instance data");
  }
  napi_value fn;
  if (napi_create_function(env, "encodeRun", NAPI_AUTO_LENGTH, encode_run, instance, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "encodeRun", fn) != napi_ok) {
    return throw_error(env, "ERR_INIT", "could not export encodeRun");
  }
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
