/* ini_train.c - `vdit train`'s settings reader (src/train_settings.c)
 * as the INI fuzz target calls it. */
#include <stdlib.h>

#include "train_settings.h"

int fuzz_train_ini(const char *path);
int fuzz_train_ini(const char *path)
{
    train_settings s;
    if (train_settings_load(&s, path)) return -1;
    char *text = train_settings_text(&s, "data", NULL); /* the resolved config.ini a run writes */
    if (!text) return -1;
    free(text);
    return 0;
}
