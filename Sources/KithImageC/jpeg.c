// JPEG through libjpeg-turbo. Its default error handler calls exit(): here
// errors longjmp back to the call, and warnings (corrupt or truncated data,
// which libjpeg would otherwise paint over in grey) are errors too.
#include "common.h"
#include <setjmp.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *error;
    size_t error_size;
    /// Set when the encoder's output outgrew its limit.
    int over_limit;
} kith_jpeg_error;

static void kith_jpeg_fail(j_common_ptr cinfo) {
    kith_jpeg_error *e = (kith_jpeg_error *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    e->base.format_message(cinfo, message);
    kith_set_error(e->error, e->error_size, "", message);
    longjmp(e->jump, 1);
}

static void kith_jpeg_message(j_common_ptr cinfo, int level) {
    // A warning (level -1) means the data is corrupt: refuse the image.
    if (level < 0) kith_jpeg_fail(cinfo);
}

static void kith_jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

/// A hostile progressive JPEG can hold thousands of tiny scans, each a pass
/// over the whole image: refuse more than any encoder writes.
#define KITH_JPEG_MAX_SCANS 500

static void kith_jpeg_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > KITH_JPEG_MAX_SCANS) {
            kith_jpeg_error *e = (kith_jpeg_error *)cinfo->err;
            kith_set_error(e->error, e->error_size, "", "too many progressive scans");
            longjmp(e->jump, 1);
        }
    }
}

static void kith_jpeg_errors(struct jpeg_error_mgr *base, kith_jpeg_error *e, char *error, size_t size) {
    jpeg_std_error(base);
    base->error_exit = kith_jpeg_fail;
    base->emit_message = kith_jpeg_message;
    base->output_message = kith_jpeg_silent;
    e->error = error;
    e->error_size = size;
    e->over_limit = 0;
}

/// Converts CMYK (inverted, as Adobe writes it, or not) to RGB in place, 4 to 3 bytes a pixel.
static void kith_cmyk_to_rgb(uint8_t *pixels, size_t count, int inverted) {
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = pixels + 4 * i;
        unsigned c = s[0], m = s[1], y = s[2], k = s[3];
        if (!inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
        uint8_t *d = pixels + 3 * i;
        d[0] = (uint8_t)((c * k + 127) / 255);
        d[1] = (uint8_t)((m * k + 127) / 255);
        d[2] = (uint8_t)((y * k + 127) / 255);
    }
}

int kith_decode_jpeg(const uint8_t *data, size_t size, kith_limits limits, kith_decoded *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct cinfo;
    kith_jpeg_error e;
    struct jpeg_progress_mgr progress = { .progress_monitor = kith_jpeg_progress };
    cinfo.err = &e.base;
    kith_jpeg_errors(&e.base, &e, out->error, sizeof out->error);
    uint8_t *volatile pixels = NULL;
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return KITH_IMAGE_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    // Beyond this libjpeg refuses (it has no backing store) rather than grow.
    cinfo.mem->max_memory_to_use = 1024L * 1024 * 1024;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    out->full_width = cinfo.image_width;
    out->full_height = cinfo.image_height;
    if (!kith_within_limits(cinfo.image_width, cinfo.image_height, limits)) {
        jpeg_destroy_decompress(&cinfo);
        return KITH_IMAGE_TOO_LARGE;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    // The smallest scale whose longer side is still at least the wanted one.
    uint32_t longer = cinfo.image_width > cinfo.image_height ? cinfo.image_width : cinfo.image_height;
    uint32_t wanted = limits.min_longer_side < longer ? limits.min_longer_side : longer;
    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;
    for (unsigned denom = 8; denom > 1; denom /= 2) {
        if ((longer + denom - 1) / denom >= wanted) { cinfo.scale_denom = denom; break; }
    }
    cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&cinfo);
    unsigned channels = (unsigned)cinfo.output_components;
    if (channels != (cmyk ? 4u : 3u)) {
        kith_set_error(out->error, sizeof out->error, "", "unexpected number of colour components");
        longjmp(e.jump, 1);
    }
    size_t stride = (size_t)cinfo.output_width * channels;
    pixels = malloc(stride * cinfo.output_height);
    if (pixels == NULL) {
        kith_set_error(out->error, sizeof out->error, "", "out of memory");
        longjmp(e.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    if (cmyk) kith_cmyk_to_rgb(pixels, (size_t)out->width * out->height, cinfo.saw_Adobe_marker);
    jpeg_destroy_decompress(&cinfo);
    out->pixels = pixels;
    return KITH_IMAGE_OK;
}

/// The encoder's output: a buffer this file owns (libjpeg's memory
/// destination frees buffers it outgrew, behind the caller's back), grown up
/// to `limit` bytes and no further.
typedef struct {
    struct jpeg_destination_mgr base;
    uint8_t *buffer;
    size_t capacity;
    size_t limit;
} kith_jpeg_destination;

#define KITH_JPEG_FIRST_BUFFER (64 * 1024)

static void kith_jpeg_start_output(j_compress_ptr cinfo) {
    kith_jpeg_destination *d = (kith_jpeg_destination *)cinfo->dest;
    d->base.next_output_byte = d->buffer;
    d->base.free_in_buffer = d->capacity;
}

/// Called when the buffer is full: doubles it, up to the limit.
static boolean kith_jpeg_grow_output(j_compress_ptr cinfo) {
    kith_jpeg_destination *d = (kith_jpeg_destination *)cinfo->dest;
    kith_jpeg_error *e = (kith_jpeg_error *)cinfo->err;
    if (d->capacity >= d->limit) {
        e->over_limit = 1;
        longjmp(e->jump, 1);
    }
    size_t capacity = d->capacity > d->limit / 2 ? d->limit : d->capacity * 2;
    uint8_t *grown = realloc(d->buffer, capacity);
    if (grown == NULL) {
        kith_set_error(e->error, e->error_size, "", "out of memory");
        longjmp(e->jump, 1);
    }
    d->buffer = grown;
    d->base.next_output_byte = grown + d->capacity;
    d->base.free_in_buffer = capacity - d->capacity;
    d->capacity = capacity;
    return TRUE;
}

static void kith_jpeg_end_output(j_compress_ptr cinfo) { (void)cinfo; }

int kith_encode_jpeg(const uint8_t *rgb, uint32_t width, uint32_t height, int quality, size_t max_size,
                     uint8_t **out, size_t *out_size, char *error, size_t error_size) {
    *out = NULL;
    *out_size = 0;
    // On the heap and set before setjmp, so the error path reads its buffer
    // pointer as the callbacks left it.
    kith_jpeg_destination *destination = calloc(1, sizeof *destination);
    size_t first = max_size < KITH_JPEG_FIRST_BUFFER ? max_size : KITH_JPEG_FIRST_BUFFER;
    if (destination == NULL || first == 0 || (destination->buffer = malloc(first)) == NULL) {
        free(destination);
        kith_set_error(error, error_size, "", first == 0 ? "no room for the output" : "out of memory");
        return KITH_IMAGE_ERROR;
    }
    destination->capacity = first;
    // libjpeg asks for room as soon as the buffer is full, even after its
    // last byte: one byte of slack lets an output of exactly max_size fit.
    destination->limit = max_size + 1;
    destination->base.init_destination = kith_jpeg_start_output;
    destination->base.empty_output_buffer = kith_jpeg_grow_output;
    destination->base.term_destination = kith_jpeg_end_output;
    struct jpeg_compress_struct cinfo;
    kith_jpeg_error e;
    cinfo.err = &e.base;
    kith_jpeg_errors(&e.base, &e, error, error_size);
    if (setjmp(e.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(destination->buffer);
        free(destination);
        return e.over_limit ? KITH_IMAGE_TOO_LARGE : KITH_IMAGE_ERROR;
    }
    jpeg_create_compress(&cinfo);
    cinfo.dest = &destination->base;
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.optimize_coding = TRUE;
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    size_t size = destination->capacity - destination->base.free_in_buffer;
    uint8_t *buffer = destination->buffer;
    free(destination);
    if (size > max_size) {
        free(buffer);
        return KITH_IMAGE_TOO_LARGE;
    }
    *out = buffer;
    *out_size = size;
    return KITH_IMAGE_OK;
}
