/* fuzz_ini.c - the INI settings readers of `vdit train` and `vdit vae
 * train` (inih plus each command's key table and checks), each given the
 * same file. */
#include "fuzz.h"

int fuzz_train_ini(const char *path);
int fuzz_vae_ini(const char *path);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    fuzz_file("in.ini", data, size, path, sizeof path);
    fuzz_note("train ini", fuzz_train_ini(path), "refused");
    fuzz_note("vae ini", fuzz_vae_ini(path), "refused");
    return 0;
}
