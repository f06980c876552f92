/* fuzz_job.c - job_parse() on arbitrary job hashes.
 *
 * The input is a job hash as NUL-separated name/value pairs (what the
 * start script hands the supervisor). Whatever the bytes, job_parse must
 * return a job or -EINVAL with a message, never crash, leak or read out of
 * bounds. Built with libFuzzer by `make fuzz`; the corpus is replayed by
 * `make test` (replay.c). */
#include "job.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct job_policy policy = {
        .time_ms_default = 1000, .time_ms_max = 5000,
        .memory_mb_default = 64, .memory_mb_max = 256,
        .output_kb_default = 16, .output_kb_max = 64,
        .code_max_bytes = 4096, .args_max_bytes = 1u << 20,
        .result_ttl_default = 60, .result_ttl_max = 3600,
        .max_attempts_default = 3,
    };
    struct job_field fields[MAX_FIELDS];
    char *copy = malloc(size + 1);
    size_t n = 0, pos = 0;
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    while (pos < size && n < MAX_FIELDS) {
        const char *name = copy + pos;
        size_t name_len = strnlen(name, size - pos);
        pos += name_len + 1;
        if (pos > size)
            break;
        const char *value = copy + pos;
        size_t value_len = strnlen(value, size - pos);
        pos += value_len + 1;
        fields[n++] = (struct job_field){name, value, value_len};
    }
    struct job *job = NULL;
    char *error = NULL;
    int r = job_parse(fields, n, &policy, &job, &error);
    if (r == 0)
        job_free(job);
    else if (r == -EINVAL && !error)
        abort(); /* an invalid job always says why */
    free(error);
    free(copy);
    return 0;
}
