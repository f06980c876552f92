/* admin_scripts.h - the Lua scripts behind the operator commands. Each is
 * one EVAL: atomic, so a worker never sees half of a cancel or a requeue. */
#ifndef SANDQ_CLI_ADMIN_SCRIPTS_H
#define SANDQ_CLI_ADMIN_SCRIPTS_H

/* The documented cancel (docs/protocol.md "Cancel"), byte for byte the
 * Python client's CANCEL_LUA.
 * KEYS: P:job:<id>. ARGV: prefix, id, now_ms.
 * Returns "canceled" (it was queued), "requested" (it is running; the
 * worker is told on P:cancel), "missing", or the final status it had. */
extern const char script_cancel[];

/* Put one lost job back on the consuming end of its queue.
 * KEYS: P:job:<id>, P:dead. ARGV: prefix, id.
 * Returns "requeued"; "gone" when the hash expired (the id is dropped from
 * the dead list); else the job's status (or "nostatus"), untouched. */
extern const char script_requeue_dead[];

/* Take every id off a queue and cancel each job still queued.
 * KEYS: P:queue:<q>. ARGV: prefix, now_ms.
 * Returns {canceled, ids taken off}. */
extern const char script_purge[];

#endif
