/* image.c - pictures: PNG frames (libpng), animated GIF videos (giflib) and
 * contact sheets of frames, for looking at data and samples.
 *
 * Both writers encode into memory and hand the bytes to
 * vdit_write_file_atomic, so a picture appears whole or not at all.
 *
 * GIFs use one fixed palette for every frame (no per-frame quantisation, so
 * no palette flicker and the same frames always give the same bytes): the
 * 6x6x6 colour cube, plus ramps from white to the benchmark's red, blue and
 * grey, which are the colours the anti-aliased edges of our videos are made
 * of. Each pixel maps to its nearest palette entry (squared RGB distance),
 * looked up in a 32x32x32 table built once.
 */
#define _POSIX_C_SOURCE 200809L

#include "vdit.h"

#include <gif_lib.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * PNG
 * ---------------------------------------------------------------------- */

int vdit_png_write(const char *path, const uint8_t *rgb, int H, int W, vdit_err *err)
{
    if (!path) return vdit_seterr(err, "(null): no path given");
    if (!rgb || H < 1 || W < 1 || H > 65535 || W > 65535)
        return vdit_seterr(err, "%s: bad image %dx%d (1..65535 each, data required)", path, H, W);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)W;
    im.height = (png_uint_32)H;
    im.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&im, NULL, &size, 0, rgb, 0, NULL))
        return vdit_seterr(err, "%s: cannot encode the PNG: %s", path, im.message);
    void *buf = malloc(size);
    if (!buf) return vdit_seterr(err, "%s: out of memory for %zu bytes", path, (size_t)size);
    if (!png_image_write_to_memory(&im, buf, &size, 0, rgb, 0, NULL)) {
        free(buf);
        return vdit_seterr(err, "%s: cannot encode the PNG: %s", path, im.message);
    }
    int rc = vdit_write_file_atomic(path, buf, size, err);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------------
 * GIF
 * ---------------------------------------------------------------------- */

static GifColorType palette[256];
static uint8_t lut[32 * 32 * 32]; /* 5 bits per channel -> palette index */

static void palette_build(void)
{
    int n = 0;
    for (int r = 0; r < 6; r++)
        for (int g = 0; g < 6; g++)
            for (int b = 0; b < 6; b++) {
                palette[n].Red = (GifByteType)(51 * r);
                palette[n].Green = (GifByteType)(51 * g);
                palette[n].Blue = (GifByteType)(51 * b);
                n++;
            }
    /* 40 more: white -> red, white -> blue, white -> grey 128 and on to
     * black, at levels the cube does not have */
    for (int k = 0; k < 13; k++) {
        int v = 255 - (k + 1) * 255 / 14; /* 236 .. 37 */
        if (v % 51 == 0) v += 8;
        palette[n++] = (GifColorType){255, (GifByteType)v, (GifByteType)v};
        palette[n++] = (GifColorType){(GifByteType)v, (GifByteType)v, 255};
    }
    for (int k = 0; n < 256; k++) {
        int v = 128 + (k - 6) * 9; /* greys around 128 */
        if (v < 0) v = 0;
        if (v > 255) v = 255;
        palette[n++] = (GifColorType){(GifByteType)v, (GifByteType)v, (GifByteType)v};
    }
    palette[255] = (GifColorType){128, 128, 128}; /* the walls' grey, exactly */
    for (int i = 0; i < 32 * 32 * 32; i++) {
        int r = ((i >> 10) & 31) * 255 / 31, g = ((i >> 5) & 31) * 255 / 31, b = (i & 31) * 255 / 31;
        int best = 0;
        long bd = -1;
        for (int p = 0; p < 256; p++) {
            long dr = r - palette[p].Red, dg = g - palette[p].Green, db = b - palette[p].Blue;
            long d = dr * dr + dg * dg + db * db;
            if (bd < 0 || d < bd) {
                bd = d;
                best = p;
            }
        }
        lut[i] = (uint8_t)best;
    }
}

/* Exact colours of the benchmark map to themselves, not via the table. */
static uint8_t palette_index(const uint8_t *px)
{
    if (px[0] == 255 && px[1] == 255 && px[2] == 255) return 5 * 36 + 5 * 6 + 5;
    if (px[0] == 255 && px[1] == 0 && px[2] == 0) return 5 * 36;
    if (px[0] == 0 && px[1] == 0 && px[2] == 255) return 5;
    if (px[0] == 128 && px[1] == 128 && px[2] == 128) return 255;
    return lut[(px[0] >> 3) << 10 | (px[1] >> 3) << 5 | (px[2] >> 3)];
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} membuf;

static int gif_out(GifFileType *gif, const GifByteType *data, int len)
{
    membuf *m = gif->UserData;
    if (len <= 0) return len;
    if (m->n + (size_t)len > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1 << 16;
        while (cap < m->n + (size_t)len) cap *= 2;
        unsigned char *p = realloc(m->p, cap);
        if (!p) {
            m->oom = 1;
            return 0;
        }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)len);
    m->n += (size_t)len;
    return len;
}

int vdit_gif_write(const char *path, const uint8_t *frames, int T, int H, int W, int delay_cs, vdit_err *err)
{
    if (!path) return vdit_seterr(err, "(null): no path given");
    if (!frames || T < 1 || H < 1 || W < 1 || H > 65535 || W > 65535)
        return vdit_seterr(err, "%s: bad video %dx%dx%d (frames and sizes 1..65535 required)", path, T, H, W);
    if (delay_cs < 0 || delay_cs > 65535)
        return vdit_seterr(err, "%s: frame delay %d outside 0..65535 hundredths of a second", path, delay_cs);
    static int built = 0;
#pragma omp critical(vdit_gif_palette)
    {
        if (!built) palette_build();
        built = 1;
    }
    membuf m = {0};
    int gerr = 0;
    GifFileType *gif = EGifOpen(&m, gif_out, &gerr);
    if (!gif) {
        const char *why = GifErrorString(gerr); /* NULL for codes giflib has no words for */
        return vdit_seterr(err, "%s: cannot start a GIF: %s", path, why ? why : "giflib error");
    }
    ColorMapObject *cmap = GifMakeMapObject(256, palette);
    GifByteType *line = malloc((size_t)W);
    const char *what = NULL;
    if (!cmap || !line) what = "out of memory";
    if (!what) {
        EGifSetGifVersion(gif, true);
        if (EGifPutScreenDesc(gif, W, H, 8, 0, cmap) != GIF_OK) what = "cannot write the screen descriptor";
    }
    /* NETSCAPE2.0: loop forever */
    static const GifByteType loop[3] = {1, 0, 0};
    if (!what && (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) != GIF_OK ||
                  EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") != GIF_OK ||
                  EGifPutExtensionBlock(gif, 3, loop) != GIF_OK || EGifPutExtensionTrailer(gif) != GIF_OK))
        what = "cannot write the loop extension";
    for (int t = 0; t < T && !what; t++) {
        GraphicsControlBlock gcb = {DISPOSAL_UNSPECIFIED, false, delay_cs, NO_TRANSPARENT_COLOR};
        GifByteType ext[4];
        EGifGCBToExtension(&gcb, ext);
        if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) != GIF_OK ||
            EGifPutImageDesc(gif, 0, 0, W, H, false, NULL) != GIF_OK) {
            what = "cannot write a frame header";
            break;
        }
        const uint8_t *f = frames + (size_t)t * H * W * 3;
        for (int y = 0; y < H && !what; y++) {
            for (int x = 0; x < W; x++) line[x] = palette_index(f + ((size_t)y * W + x) * 3);
            if (EGifPutLine(gif, line, W) != GIF_OK) what = "cannot write a frame";
        }
    }
    int cerr = 0;
    if (EGifCloseFile(gif, &cerr) != GIF_OK && !what) what = "cannot finish the GIF";
    GifFreeMapObject(cmap);
    free(line);
    if (m.oom && !what) what = "out of memory";
    if (what) {
        free(m.p);
        return vdit_seterr(err, "%s: %s", path, what);
    }
    int rc = vdit_write_file_atomic(path, m.p, m.n, err);
    free(m.p);
    return rc;
}

/* ------------------------------------------------------------------------
 * Contact sheets
 * ---------------------------------------------------------------------- */

int vdit_contact_sheet(uint8_t **out, int *outH, int *outW, const uint8_t *frames, int R, int T, int H, int W,
                       int scale, int gap)
{
    if (!out || !outH || !outW) return -1;
    *out = NULL;
    *outH = *outW = 0;
    if (!frames || R < 1 || T < 1 || H < 1 || W < 1 || scale < 1 || gap < 0 || scale > 64 || gap > 1024) return -1;
    long long oh = gap + (long long)R * ((long long)H * scale + gap);
    long long ow = gap + (long long)T * ((long long)W * scale + gap);
    if (oh > 65535 || ow > 65535) return -1;
    uint8_t *img = malloc((size_t)(oh * ow * 3));
    if (!img) return -1;
    memset(img, 255, (size_t)(oh * ow * 3));
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) {
            const uint8_t *f = frames + ((size_t)r * T + t) * H * W * 3;
            long long y0 = gap + (long long)r * (H * scale + gap), x0 = gap + (long long)t * (W * scale + gap);
            for (int y = 0; y < H * scale; y++) {
                uint8_t *dst = img + ((y0 + y) * ow + x0) * 3;
                const uint8_t *src = f + (size_t)(y / scale) * W * 3;
                for (int x = 0; x < W * scale; x++) memcpy(dst + 3 * x, src + 3 * (x / scale), 3);
            }
        }
    *out = img;
    *outH = (int)oh;
    *outW = (int)ow;
    return 0;
}
