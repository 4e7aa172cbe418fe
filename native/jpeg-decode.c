/*
 * The plain-JPEG decoder's native path (src/data/jpeg-native.ts): libjpeg-turbo as the system
 * installs it, with its x86 / Arm SIMD, called on the calling thread through Node-API. It does
 * what sharp's decode does with a plain JPEG (libjpeg's defaults: accurate integer IDCT, fancy
 * upsampling, RGB out), so the pixels are sharp's byte for byte (test/jpeg.test.ts), in about half
 * the time of the WebAssembly build, which has no SIMD (docs/startup.md, sixth round).
 *
 * decode(jpeg: Uint8Array, out: Uint8Array): boolean. `out` must be exactly width × height × 3
 * bytes of the image the header declares. False when libjpeg fails or warns (a damaged or
 * truncated file), when the image is not that size, or when a progressive file lacks scans
 * (`all_scans`): the caller then decodes it another way, or lets sharp decide and word the error. Built by scripts/build-native.js; where it cannot be built, the WebAssembly build decodes.
 */
#include <node_api.h>
#include <setjmp.h>
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

static int bytes_of(napi_env env, napi_value value, unsigned char **data, size_t *length) {
  bool is_typed;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  if (napi_get_typedarray_info(env, value, &type, length, (void **)data, NULL, NULL) != napi_ok) return 0;
  return type == napi_uint8_array;
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
  size_t argc = 2;
  napi_value argv[2], result;
  unsigned char *jpeg, *out;
  size_t jpeg_length, out_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2 || !bytes_of(env, argv[0], &jpeg, &jpeg_length) || !bytes_of(env, argv[1], &out, &out_length)) {
    napi_throw_type_error(env, NULL, "decode(jpeg: Uint8Array, out: Uint8Array)");
    return NULL;
  }
  napi_get_boolean(env, jpeg_length > 0 && out_length > 0 && decode_into(jpeg, jpeg_length, out, out_length), &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decode", fn) != napi_ok) return NULL;
  return exports;
}
