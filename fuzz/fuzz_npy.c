/* fuzz_npy.c - the NPY reader: from memory (vdit_npy_parse, as the NPZ
 * reader uses it) and from a file (vdit_npy_read, vdit_npy_read_f32). */
#include "fuzz.h"
#include "vdit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vdit_err err;
    vdit_array a;
    int rc = vdit_npy_parse(data, size, "fuzz.npy", &a, &err);
    fuzz_note("npy_parse", rc, err.msg);
    if (rc == 0) {
        for (size_t i = 0; i < a.nbytes; i++) fuzz_sink ^= ((const uint8_t *)a.data)[i];
        if ((size_t)vdit_array_numel(&a) * vdit_dtype_size(a.dtype) != a.nbytes) abort(); /* the reader's promise */
        vdit_array_free(&a);
    }
    char path[300];
    fuzz_file("in", data, size, path, sizeof path);
    if (vdit_npy_read(path, &a, &err) == 0) vdit_array_free(&a);
    if (vdit_npy_read_f32(path, &a, &err) == 0) {
        if (a.dtype != VDIT_DTYPE_F32 || (size_t)vdit_array_numel(&a) * 4 != a.nbytes) abort();
        vdit_array_free(&a);
    }
    return 0;
}
