/* layers.c - layer names, the refusal rule and the layer table (see
 * layers.h). */
#include "layers.h"

#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define N_NAMES (sizeof(zlayer_names) / sizeof(zlayer_names[0]))

static uint32_t bit_of(const char *name, size_t len)
{
    if (len == strlen("namespaces") && memcmp(name, "namespaces", len) == 0)
        return ZLAYER_NAMESPACES;
    for (size_t i = 0; i < N_NAMES; i++)
        if (strlen(zlayer_names[i].name) == len &&
            memcmp(zlayer_names[i].name, name, len) == 0)
            return zlayer_names[i].bit;
    return 0;
}

int layers_parse(const char *list, uint32_t *ret, const char **ret_bad)
{
    uint32_t bits = 0;
    const char *p = list ? list : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            uint32_t b = bit_of(p, len);
            if (!b) {
                *ret_bad = p;
                return -EINVAL;
            }
            bits |= b;
        }
        p += len + (p[len] == ',');
    }
    *ret = bits;
    return 0;
}

void layers_format(uint32_t bits, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_NAMES && used < len; i++)
        if (bits & zlayer_names[i].bit)
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     used ? "," : "", zlayer_names[i].name);
}

/* "rlimits" covers the memory rlimit too, in both lists (as in the
 * zygote). */
static uint32_t widen(uint32_t bits)
{
    return bits & ZLAYER_RLIMITS ? bits | ZLAYER_MEMORY_RLIMIT : bits;
}

uint32_t layers_refused(const struct layers_state *st)
{
    uint32_t missing = LAYERS_ALL & ~st->active;
    return missing & ~widen(st->allowed_missing) & ~widen(st->disabled);
}

/* The zygote's note for one layer: the text after "<name>: " up to ';'. */
static void note_for(const struct layers_state *st, const char *name,
                     char *buf, size_t len)
{
    char key[40];
    snprintf(key, sizeof(key), "%s: ", name);
    const char *n = st->notes ? strstr(st->notes, key) : NULL;
    if (!n) {
        snprintf(buf, len, "not reported by the zygote");
        return;
    }
    n += strlen(key);
    size_t k = strcspn(n, ";");
    snprintf(buf, len, "%.*s", (int)k, n);
}

static const char *state_of(const struct layers_state *st, uint32_t bit)
{
    if (st->active & bit)
        return "active";
    if (widen(st->disabled) & bit)
        return "DISABLED (test)";
    if (widen(st->allowed_missing) & bit)
        return "MISSING (allowed)";
    return "MISSING";
}

static void describe(const struct layers_state *st, size_t i, char *buf,
                     size_t len)
{
    const struct zlayer_name *l = &zlayer_names[i];
    if (st->active & l->bit)
        snprintf(buf, len, "%s", l->what);
    else if (l->bit == ZLAYER_CGROUP && st->cgroup_note)
        snprintf(buf, len, "%s", st->cgroup_note);
    else
        note_for(st, l->name, buf, len);
}

void layers_print_table(FILE *out, const struct layers_state *st)
{
    char why[400];
    fprintf(out, "%-14s %-18s %s\n", "layer", "state", "what / why");
    for (size_t i = 0; i < N_NAMES; i++) {
        describe(st, i, why, sizeof(why));
        fprintf(out, "%-14s %-18s %s\n", zlayer_names[i].name,
                state_of(st, zlayer_names[i].bit), why);
    }
}

void layers_log(const struct layers_state *st)
{
    char why[400];
    for (size_t i = 0; i < N_NAMES; i++) {
        bool on = st->active & zlayer_names[i].bit;
        describe(st, i, why, sizeof(why));
        if (on)
            log_info("sandbox layer %-13s active: %s", zlayer_names[i].name, why);
        else
            log_warn("sandbox layer %-13s %s: %s", zlayer_names[i].name,
                     state_of(st, zlayer_names[i].bit), why);
    }
}
