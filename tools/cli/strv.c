/* strv.c - list of owned strings (see strv.h). */
#include "strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool strv_contains(const struct strv *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

int strv_add_unique(struct strv *l, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    if (!copy)
        return -ENOMEM;
    if (strv_contains(l, copy)) {
        free(copy);
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            free(copy);
            return -ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = copy;
    return 0;
}

/* qsort comparator over char * elements. */
static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), compare);
}

void strv_release(struct strv *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
