/* ini_vae.c - `vdit vae train`'s settings reader (static in src/cmd_vae.c)
 * made callable by the INI fuzz target: the file is compiled in whole. */
#include "../src/cmd_vae.c"

int fuzz_vae_ini(const char *path);
int fuzz_vae_ini(const char *path)
{
    vae_settings s;
    if (settings_load(&s, path)) return -1;
    char *j = settings_json(&s, "data", 16, 0, 0.0, 0.0); /* as kept in the checkpoint */
    free(j);
    return 0;
}
