/* admin_scripts.c - Lua for cancel, requeue-dead and purge (see
 * admin_scripts.h). Key names are built inside the scripts from the prefix,
 * as the worker's scripts do, because the queue of a job is only known
 * once its hash is read. */
#include "admin_scripts.h"

const char script_cancel[] =
    "local job, prefix, id, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]\n"
    "local f = redis.call('HMGET', job, 'status', 'queue', 'result_ttl')\n"
    "local status = f[1]\n"
    "if not status then\n"
    "  return 'missing'\n"
    "end\n"
    "if status == 'queued' then\n"
    "  redis.call('HSET', job, 'status', 'canceled', 'error_type', 'Canceled',\n"
    "    'error', 'canceled before it ran', 'finished_at', now)\n"
    "  redis.call('LREM', prefix .. ':queue:' .. (f[2] or 'default'), 0, id)\n"
    "  local ttl = tonumber(f[3] or '')\n"
    "  if not ttl or ttl < 1 then ttl = 86400 end\n"
    "  redis.call('EXPIRE', job, math.floor(ttl))\n"
    "  redis.call('HINCRBY', prefix .. ':stats', 'canceled', 1)\n"
    "  redis.call('PUBLISH', prefix .. ':done:' .. id, 'canceled')\n"
    "  return 'canceled'\n"
    "end\n"
    "if status == 'running' then\n"
    "  redis.call('HSET', job, 'cancel_requested', now)\n"
    "  redis.call('PUBLISH', prefix .. ':cancel', id)\n"
    "  return 'requested'\n"
    "end\n"
    "return status\n";

/* PERSIST: a lost job carries the EXPIRE of a finished one; once queued
 * again it must not vanish before it runs. */
const char script_requeue_dead[] =
    "local job, dead, prefix, id = KEYS[1], KEYS[2], ARGV[1], ARGV[2]\n"
    "if redis.call('EXISTS', job) == 0 then\n"
    "  redis.call('LREM', dead, 0, id)\n"
    "  return 'gone'\n"
    "end\n"
    "local f = redis.call('HMGET', job, 'status', 'queue')\n"
    "if f[1] ~= 'lost' then return f[1] or 'nostatus' end\n"
    "redis.call('HSET', job, 'status', 'queued', 'attempts', 0)\n"
    "redis.call('HDEL', job, 'error', 'error_type', 'finished_at')\n"
    "redis.call('PERSIST', job)\n"
    "redis.call('LREM', dead, 0, id)\n"
    "redis.call('RPUSH', prefix .. ':queue:' .. (f[2] or 'default'), id)\n"
    "return 'requeued'\n";

/* The same steps as the queued branch of script_cancel, per id. */
const char script_purge[] =
    "local queue, prefix, now = KEYS[1], ARGV[1], ARGV[2]\n"
    "local ids = redis.call('LRANGE', queue, 0, -1)\n"
    "redis.call('DEL', queue)\n"
    "local canceled = 0\n"
    "for _, id in ipairs(ids) do\n"
    "  local job = prefix .. ':job:' .. id\n"
    "  local f = redis.call('HMGET', job, 'status', 'result_ttl')\n"
    "  if f[1] == 'queued' then\n"
    "    redis.call('HSET', job, 'status', 'canceled', 'error_type', 'Canceled',\n"
    "      'error', 'purged from queue', 'finished_at', now)\n"
    "    redis.call('EXPIRE', job, tonumber(f[2] or '') or 86400)\n"
    "    redis.call('HINCRBY', prefix .. ':stats', 'canceled', 1)\n"
    "    redis.call('PUBLISH', prefix .. ':done:' .. id, 'canceled')\n"
    "    canceled = canceled + 1\n"
    "  end\n"
    "end\n"
    "return {canceled, #ids}\n";
