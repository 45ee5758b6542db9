/* fuzz_safetensors.c - the safetensors reader and the three checkpoint
 * loaders on top of it: vdit_st_read, vdit_dit_load, vdit_vae_load and
 * vdit_trainer_load_state (into a trainer made for the config the file
 * names, when the file is large enough to hold that trainer's state). */
#include "fuzz.h"
#include "vdit.h"

static vdit_trainer tr;
static vdit_dit_config tr_cfg;
static int have_tr;

static void state_load(const char *path, size_t size)
{
    vdit_st_file f;
    vdit_err err;
    if (vdit_st_read(path, &f, &err)) return;
    const char *cfgjson = vdit_st_meta(&f, "config");
    vdit_dit_config cfg;
    int ok = cfgjson && !vdit_dit_config_from_json(&cfg, cfgjson, path, &err);
    vdit_st_free(&f);
    /* a state holds 4 copies of the parameters: make a trainer only for a
     * config whose state could fit in this file */
    if (!ok || vdit_dit_num_params(&cfg) > size / 16) return;
    if (!have_tr || memcmp(&cfg, &tr_cfg, sizeof cfg)) {
        if (have_tr) vdit_trainer_free(&tr);
        have_tr = 0;
        vdit_train_config tc;
        vdit_train_config_default(&tc);
        tc.batch = 1;
        tc.context_frames = 0;
        tc.context_probs[0] = 1.0f;
        if (vdit_trainer_create(&tr, &cfg, &tc, 1, &err)) return;
        tr_cfg = cfg;
        have_tr = 1;
    }
    fuzz_note("trainer_load_state", vdit_trainer_load_state(&tr, path, &err), err.msg);
}

static void free_trainer(void)
{
    if (have_tr) vdit_trainer_free(&tr);
    have_tr = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) registered = !atexit(free_trainer);
    char path[300];
    fuzz_file("in", data, size, path, sizeof path);
    vdit_err err;
    vdit_st_file f;
    int rc = vdit_st_read(path, &f, &err);
    fuzz_note("st_read", rc, err.msg);
    if (rc == 0) {
        for (int i = 0; i < f.ntensors; i++) { /* touch every tensor's bytes */
            for (int64_t j = 0; j < f.tensors[i].numel; j++) fuzz_sink ^= (uint8_t)(f.tensors[i].data[j] > 0);
            (void)vdit_st_find(&f, f.tensors[i].name);
        }
        (void)vdit_st_meta(&f, "config");
        vdit_st_free(&f);
    }
    vdit_dit m;
    rc = vdit_dit_load(&m, path, &err);
    fuzz_note("dit_load", rc, err.msg);
    if (rc == 0) vdit_dit_free(&m);
    vdit_vae v;
    rc = vdit_vae_load(&v, path, &err);
    fuzz_note("vae_load", rc, err.msg);
    if (rc == 0) vdit_vae_free(&v);
    state_load(path, size);
    return 0;
}
