/* ini_vae.c - `vdit vae train`'s settings reader (src/vae_settings.c) for
 * the INI fuzz target. */
#include <stdlib.h>

#include "vae_settings.h"

int fuzz_vae_ini(const char *path);
int fuzz_vae_ini(const char *path)
{
    vae_settings s;
    if (vae_settings_load(&s, path)) return -1;
    char *j = vae_settings_json(&s, "data", 16, 0, 0.0, 0.0); /* as kept in the checkpoint */
    free(j);
    return 0;
}
