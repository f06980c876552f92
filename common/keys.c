/* keys.c - key names (see keys.h). */
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>

char *keys_make(const char *prefix, const char *kind, const char *name)
{
    char *key = NULL;
    int n = name ? asprintf(&key, "%s:%s:%s", prefix, kind, name)
                 : asprintf(&key, "%s:%s", prefix, kind);
    return n < 0 ? NULL : key;
}
