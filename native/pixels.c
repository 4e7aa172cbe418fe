/*
 * imgclass's native pixel kernels (src/data/native-pixels.ts), built at install by
 * scripts/build-native.js where a C compiler and libjpeg's headers are there; without them the
 * same work runs in WebAssembly and TypeScript, with the same bytes.
 *
 * decode(jpeg: Uint8Array, out: Uint8Array): boolean. libjpeg-turbo as the system installs it,
 * with its x86 / Arm SIMD, on the calling thread. It does what sharp's decode does with a plain
 * JPEG (libjpeg's defaults: accurate integer IDCT, fancy upsampling, RGB out), so the pixels are
 * sharp's byte for byte (test/jpeg.test.ts), in about half the time of the WebAssembly build,
 * which has no SIMD (docs/startup.md, sixth round). `out` must be exactly width × height × 3
 * bytes of the image the header declares. False when libjpeg fails or warns (a damaged or
 * truncated file), when the image is not that size, or when a progressive file lacks scans
 * (`all_scans`): the caller then decodes it another way, or lets sharp decide and word the error.
 *
 * reduceRows, reduceCols, affineRows: the inner loops of data/resample.ts (libvips' reduce and
 * bilinear enlargement, in 12-bit fixed point), the same integer arithmetic, so the same bytes
 * (test/resample.test.ts); resample.ts plans the taps and weights, these run them. Every index is
 * checked against the arrays' lengths before a byte is read: a bad call throws a RangeError.
 */
#include <node_api.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

struct failure {
  struct jpeg_error_mgr pub;
  jmp_buf exit;
  int warned;
};

static void on_error(j_common_ptr cinfo) { longjmp(((struct failure *)cinfo->err)->exit, 1); }

/* level -1 is a warning (corrupt data, a premature end); higher levels are trace messages */
static void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) ((struct failure *)cinfo->err)->warned = 1;
}

/* A call's arguments: typed arrays of the expected types, then integers. */
struct args {
  napi_env env;
  napi_value v[12];
  size_t n;
};

static int get_array(struct args *a, size_t i, napi_typedarray_type want, void **data, size_t *length) {
  bool is_typed;
  napi_typedarray_type type;
  if (i >= a->n || napi_is_typedarray(a->env, a->v[i], &is_typed) != napi_ok || !is_typed) return 0;
  if (napi_get_typedarray_info(a->env, a->v[i], &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

/* An integer argument within 0..2^30 (sizes and offsets: their products cannot overflow). */
static int get_int(struct args *a, size_t i, int64_t *out) {
  return i < a->n && napi_get_value_int64(a->env, a->v[i], out) == napi_ok && *out >= 0 && *out <= (1 << 30);
}

/*
 * Whether a progressive file gave every coefficient its last bit. One cut short between scans is
 * decoded from the scans it has, with the missing coefficients smoothed over, and libjpeg-turbo
 * 2.1 (Debian 12's) smooths them unlike 3.x (sharp's): such a file is left to the caller.
 */
static int all_scans(j_decompress_ptr cinfo) {
  if (!cinfo->progressive_mode) return 1;
  for (int c = 0; c < cinfo->num_components; c++)
    for (int k = 0; k < DCTSIZE2; k++)
      if (cinfo->coef_bits[c][k] != 0) return 0;
  return 1;
}

/* Decodes into `out`; 1 on a clean decode of exactly out_length bytes. */
static int decode_into(const unsigned char *jpeg, size_t jpeg_length, unsigned char *out, size_t out_length) {
  struct jpeg_decompress_struct cinfo;
  struct failure err;
  JSAMPROW *volatile rows = NULL;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.warned = 0;
  if (setjmp(err.exit)) {
    free(rows);
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, jpeg, (unsigned long)jpeg_length);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo); /* a progressive file's scans are all read here */
  size_t stride = (size_t)cinfo.output_width * 3;
  int ok = cinfo.output_components == 3 && stride * cinfo.output_height == out_length && all_scans(&cinfo);
  if (ok) {
    rows = malloc(sizeof(JSAMPROW) * cinfo.output_height);
    ok = rows != NULL;
  }
  if (ok) {
    for (JDIMENSION y = 0; y < cinfo.output_height; y++) rows[y] = out + stride * y;
    while (cinfo.output_scanline < cinfo.output_height)
      jpeg_read_scanlines(&cinfo, rows + cinfo.output_scanline, cinfo.output_height - cinfo.output_scanline);
    jpeg_finish_decompress(&cinfo);
  }
  free(rows);
  rows = NULL;
  jpeg_destroy_decompress(&cinfo);
  return ok && !err.warned;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  struct args a = {env, {0}, 12};
  napi_value result;
  unsigned char *jpeg, *out;
  size_t jpeg_length, out_length;
  napi_get_cb_info(env, info, &a.n, a.v, NULL, NULL);
  if (!get_array(&a, 0, napi_uint8_array, (void **)&jpeg, &jpeg_length) || !get_array(&a, 1, napi_uint8_array, (void **)&out, &out_length)) {
    napi_throw_type_error(env, NULL, "decode(jpeg: Uint8Array, out: Uint8Array)");
    return NULL;
  }
  napi_get_boolean(env, jpeg_length > 0 && out_length > 0 && decode_into(jpeg, jpeg_length, out, out_length), &result);
  return result;
}

/* A reduce's first four arguments: the input, the output, and the taps' indices and weights. */
struct taps {
  uint8_t *src, *out;
  int32_t *idx, *wts;
  size_t src_len, out_len, idx_len, wts_len;
};

static int get_taps(struct args *a, struct taps *t) {
  return get_array(a, 0, napi_uint8_array, (void **)&t->src, &t->src_len) && get_array(a, 1, napi_uint8_array, (void **)&t->out, &t->out_len) &&
         get_array(a, 2, napi_int32_array, (void **)&t->idx, &t->idx_len) && get_array(a, 3, napi_int32_array, (void **)&t->wts, &t->wts_len);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static inline uint8_t clamp255(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

/*
 * A vertical reduce's row, in three loops the compiler vectorises: AVX2 where the CPU has it (a
 * clone chosen when the module loads), SSE2 elsewhere.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

VECTOR_CLONES static void accumulate_start(int32_t *restrict acc, int width) {
  for (int x = 0; x < width; x++) acc[x] = 2048;
}

VECTOR_CLONES static void accumulate_row(int32_t *restrict acc, const uint8_t *restrict s, int32_t w, int width) {
  for (int x = 0; x < width; x++) acc[x] += w * s[x];
}

VECTOR_CLONES static void store_row(uint8_t *restrict d, const int32_t *restrict acc, int width) {
  for (int x = 0; x < width; x++) {
    int v = acc[x] >> 12;
    d[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

/*
 * reduceRows(src: Uint8Array, out: Uint8Array, idx: Int32Array, wts: Int32Array, n, rows, rowLen, x0, x1):
 * output row o, columns [x0, x1) of rowLen bytes: (2048 + Σ wts[o·n+i] · src[idx[o·n+i]·rowLen + x]) >> 12, clamped.
 */
static napi_value reduce_rows(napi_env env, napi_callback_info info) {
  struct args a = {env, {0}, 12};
  napi_get_cb_info(env, info, &a.n, a.v, NULL, NULL);
  struct taps t;
  int64_t n, rows, row_len, x0, x1;
  if (!get_taps(&a, &t) || !get_int(&a, 4, &n) || !get_int(&a, 5, &rows) || !get_int(&a, 6, &row_len) || !get_int(&a, 7, &x0) || !get_int(&a, 8, &x1))
    return fail(env, "reduceRows(src, out, idx, wts, n, rows, rowLen, x0, x1)");
  if (n < 1 || x1 < x0 || x1 > row_len || (size_t)(n * rows) > t.idx_len || t.idx_len != t.wts_len ||
      (size_t)(rows * row_len) > t.out_len)
    return fail(env, "reduceRows: sizes out of range");
  size_t input_rows = row_len ? t.src_len / (size_t)row_len : 0;
  for (int64_t k = 0; k < n * rows; k++)
    if (t.idx[k] < 0 || (size_t)t.idx[k] >= input_rows) return fail(env, "reduceRows: a tap outside the input");
  int32_t *acc = malloc(sizeof(int32_t) * (size_t)(x1 - x0 + 1));
  if (!acc) return fail(env, "reduceRows: out of memory");
  for (int64_t o = 0; o < rows; o++) {
    const int width = (int)(x1 - x0);
    accumulate_start(acc, width);
    for (int64_t i = 0; i < n; i++)
      if (t.wts[o * n + i] != 0) accumulate_row(acc, t.src + (size_t)t.idx[o * n + i] * (size_t)row_len + x0, t.wts[o * n + i], width);
    store_row(t.out + o * row_len + x0, acc, width);
  }
  free(acc);
  return NULL;
}

/*
 * reduceCols(src: Uint8Array, out: Uint8Array, idx: Int32Array, wts: Int32Array, n, inRowLen, ow, height):
 * every row's ow RGB outputs: (2048 + Σ wts[o·n+i] · src[row + idx[o·n+i] + c]) >> 12, clamped (idx in bytes: column × 3).
 */
static napi_value reduce_cols(napi_env env, napi_callback_info info) {
  struct args a = {env, {0}, 12};
  napi_get_cb_info(env, info, &a.n, a.v, NULL, NULL);
  struct taps t;
  int64_t n, in_row, ow, height;
  if (!get_taps(&a, &t) || !get_int(&a, 4, &n) || !get_int(&a, 5, &in_row) || !get_int(&a, 6, &ow) || !get_int(&a, 7, &height))
    return fail(env, "reduceCols(src, out, idx, wts, n, inRowLen, ow, height)");
  if (n < 1 || (size_t)(n * ow) > t.idx_len || t.idx_len != t.wts_len || (size_t)(ow * 3 * height) > t.out_len ||
      (size_t)(in_row * height) > t.src_len)
    return fail(env, "reduceCols: sizes out of range");
  for (int64_t k = 0; k < n * ow; k++)
    if (t.idx[k] < 0 || t.idx[k] + 3 > in_row) return fail(env, "reduceCols: a tap outside the row");
  for (int64_t y = 0; y < height; y++) {
    const uint8_t *row = t.src + y * in_row;
    uint8_t *d = t.out + y * ow * 3;
    for (int64_t o = 0; o < ow; o++) {
      int r = 2048, g = 2048, b = 2048;
      const int32_t *ix = t.idx + o * n, *w = t.wts + o * n;
      for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = row + ix[i];
        r += w[i] * p[0];
        g += w[i] * p[1];
        b += w[i] * p[2];
      }
      d[0] = clamp255(r >> 12);
      d[1] = clamp255(g >> 12);
      d[2] = clamp255(b >> 12);
      d += 3;
    }
  }
  return NULL;
}

/*
 * affineRows(src: Uint8Array, out: Uint8Array, r0: Int32Array, r1: Int32Array, fy: Int32Array,
 *            x0: Int32Array, x1: Int32Array, fx: Int32Array, ow, oh, at):
 * libvips' bilinear: output row y from the input rows at byte offsets r0[y] and r1[y] with the
 * 12-bit fraction fy[y]; column x from byte offsets x0[x] and x1[x] with fx[x]; one rounding.
 * Written from byte `at` of out.
 */
static napi_value affine_rows(napi_env env, napi_callback_info info) {
  struct args a = {env, {0}, 12};
  napi_get_cb_info(env, info, &a.n, a.v, NULL, NULL);
  uint8_t *src, *out;
  int32_t *r0, *r1, *fys, *c0, *c1, *fxs;
  size_t src_len, out_len, r0_len, r1_len, fy_len, c0_len, c1_len, fx_len;
  int64_t ow, oh, at;
  if (!get_array(&a, 0, napi_uint8_array, (void **)&src, &src_len) || !get_array(&a, 1, napi_uint8_array, (void **)&out, &out_len) ||
      !get_array(&a, 2, napi_int32_array, (void **)&r0, &r0_len) || !get_array(&a, 3, napi_int32_array, (void **)&r1, &r1_len) ||
      !get_array(&a, 4, napi_int32_array, (void **)&fys, &fy_len) || !get_array(&a, 5, napi_int32_array, (void **)&c0, &c0_len) ||
      !get_array(&a, 6, napi_int32_array, (void **)&c1, &c1_len) || !get_array(&a, 7, napi_int32_array, (void **)&fxs, &fx_len) ||
      !get_int(&a, 8, &ow) || !get_int(&a, 9, &oh) || !get_int(&a, 10, &at))
    return fail(env, "affineRows(src, out, r0, r1, fy, x0, x1, fx, ow, oh, at)");
  if ((size_t)oh > r0_len || (size_t)oh > r1_len || (size_t)oh > fy_len || (size_t)ow > c0_len ||
      (size_t)ow > c1_len || (size_t)ow > fx_len || (size_t)(at + ow * oh * 3) > out_len)
    return fail(env, "affineRows: sizes out of range");
  int64_t max_col = 0;
  for (int64_t x = 0; x < ow; x++) {
    if (c0[x] < 0 || c1[x] < 0) return fail(env, "affineRows: a column outside the input");
    if (c0[x] > max_col) max_col = c0[x];
    if (c1[x] > max_col) max_col = c1[x];
  }
  for (int64_t y = 0; y < oh; y++)
    if (r0[y] < 0 || r1[y] < 0 || (size_t)(r0[y] + max_col + 3) > src_len || (size_t)(r1[y] + max_col + 3) > src_len)
      return fail(env, "affineRows: a row outside the input");
  uint8_t *d = out + at;
  for (int64_t y = 0; y < oh; y++) {
    const int fy = fys[y], yd = 4096 - fy;
    const uint8_t *a0 = src + r0[y], *a1 = src + r1[y];
    for (int64_t x = 0; x < ow; x++) {
      const int f = fxs[x];
      const int c4 = (fy * f) >> 12, c2 = (yd * f) >> 12, c3 = fy - c4, c1v = yd - c2;
      const uint8_t *p1 = a0 + c0[x], *p2 = a0 + c1[x], *p3 = a1 + c0[x], *p4 = a1 + c1[x];
      d[0] = (uint8_t)((c1v * p1[0] + c2 * p2[0] + c3 * p3[0] + c4 * p4[0] + 2048) >> 12);
      d[1] = (uint8_t)((c1v * p1[1] + c2 * p2[1] + c3 * p3[1] + c4 * p4[1] + 2048) >> 12);
      d[2] = (uint8_t)((c1v * p1[2] + c2 * p2[2] + c3 * p3[2] + c4 * p4[2] + 2048) >> 12);
      d += 3;
    }
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } exported[] = {{"decode", decode}, {"reduceRows", reduce_rows}, {"reduceCols", reduce_cols}, {"affineRows", affine_rows}};
  for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, exported[i].name, NAPI_AUTO_LENGTH, exported[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, exported[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
