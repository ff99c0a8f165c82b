// Shared by the decoders of KithImageC (not part of its public header).
#ifndef KITH_IMAGE_COMMON_H
#define KITH_IMAGE_COMMON_H

#include "KithImageC.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// Writes a message into a decoder's error field.
static inline void kith_set_error(char *error, size_t size, const char *prefix, const char *message) {
    snprintf(error, size, "%s%s", prefix, message);
}

/// Whether width x height is within the limits (checked before any decoding).
static inline int kith_within_limits(uint64_t width, uint64_t height, kith_limits limits) {
    return width >= 1 && height >= 1 && width <= limits.max_side && height <= limits.max_side
        && width * height <= limits.max_pixels;
}

/// Composites packed RGBA over white into packed RGB, in place.
static inline void kith_rgba_over_white(uint8_t *pixels, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const uint8_t *s = pixels + 4 * i;
        uint8_t *d = pixels + 3 * i;
        unsigned a = s[3];
        unsigned r = (s[0] * a + 255 * (255 - a) + 127) / 255;
        unsigned g = (s[1] * a + 255 * (255 - a) + 127) / 255;
        unsigned b = (s[2] * a + 255 * (255 - a) + 127) / 255;
        d[0] = (uint8_t)r; d[1] = (uint8_t)g; d[2] = (uint8_t)b;
    }
}

#endif
