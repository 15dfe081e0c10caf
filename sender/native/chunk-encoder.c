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
 * encode(pageCount, pageSize, pages, bitmap, payload, acceleration, result, storedPages)
 *   pages    Buffer of pageCount * pageSize bytes, compacted in place
 *   bitmap   Buffer of at least ceil(pageCount / 8) bytes: bit i = page i is zero
 *   payload  Buffer the payload is written to (lz4 block, or the pages raw)
 *   result   Uint32Array(6): packed bytes, zero pages, payload bytes,
 *            lz4 (1), raw (0) or stored pages (2), XXH32 of the packed pages
 *            (seed 0) or of a stored payload, XXH32 of the bitmap seeded with
 *            the pages' (the chunk checksum)
 *   storedPages  true: the payload is the pages as the receiver stores them
 *            (CHUNK_STORED_LZO, shared/protocol/messages.ts): a u32 LE size
 *            per non-zero page, then each page LZO1X-1-compressed as
 *            makedumpfile -l compresses it, or raw (size = pageSize) where
 *            that does not make it smaller. The receiver checks and writes
 *            these bytes, instead of compressing every page again on its one
 *            thread for all uploads. result[4] is then the payload's XXH32
 *            (checked before anything is written); the chunk checksum stays
 *            that of the pages, the same in either form.
 *
 * encodeMapped(fd, fileOffset, fileSize, pageCount, pageSize, scratch, bitmap, payload, acceleration, result, storedPages)
 *   The same, for pages that lie in one contiguous range of the file `fd`
 *   (of fileSize bytes) from fileOffset: they are read through a read-only
 *   mapping of the file, as makedumpfile reads /proc/vmcore, and never
 *   copied when the chunk has no zero page (the common case); otherwise the
 *   kept ones are gathered into `scratch` (pageCount * pageSize bytes).
 *   /proc/vmcore reads copy each page out of the old kernel's memory through
 *   a mapping made and unmade per page; its mmap maps the range once. The
 *   window (MAP_WINDOW bytes, or the chunk if larger) moves forward with the
 *   chunks and is unmapped when it moves, so it adds at most a window to RSS.
 *   Throws with code ERR_MMAP when the file cannot be mapped: the caller
 *   then reads with pread, as before.
 */
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "lz4.h"
#include "minilzo.h"
#include "xxhash.h"

#define RESULT_SLOTS 6
#define MAP_WINDOW (8u << 20)
#define MAX_PAGE_SIZE 65536u
/* LZO1X worst case (lzo's docs): n + n/16 + 64 + 3. */
#define LZO_BOUND(n) ((n) + (n) / 16 + 64 + 3)
/* result[3]: what the payload is. */
#define PAYLOAD_RAW 0u
#define PAYLOAD_LZ4 1u
#define PAYLOAD_STORED 2u

typedef struct {
  void *lz4_state;
  XXH32_state_t *xxh_state;
  lzo_align_t lzo_work[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
  /* Where a page is compressed when the payload has less room left than LZO's worst case. */
  unsigned char lzo_overflow[LZO_BOUND(MAX_PAGE_SIZE)];
  /* The mapped window of encodeMapped: [window_offset, window_offset + window_length) of window_fd. */
  int window_fd;
  unsigned char *window;
  size_t window_offset, window_length;
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

static void put_u32(unsigned char *at, uint32_t v) {
  at[0] = (unsigned char)v; at[1] = (unsigned char)(v >> 8); at[2] = (unsigned char)(v >> 16); at[3] = (unsigned char)(v >> 24);
}

/*
 * The stored-pages payload (see storedPages above) of the pages at `source`:
 * nothing is compacted, each kept page is hashed and compressed where it lies.
 */
static int encode_stored(napi_env env, instance_t *instance, const unsigned char *source, uint32_t page_count, uint32_t page_size,
                         unsigned char *bitmap, size_t bitmap_needed, unsigned char *payload, size_t payload_length, uint32_t *result) {
  memset(bitmap, 0, bitmap_needed);
  uint32_t zero_pages = 0;
  for (uint32_t i = 0; i < page_count; i++) {
    if (page_is_zero(source + (size_t)i * page_size, page_size)) {
      bitmap[i >> 3] |= (unsigned char)(1u << (i & 7));
      zero_pages++;
    }
  }
  uint32_t kept = page_count - zero_pages;
  size_t table = (size_t)kept * 4;
  if (payload_length < table + (size_t)kept * page_size) {
    throw_error(env, "ERR_PAYLOAD", "payload is too small for the stored pages");
    return 0;
  }
  XXH32_reset(instance->xxh_state, 0);
  size_t written = 0;
  uint32_t k = 0;
  unsigned char *data = payload + table;
  size_t room = payload_length - table;
  for (uint32_t i = 0; i < page_count; i++) {
    if ((bitmap[i >> 3] >> (i & 7)) & 1) continue;
    const unsigned char *page = source + (size_t)i * page_size;
    XXH32_update(instance->xxh_state, page, page_size);
    int direct = room - written >= LZO_BOUND((size_t)page_size);
    unsigned char *into = direct ? data + written : instance->lzo_overflow;
    lzo_uint packed = 0;
    if (lzo1x_1_compress(page, page_size, into, &packed, instance->lzo_work) == LZO_E_OK && packed < page_size) {
      if (!direct) memcpy(data + written, into, packed);
    } else {
      /* As makedumpfile: a page LZO does not shrink is stored as it is. */
      memcpy(data + written, page, page_size);
      packed = page_size;
    }
    put_u32(payload + (size_t)k * 4, (uint32_t)packed);
    written += packed;
    k++;
  }
  uint32_t pages_hash = XXH32_digest(instance->xxh_state);
  result[0] = kept * page_size;
  result[1] = zero_pages;
  result[2] = (uint32_t)(table + written);
  result[3] = kept == 0 ? PAYLOAD_RAW : PAYLOAD_STORED;
  /* The payload's own hash: the receiver checks the bytes it writes without decoding them. */
  result[4] = kept == 0 ? pages_hash : XXH32(payload, table + written, 0);
  result[5] = XXH32(bitmap, bitmap_needed, pages_hash);
  return 1;
}

/*
 * The work of both entry points. Pages are read from `source`; the kept ones
 * are gathered at `packed_into` (which may be `source` itself: compaction in
 * place) only when some page is zero, else lz4 and XXH32 read `source` as it is.
 */
static int encode_pages(napi_env env, instance_t *instance, const unsigned char *source, unsigned char *packed_into, uint32_t page_count,
                        uint32_t page_size, unsigned char *bitmap, size_t bitmap_needed, unsigned char *payload, size_t payload_length,
                        uint32_t acceleration, uint32_t *result) {
  memset(bitmap, 0, bitmap_needed);
  size_t packed = 0;
  uint32_t zero_pages = 0;
  for (uint32_t i = 0; i < page_count; i++) {
    const unsigned char *page = source + (size_t)i * page_size;
    if (page_is_zero(page, page_size)) {
      /* The first zero page: from here the kept pages are gathered, and those before it go first. */
      if (zero_pages == 0 && packed_into != source) memcpy(packed_into, source, packed);
      bitmap[i >> 3] |= (unsigned char)(1u << (i & 7));
      zero_pages++;
      continue;
    }
    /* Until the first zero page the kept pages are already in place, in `source`. */
    if (zero_pages > 0 && packed_into + packed != page) memmove(packed_into + packed, page, page_size);
    packed += page_size;
  }
  const unsigned char *kept = zero_pages > 0 ? packed_into : source;

  uint32_t pages_hash = XXH32(kept, packed, 0);
  int compressed = 0;
  if (packed > 0) {
    int capacity = payload_length > (size_t)INT32_MAX ? INT32_MAX : (int)payload_length;
    compressed = LZ4_compress_fast_extState(instance->lz4_state, (const char *)kept, (char *)payload, (int)packed, capacity,
                                            acceleration < 1 ? 1 : acceleration > 65537 ? 65537 : (int)acceleration);
  }
  uint32_t payload_bytes;
  uint32_t lz4 = PAYLOAD_LZ4;
  if (packed == 0 || compressed <= 0 || (size_t)compressed >= packed) {
    /* Incompressible (or empty): the pages go as they are. */
    if (packed > payload_length) {
      throw_error(env, "ERR_PAYLOAD", "payload is too small for the pages raw");
      return 0;
    }
    memcpy(payload, kept, packed);
    payload_bytes = (uint32_t)packed;
    lz4 = PAYLOAD_RAW;
  } else {
    payload_bytes = (uint32_t)compressed;
  }

  result[0] = (uint32_t)packed;
  result[1] = zero_pages;
  result[2] = payload_bytes;
  result[3] = lz4;
  result[4] = pages_hash;
  result[5] = XXH32(bitmap, bitmap_needed, pages_hash);
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

static uint32_t *result_arg(napi_env env, napi_value value) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint32_array || length < RESULT_SLOTS) {
    return NULL;
  }
  return data;
}

/* Page sizes are powers of two from 4 KiB (x86-64, arm64's smallest granule) to 64 KiB. */
static int valid_page_size(uint32_t page_size) {
  return page_size >= 4096 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
}

/* The arguments both calls end with: pageCount, pageSize, pages (or scratch), bitmap, payload, acceleration, result. */
typedef struct {
  uint32_t page_count, page_size, acceleration;
  bool stored_pages;
  unsigned char *pages, *bitmap, *payload;
  size_t pages_length, bitmap_length, payload_length;
  size_t raw_length, bitmap_needed;
  uint32_t *result;
} chunk_args_t;

/* Reads and checks them from argv[0..7]; `pages_name` names the page buffer in errors. 0 with an exception pending. */
static int chunk_args(napi_env env, napi_value *argv, const char *pages_name, chunk_args_t *a) {
  char message[128];
  if (napi_get_value_bool(env, argv[7], &a->stored_pages) != napi_ok) {
    throw_error(env, "ERR_ARGS", "storedPages must be a boolean");
    return 0;
  }
  if (!uint32_arg(env, argv[0], &a->page_count) || !uint32_arg(env, argv[1], &a->page_size) || !uint32_arg(env, argv[5], &a->acceleration)) {
    throw_error(env, "ERR_ARGS", "pageCount, pageSize and acceleration must be unsigned 32-bit integers");
    return 0;
  }
  if (!buffer_arg(env, argv[2], &a->pages, &a->pages_length) || !buffer_arg(env, argv[3], &a->bitmap, &a->bitmap_length) ||
      !buffer_arg(env, argv[4], &a->payload, &a->payload_length)) {
    snprintf(message, sizeof message, "%s, bitmap and payload must be Buffers", pages_name);
    throw_error(env, "ERR_ARGS", message);
    return 0;
  }
  a->result = result_arg(env, argv[6]);
  if (!a->result) {
    throw_error(env, "ERR_ARGS", "result must be a Uint32Array of 6 or more");
    return 0;
  }
  if (!valid_page_size(a->page_size)) {
    throw_error(env, "ERR_PAGE_SIZE", "pageSize must be a power of two from 4096 to 65536");
    return 0;
  }
  a->raw_length = (size_t)a->page_count * a->page_size;
  a->bitmap_needed = ((size_t)a->page_count + 7) / 8;
  if (a->raw_length > a->pages_length) {
    snprintf(message, sizeof message, "%s holds fewer than pageCount pages", pages_name);
    throw_error(env, "ERR_PAGES", message);
    return 0;
  }
  if (a->raw_length > (size_t)LZ4_MAX_INPUT_SIZE) {
    throw_error(env, "ERR_PAGES", "a chunk larger than lz4's largest block");
    return 0;
  }
  if (a->bitmap_needed > a->bitmap_length) {
    throw_error(env, "ERR_BITMAP", "bitmap is shorter than ceil(pageCount / 8) bytes");
    return 0;
  }
  return 1;
}

/* Either payload of the pages at `source` (see encode_pages for `packed_into`). */
static void encode_chunk(napi_env env, instance_t *instance, const unsigned char *source, const chunk_args_t *a) {
  if (a->stored_pages) {
    encode_stored(env, instance, source, a->page_count, a->page_size, a->bitmap, a->bitmap_needed, a->payload, a->payload_length, a->result);
  } else {
    encode_pages(env, instance, source, a->pages, a->page_count, a->page_size, a->bitmap, a->bitmap_needed, a->payload, a->payload_length,
                 a->acceleration, a->result);
  }
}

static napi_value encode(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  instance_t *instance;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&instance) != napi_ok || argc != 8) {
    return throw_error(env, "ERR_ARGS", "encode(pageCount, pageSize, pages, bitmap, payload, acceleration, result, storedPages) takes 8 arguments");
  }
  chunk_args_t a;
  if (!chunk_args(env, argv, "pages", &a)) return NULL;
  encode_chunk(env, instance, a.pages, &a);
  return NULL;
}

static void unmap_window(instance_t *instance) {
  if (instance->window) munmap(instance->window, instance->window_length);
  instance->window = NULL;
  instance->window_fd = -1;
  instance->window_offset = instance->window_length = 0;
}

/*
 * [offset, offset + length) of fd through the window, moved there if it is
 * not: no MAP_POPULATE, since the first tier's chunks jump about the file
 * and each would populate a whole window for one chunk. NULL and errno set
 * when mmap fails.
 */
static const unsigned char *map_range(instance_t *instance, int fd, size_t offset, size_t length, size_t file_size) {
  if (instance->window && instance->window_fd == fd && offset >= instance->window_offset &&
      offset + length <= instance->window_offset + instance->window_length) {
    return instance->window + (offset - instance->window_offset);
  }
  unmap_window(instance);
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t start = offset - offset % page;
  size_t want = offset + length - start;
  if (want < MAP_WINDOW) want = MAP_WINDOW;
  /* Never past the end of the file: a regular file's pages there would raise SIGBUS. */
  if (start + want > file_size) want = file_size - start;
  void *addr = mmap(NULL, want, PROT_READ, MAP_PRIVATE, fd, (off_t)start);
  if (addr == MAP_FAILED) return NULL;
  instance->window = addr;
  instance->window_fd = fd;
  instance->window_offset = start;
  instance->window_length = want;
  return instance->window + (offset - start);
}

static int whole_number_arg(napi_env env, napi_value value, size_t *out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != (double)(int64_t)d) return 0;
  *out = (size_t)d;
  return 1;
}

static napi_value encode_mapped(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  instance_t *instance;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&instance) != napi_ok || argc != 11) {
    return throw_error(env, "ERR_ARGS",
                       "encodeMapped(fd, fileOffset, fileSize, pageCount, pageSize, scratch, bitmap, payload, acceleration, result, storedPages) takes 11 arguments");
  }
  int32_t fd;
  size_t file_offset, file_size;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !whole_number_arg(env, argv[1], &file_offset) ||
      !whole_number_arg(env, argv[2], &file_size)) {
    return throw_error(env, "ERR_ARGS", "fd, fileOffset and fileSize must be whole numbers");
  }
  chunk_args_t a;
  if (!chunk_args(env, argv + 3, "scratch", &a)) return NULL;
  if (file_offset > file_size || a.raw_length > file_size - file_offset) {
    return throw_error(env, "ERR_RANGE", "the pages run past the end of the file");
  }
  const unsigned char *source = a.raw_length == 0 ? a.pages : map_range(instance, fd, file_offset, a.raw_length, file_size);
  if (!source) {
    char message[160];
    snprintf(message, sizeof message, "cannot map the file at offset %zu: %s", file_offset, strerror(errno));
    napi_throw_error(env, "ERR_MMAP", message);
    return NULL;
  }
  encode_chunk(env, instance, source, &a);
  return NULL;
}

/* Drops the window: before the file it maps is closed, since its fd number may be reused. */
static napi_value release_mapping(napi_env env, napi_callback_info info) {
  instance_t *instance;
  if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&instance) != napi_ok) return NULL;
  unmap_window(instance);
  return NULL;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  instance_t *instance = data;
  unmap_window(instance);
  free(instance->lz4_state);
  if (instance->xxh_state) XXH32_freeState(instance->xxh_state);
  free(instance);
}

NAPI_MODULE_INIT() {
  instance_t *instance = calloc(1, sizeof(*instance));
  if (instance) {
    instance->lz4_state = malloc((size_t)LZ4_sizeofState());
    instance->xxh_state = XXH32_createState();
    instance->window_fd = -1;
  }
  if (!instance || !instance->lz4_state || !instance->xxh_state) {
    napi_throw_error(env, "ERR_NO_MEMORY", "chunk encoder: no memory for the lz4 and XXH32 states");
    return NULL;
  }
  if (lzo_init() != LZO_E_OK) {
    napi_throw_error(env, "ERR_LZO", "chunk encoder: lzo_init failed (minilzo built for another ABI)");
    return NULL;
  }
  if (napi_set_instance_data(env, instance, free_instance, NULL) != napi_ok) return NULL;
  const struct { const char *name; napi_callback fn; } functions[] = {
    {"encode", encode}, {"encodeMapped", encode_mapped}, {"releaseMapping", release_mapping},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, instance, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
