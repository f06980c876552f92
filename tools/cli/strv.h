/* strv.h - a growable, sortable list of owned strings (queue and worker
 * names gathered from several Redis keys). */
#ifndef SANDQ_CLI_STRV_H
#define SANDQ_CLI_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct strv {
    char **v;
    size_t n, cap;
};

/* Append a copy of len bytes of s unless already present. 0 or -ENOMEM. */
int strv_add_unique(struct strv *l, const char *s, size_t len);

bool strv_contains(const struct strv *l, const char *s);

/* Sort in byte order, for stable output. */
void strv_sort(struct strv *l);

/* Free the strings and the array; the struct may be reused after. */
void strv_release(struct strv *l);

static inline void cleanup_strv(struct strv *l) { strv_release(l); }
#define _cleanup_strv_ __attribute__((cleanup(cleanup_strv)))

#endif
