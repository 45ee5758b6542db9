/* fuzz_ini.c - the INI settings readers of `vdit train` and `vdit vae
 * train` (lib/settings.c on inih, each with its key table and checks:
 * vdit_train_settings_load, vdit_vae_settings_load) and what a run keeps
 * of them, each given the same file. */
#include "fuzz.h"
#include "vdit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    fuzz_file("in.ini", data, size, path, sizeof path);
    vdit_err err;
    vdit_train_settings ts;
    int rc = vdit_train_settings_load(&ts, path, &err);
    fuzz_note("train ini", rc, err.msg);
    if (rc == 0) {
        char *text = vdit_train_settings_text(&ts, "data", NULL); /* the resolved config.ini a run writes */
        free(text);
    }
    vdit_vae_settings vs;
    rc = vdit_vae_settings_load(&vs, path, &err);
    fuzz_note("vae ini", rc, err.msg);
    if (rc == 0) {
        char *json = vdit_vae_settings_json(&vs, "data", 16, 0, 0.0, 0.0); /* as kept in the checkpoint */
        free(json);
    }
    return 0;
}
