/* show.c - one video of a dataset as a picture to look at: an animated GIF
 * or a PNG contact sheet of its frames (`vdit data show`). */
#include "datasets.h"

#include <stdlib.h>
#include <string.h>

/* frames[T][S][S][3] upscaled K times, nearest neighbour, as one GIF */
static int write_gif(const char *path, const uint8_t *v, int T, int S, int K, vdit_err *err)
{
    int Sz = S * K;
    uint8_t *big = malloc((size_t)T * Sz * Sz * 3);
    if (!big) return vdit_seterr(err, "out of memory");
    for (int t = 0; t < T; t++)
        for (int y = 0; y < Sz; y++)
            for (int x = 0; x < Sz; x++)
                memcpy(big + (((size_t)t * Sz + y) * Sz + x) * 3, v + (((size_t)t * S + y / K) * S + x / K) * 3, 3);
    int rc = vdit_gif_write(path, big, T, Sz, Sz, 10, err); /* 0.1 s a frame: real time */
    free(big);
    return rc;
}

/* frames[T][S][S][3] as a contact sheet, per_row frames a row (white after the last) */
static int write_sheet(const char *path, const uint8_t *v, int T, int S, int K, int per_row, vdit_err *err)
{
    int R = (T + per_row - 1) / per_row, C = T < per_row ? T : per_row;
    size_t F = (size_t)S * S * 3;
    uint8_t *grid = malloc((size_t)R * C * F), *sheet = NULL;
    int sh, sw, rc;
    if (!grid) return vdit_seterr(err, "out of memory");
    memset(grid, 255, (size_t)R * C * F);
    memcpy(grid, v, (size_t)T * F);
    if (vdit_contact_sheet(&sheet, &sh, &sw, grid, R, C, S, S, K > 4 ? 4 : K, 2) == 0)
        rc = vdit_png_write(path, sheet, sh, sw, err);
    else
        rc = vdit_seterr(err, "%s: cannot lay out the contact sheet", path);
    free(grid);
    free(sheet);
    return rc;
}

int vdit_dataset_show(const vdit_dataset *ds, int index, int take2, int sheet, int scale, int per_row,
                      const char *path, vdit_err *err)
{
    if (index < 0 || index >= ds->count) return vdit_seterr(err, "video %d of %d", index, ds->count);
    if (take2 && !ds->videos_take2.data) return vdit_seterr(err, "no second take");
    if (scale < 0 || per_row < 1) return vdit_seterr(err, "scale %d, %d frames a row", scale, per_row);
    int T = ds->frames, S = ds->size;
    if (!scale) scale = S >= 128 ? 1 : (128 + S - 1) / S;
    const uint8_t *v = (const uint8_t *)(take2 ? ds->videos_take2.data : ds->videos.data) + (size_t)index * T * S * S * 3;
    return sheet ? write_sheet(path, v, T, S, scale, per_row, err) : write_gif(path, v, T, S, scale, err);
}
