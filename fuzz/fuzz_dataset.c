/* fuzz_dataset.c - the dataset reader (vdit_dataset_load). An input is a
 * whole dataset in one file: meta.json up to the first newline, then the
 * bytes of data.npz (fuzz/seeds.sh makes them from real datasets). */
#include "fuzz.h"
#include "vdit.h"
#include "datasets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
    size_t msize = nl ? (size_t)(nl - data) : size;
    char path[300];
    fuzz_file("meta.json", data, msize, path, sizeof path);
    fuzz_file("data.npz", nl ? nl + 1 : data, nl ? size - msize - 1 : 0, path, sizeof path);
    vdit_err err;
    vdit_dataset ds;
    int rc = vdit_dataset_load(fuzz_dir(), &ds, &err);
    fuzz_note("dataset_load", rc, err.msg);
    if (rc == 0) {
        for (size_t i = 0; i < ds.videos.nbytes; i++) fuzz_sink ^= ((const uint8_t *)ds.videos.data)[i];
        for (int i = 0; i < ds.count; i++) fuzz_sink ^= (uint8_t)strlen(ds.captions[i]);
        vdit_dataset_free(&ds);
    }
    return 0;
}
