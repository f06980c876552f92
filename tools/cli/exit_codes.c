/* exit_codes.c - final status -> exit code (see exit_codes.h). */
#include "exit_codes.h"

#include "cli.h"

#include <string.h>

/* The table of docs/cli.md; the order is the contract's status table, so
 * the codes never move when a status is added at the end. */
static const struct {
    const char *status;
    int code;
} status_codes[] = {
    {"succeeded", 0},     {"failed", 10},       {"rejected", 11},
    {"invalid", 12},      {"timeout", 13},      {"memory_limit", 14},
    {"output_limit", 15}, {"violation", 16},    {"crashed", 17},
    {"lost", 18},         {"canceled", 19},
};

int exit_code_for_status(const char *status)
{
    for (size_t i = 0; status && i < sizeof(status_codes) / sizeof(*status_codes); i++)
        if (strcmp(status, status_codes[i].status) == 0)
            return status_codes[i].code;
    return EXIT_ERROR;
}
