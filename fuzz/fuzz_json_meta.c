/* fuzz_json_meta.c - the JSON metadata readers: the DiT config and the VAE
 * config (as kept in checkpoint metadata) and a dataset's meta.json (read
 * by vdit_dataset_load beside an empty data.npz: every meta.json check comes
 * before the archive is opened; fuzz_dataset covers the two together). The
 * first byte picks the reader; the rest is the document. */
#include "fuzz.h"
#include "vdit.h"
#include "datasets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] % 3;
    data++, size--;
    vdit_err err;
    char path[300];
    if (which < 2) {
        char *s = malloc(size + 1); /* the readers take a NUL-terminated string */
        if (!s) return 0;
        memcpy(s, data, size);
        s[size] = 0;
        if (which == 0) {
            vdit_dit_config c;
            int rc = vdit_dit_config_from_json(&c, s, "fuzz", &err);
            fuzz_note("dit_config", rc, err.msg);
            if (rc == 0) {
                char *back = vdit_dit_config_to_json(&c);
                vdit_dit_config c2;
                if (!back || vdit_dit_config_from_json(&c2, back, "fuzz", &err) || memcmp(&c, &c2, sizeof c))
                    abort(); /* what we write we must read back */
                free(back);
                (void)vdit_dit_num_params(&c);
            }
        } else {
            vdit_vae_config c;
            int rc = vdit_vae_config_from_json(&c, s, "fuzz", &err);
            fuzz_note("vae_config", rc, err.msg);
            if (rc == 0) {
                char *back = vdit_vae_config_to_json(&c);
                vdit_vae_config c2;
                if (!back || vdit_vae_config_from_json(&c2, back, "fuzz", &err) || memcmp(&c, &c2, sizeof c))
                    abort();
                free(back);
            }
        }
        free(s);
        return 0;
    }
    fuzz_file("meta.json", data, size, path, sizeof path);
    fuzz_file("data.npz", NULL, 0, path, sizeof path);
    vdit_dataset ds;
    int rc = vdit_dataset_load(fuzz_dir(), &ds, &err);
    fuzz_note("dataset_load", rc, err.msg);
    if (rc == 0) vdit_dataset_free(&ds);
    return 0;
}
