// The image libraries Kith decodes and encodes photos with (Debian:
// libjpeg62-turbo-dev, libpng-dev, libwebp-dev). Only KithImage imports them.
#include <stdio.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>
