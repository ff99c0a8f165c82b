// Decoding and encoding through libjpeg-turbo, libpng and libwebp, for
// KithImage. libjpeg and libpng report errors by longjmp, which Swift cannot
// catch, so the calls into them live here, each behind a setjmp.
#ifndef KITH_IMAGE_C_H
#define KITH_IMAGE_C_H

#include <stddef.h>
#include <stdint.h>

enum {
    KITH_IMAGE_OK = 0,
    /// The library refused the data: `error` says why.
    KITH_IMAGE_ERROR = 1,
    /// The header's width x height is over the limit: `full_width` and
    /// `full_height` say what it claims; nothing was decoded.
    KITH_IMAGE_TOO_LARGE = 2,
};

/// A decoded image: 8-bit RGB, 3 bytes a pixel, rows packed, alpha already
/// composited over white.
typedef struct {
    /// Free with kith_image_free.
    uint8_t *pixels;
    /// Of `pixels` (a JPEG may be decoded at a reduced scale).
    uint32_t width, height;
    /// As the file's header has them.
    uint32_t full_width, full_height;
    char error[160];
} kith_decoded;

/// Limits every decoder applies to the header before it decodes anything.
typedef struct {
    uint64_t max_pixels;
    uint32_t max_side;
    /// A JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) whose longer
    /// side is still at least this (or the full size if that is smaller).
    uint32_t min_longer_side;
} kith_limits;

int kith_decode_jpeg(const uint8_t *data, size_t size, kith_limits limits, kith_decoded *out);
int kith_decode_png(const uint8_t *data, size_t size, kith_limits limits, kith_decoded *out);
int kith_decode_webp(const uint8_t *data, size_t size, kith_limits limits, kith_decoded *out);

/// Encodes 8-bit RGB as a baseline JPEG of at most `max_size` bytes: a larger
/// one returns KITH_IMAGE_TOO_LARGE. `*out` is freed with kith_image_free.
int kith_encode_jpeg(const uint8_t *rgb, uint32_t width, uint32_t height, int quality, size_t max_size,
                     uint8_t **out, size_t *out_size, char *error, size_t error_size);

void kith_image_free(void *pointer);

#endif
