/* fuzz_outcome.c - outcome_from_child() on arbitrary result-pipe bytes.
 *
 * Everything a job child writes is untrusted (a job that escaped the
 * language layer controls its fd 1). The first 4 bytes pick the wait
 * status and the kill reason; the rest is the pipe's content. The outcome
 * must always get a PROTOCOL.md status, without crash or leak. */
#include "outcome.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t head[4] = {0};
    memcpy(head, data, size < 4 ? size : 4);
    struct child_end end = {
        .wait_status = head[0] < 128 ? head[0] << 8 : head[0] & 0x7f,
        .reaped = (head[1] & 1) != 0,
        .reason = (enum kill_reason)(head[2] % 6),
        .time_limit_ms = 1000, .cpu_limit_ms = 1000,
        .output_cap_bytes = 65536, .cpu_ms = head[3] * 10u,
    };
    struct outcome o = {0};
    const char *frames = size > 4 ? (const char *)data + 4 : "";
    if (outcome_from_child(&o, frames, size > 4 ? size - 4 : 0, &end) == 0 &&
        (!o.status || !outcome_status_is_final(o.status)))
        abort();
    outcome_release(&o);
    return 0;
}
