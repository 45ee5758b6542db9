/* ini_train.c - `vdit train`'s settings reader (static in src/cmd_train.c)
 * made callable by the INI fuzz target: the file is compiled in whole. */
#include "../src/cmd_train.c"

int fuzz_train_ini(const char *path);
int fuzz_train_ini(const char *path)
{
    train_settings s;
    if (settings_load(&s, path)) return -1;
    char *text = settings_text(&s, "data", NULL); /* the resolved config.ini a run writes */
    if (!text) return -1;
    free(text);
    return 0;
}
