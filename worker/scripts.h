/* scripts.h - the Lua scripts that make each job transition atomic on the
 * Redis side. Each runs as one EVAL: a single round trip and, like
 * MULTI/EXEC, nothing else runs in between. */
#ifndef SANDQ_SCRIPTS_H
#define SANDQ_SCRIPTS_H

/* Mark a taken job running and read its input fields.
 * KEYS: job, processing. ARGV: id, worker, now_ms, queue taken from,
 *       code cap, args cap.
 * Returns nil when the hash is gone (id dropped from processing),
 * {"skip", status} when it is already final (dropped too),
 * {"big", attempts, field, bytes} when a field is over its cap,
 * {"ok", attempts, name, value, ...} otherwise. */
extern const char script_start[];

/* Write a job's outcome if the job is still this worker's attempt.
 * KEYS: job, processing, stats. ARGV: id, worker, attempt, ttl, status,
 *       channel, now_ms, field, value, ...
 * A job with cancel_requested set ends `canceled` whatever the child did.
 * Returns "ok", "gone", "notmine" or "notrunning". */
extern const char script_finish[];

/* Put ids back on their queues (or give up on them: `lost`).
 * KEYS: processing, dead, stats. ARGV: prefix, default queue, now_ms,
 *       uncount (1: this start does not count as an attempt), mode ("all":
 *       every id on the processing list except the ones after, "ids": just
 *       the ones after), ids...
 * Returns {requeued, lost, dropped}. */
extern const char script_requeue[];

/* The reaper: under the lock (SET NX PX), requeue the processing lists of
 * registered workers whose heartbeat key is gone, deregister them, and
 * trim the dead list by count and by age (ids whose hash has expired).
 * KEYS: workers, lock, dead, stats. ARGV: prefix, me, lock_ms, now_ms,
 *       default queue, dead_max.
 * Returns nil (another worker holds the lock) or {requeued, lost, dropped,
 * workers reaped}. */
extern const char script_reap[];

/* Register and refresh this worker's heartbeat hash in one step.
 * KEYS: workers, worker key. ARGV: worker id, ttl_ms, field, value, ... */
extern const char script_heartbeat[];

/* Leave the registry on a clean exit.
 * KEYS: workers, worker key, processing. ARGV: worker id. */
extern const char script_deregister[];

/* Take one id from the first non-empty queue, without blocking (a worker
 * with several queues, in priority order).
 * KEYS: processing, queue keys... ARGV: queue names...
 * Returns {queue name, id} or nil. */
extern const char script_take[];

#endif
