// Makes the pixels of the KithImageTests fixtures (see README.md):
// a colour per quadrant, so a test can tell which way up a thumbnail is.
//   cc make-fixtures.c -o make-fixtures -ljpeg -lpng16 -lwebp && ./make-fixtures
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

static const unsigned char colours[4][3] = {
    {220, 30, 30},   // top left: red
    {30, 200, 40},   // top right: green
    {30, 40, 220},   // bottom left: blue
    {240, 220, 20},  // bottom right: yellow
};

static unsigned char *quadrants(int width, int height, int channels) {
    unsigned char *p = malloc((size_t)width * height * channels);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            int q = (y >= height / 2) * 2 + (x >= width / 2);
            unsigned char *d = p + ((size_t)y * width + x) * channels;
            for (int c = 0; c < 3; c++) d[c] = colours[q][c];
            // The bottom-right quadrant of the RGBA image is transparent.
            if (channels == 4) d[3] = q == 3 ? 0 : 255;
        }
    return p;
}

static void jpeg(const char *path, int width, int height) {
    unsigned char *p = quadrants(width, height, 3);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    jpeg_stdio_dest(&c, f);
    c.image_width = width; c.image_height = height; c.input_components = 3; c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 75, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = p + (size_t)c.next_scanline * width * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
    free(p);
}

static void png(const char *path, int width, int height) {
    unsigned char *p = quadrants(width, height, 4);
    png_image image = { .version = PNG_IMAGE_VERSION, .width = width, .height = height, .format = PNG_FORMAT_RGBA };
    png_image_write_to_file(&image, path, 0, p, 0, NULL);
    free(p);
}

static void webp(const char *path, int width, int height) {
    unsigned char *p = quadrants(width, height, 3), *out = NULL;
    size_t size = WebPEncodeRGB(p, width, height, width * 3, 90, &out);
    FILE *f = fopen(path, "wb");
    fwrite(out, 1, size, f);
    fclose(f);
    WebPFree(out);
    free(p);
}

int main(void) {
    jpeg("phone.jpg", 1200, 900);
    png("photo.png", 300, 200);
    webp("photo.webp", 300, 200);
    return 0;
}
