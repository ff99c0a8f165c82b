// WebP through libwebp's simple decoding API (still images only).
#include "common.h"
#include <webp/decode.h>

int kith_decode_webp(const uint8_t *data, size_t size, kith_limits limits, kith_decoded *out) {
    memset(out, 0, sizeof *out);
    WebPBitstreamFeatures features;
    VP8StatusCode status = WebPGetFeatures(data, size, &features);
    if (status != VP8_STATUS_OK) {
        kith_set_error(out->error, sizeof out->error, "",
                       status == VP8_STATUS_NOT_ENOUGH_DATA ? "truncated" : "not a WebP image it can read");
        return KITH_IMAGE_ERROR;
    }
    if (features.width < 1 || features.height < 1) {
        kith_set_error(out->error, sizeof out->error, "", "no width or height");
        return KITH_IMAGE_ERROR;
    }
    out->full_width = (uint32_t)features.width;
    out->full_height = (uint32_t)features.height;
    if (!kith_within_limits(out->full_width, out->full_height, limits)) return KITH_IMAGE_TOO_LARGE;
    if (features.has_animation) {
        kith_set_error(out->error, sizeof out->error, "", "animated WebP is not supported");
        return KITH_IMAGE_ERROR;
    }
    size_t count = (size_t)out->full_width * out->full_height;
    uint8_t *rgb = malloc(count * 4);
    if (rgb == NULL) {
        kith_set_error(out->error, sizeof out->error, "", "out of memory");
        return KITH_IMAGE_ERROR;
    }
    if (WebPDecodeRGBAInto(data, size, rgb, count * 4, (int)out->full_width * 4) == NULL) {
        free(rgb);
        kith_set_error(out->error, sizeof out->error, "", "corrupt or truncated image data");
        return KITH_IMAGE_ERROR;
    }
    kith_rgba_over_white(rgb, count);
    out->pixels = rgb;
    out->width = out->full_width;
    out->height = out->full_height;
    return KITH_IMAGE_OK;
}
