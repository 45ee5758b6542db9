/* fuzz_npz.c - the NPZ (zip) reader: the member list, then every member
 * it names and one it does not. */
#include "fuzz.h"
#include "vdit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    fuzz_file("in", data, size, path, sizeof path);
    vdit_err err;
    vdit_array a;
    char **names;
    int n;
    if (vdit_npz_names(path, &names, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            int rc = vdit_npz_read(path, names[i], &a, &err);
            fuzz_note(names[i], rc, err.msg);
            if (rc == 0) {
                for (size_t j = 0; j < a.nbytes; j++) fuzz_sink ^= ((const uint8_t *)a.data)[j];
                vdit_array_free(&a);
            }
        }
        vdit_npz_names_free(names, n);
    }
    if (vdit_npz_read(path, "videos", &a, &err) == 0) vdit_array_free(&a);
    return 0;
}
