// PNG through libpng, transformed to 8-bit RGBA, then composited over white.
#include "common.h"
#include <setjmp.h>
#include <png.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    kith_decoded *out;
} kith_png_source;

static void kith_png_read(png_structp png, png_bytep into, size_t length) {
    kith_png_source *source = png_get_io_ptr(png);
    if (length > source->size - source->offset) png_error(png, "truncated");
    memcpy(into, source->data + source->offset, length);
    source->offset += length;
}

static void kith_png_fail(png_structp png, png_const_charp message) {
    kith_png_source *source = png_get_error_ptr(png);
    kith_set_error(source->out->error, sizeof source->out->error, "", message);
    png_longjmp(png, 1);
}

static void kith_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

int kith_decode_png(const uint8_t *data, size_t size, kith_limits limits, kith_decoded *out) {
    memset(out, 0, sizeof *out);
    kith_png_source source = { data, size, 0, out };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, kith_png_fail, kith_png_warning);
    if (png == NULL) {
        kith_set_error(out->error, sizeof out->error, "", "out of memory");
        return KITH_IMAGE_ERROR;
    }
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        if (info == NULL) kith_set_error(out->error, sizeof out->error, "", "out of memory");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(pixels);
        free(rows);
        return KITH_IMAGE_ERROR;
    }
    png_set_read_fn(png, &source, kith_png_read);
    // Kith's own limits are checked below, with a clearer message than libpng's.
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    // Ancillary chunks (text, profiles) are never needed to draw the image.
    png_set_chunk_malloc_max(png, 8 * 1024 * 1024);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    out->full_width = width;
    out->full_height = height;
    if (!kith_within_limits(width, height, limits)) {
        png_destroy_read_struct(&png, &info, NULL);
        return KITH_IMAGE_TOO_LARGE;
    }
    int color = png_get_color_type(png, info);
    png_set_expand(png);          // palette to RGB, grey below 8 bits to 8, tRNS to alpha
    png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);  // no-op where there is alpha already
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 4) png_error(png, "unexpected row layout");
    pixels = malloc((size_t)width * height * 4);
    rows = malloc(sizeof(png_bytep) * height);
    if (pixels == NULL || rows == NULL) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 4;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    kith_rgba_over_white(pixels, (size_t)width * height);
    out->pixels = pixels;
    out->width = width;
    out->height = height;
    return KITH_IMAGE_OK;
}
