/* scripts.c - Lua for the job transitions (see scripts.h). The field lists
 * here are PROTOCOL.md's. */
#include "scripts.h"

const char script_start[] =
    "local job, proc, id = KEYS[1], KEYS[2], ARGV[1]\n"
    "if redis.call('EXISTS', job) == 0 then\n"
    "  redis.call('LREM', proc, 1, id)\n"
    "  return false\n"
    "end\n"
    "local st = redis.call('HGET', job, 'status')\n"
    "local final = {succeeded=1, failed=1, rejected=1, invalid=1, timeout=1,\n"
    "  memory_limit=1, output_limit=1, violation=1, crashed=1, lost=1, canceled=1}\n"
    "if st and final[st] then\n"
    "  redis.call('LREM', proc, 1, id)\n"
    "  return {'skip', st}\n"
    "end\n"
    "redis.call('HSET', job, 'status', 'running', 'worker', ARGV[2],\n"
    "  'started_at', ARGV[3])\n"
    "if redis.call('HEXISTS', job, 'queue') == 0 then\n"
    "  redis.call('HSET', job, 'queue', ARGV[4])\n"
    "end\n"
    "local attempts = redis.call('HINCRBY', job, 'attempts', 1)\n"
    "local caps = {code=tonumber(ARGV[5]), args=tonumber(ARGV[6]),\n"
    "  kwargs=tonumber(ARGV[6]), calls=tonumber(ARGV[6])}\n"
    "for f, cap in pairs(caps) do\n"
    "  local n = redis.call('HSTRLEN', job, f)\n"
    "  if n > cap then return {'big', attempts, f, n} end\n"
    "end\n"
    "local names = {'code', 'function', 'args', 'kwargs', 'calls',\n"
    "  'limit_time_ms', 'limit_memory_mb', 'limit_output_kb', 'result_ttl',\n"
    "  'max_attempts', 'queue', 'enqueued_at'}\n"
    "local vals = redis.call('HMGET', job, unpack(names))\n"
    "local out = {'ok', attempts}\n"
    "for i, name in ipairs(names) do\n"
    "  if vals[i] then out[#out + 1] = name; out[#out + 1] = vals[i] end\n"
    "end\n"
    "return out\n";

const char script_finish[] =
    "local job, proc, stats, id = KEYS[1], KEYS[2], KEYS[3], ARGV[1]\n"
    "redis.call('LREM', proc, 1, id)\n"
    "if redis.call('EXISTS', job) == 0 then return 'gone' end\n"
    "local cur = redis.call('HMGET', job, 'worker', 'attempts', 'status',\n"
    "  'cancel_requested')\n"
    "if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] then return 'notmine' end\n"
    "if cur[3] ~= 'running' then return 'notrunning' end\n"
    "local status, fields = ARGV[5], {unpack(ARGV, 8)}\n"
    "if cur[4] and status ~= 'canceled' then\n"
    "  status = 'canceled'\n"
    "  fields = {'error_type', 'Canceled', 'error', 'canceled while running',\n"
    "    'finished_at', ARGV[7]}\n"
    "end\n"
    "redis.call('HDEL', job, 'result', 'error_type', 'error', 'traceback',\n"
    "  'stdout', 'stdout_truncated')\n"
    "redis.call('HSET', job, 'status', status, unpack(fields))\n"
    "redis.call('EXPIRE', job, ARGV[4])\n"
    "redis.call('HINCRBY', stats, status, 1)\n"
    "redis.call('PUBLISH', ARGV[6], status)\n"
    "return 'ok'\n";

/* Shared by requeue and reaper: put one id back on its queue's consuming
 * end, or give up on it (`lost`) once its attempts are used up. Returns 1
 * requeued, 2 lost, 3 dropped (hash gone or already final). */
#define LUA_REQUEUE_ONE                                                        \
    "local function requeue_one(prefix, proc, dead, stats, id, defq, now,\n"   \
    "    uncount)\n"                                                          \
    "  local job = prefix .. ':job:' .. id\n"                                 \
    "  redis.call('LREM', proc, 1, id)\n"                                     \
    "  local f = redis.call('HMGET', job, 'status', 'attempts',\n"            \
    "    'max_attempts', 'queue', 'result_ttl')\n"                            \
    "  if redis.call('EXISTS', job) == 0 or (f[1] and f[1] ~= 'running'\n"    \
    "      and f[1] ~= 'queued') then return 3 end\n"                         \
    "  local attempts = tonumber(f[2] or '0') or 0\n"                         \
    "  if uncount == '1' and f[1] == 'running' and attempts > 0 then\n"       \
    "    attempts = redis.call('HINCRBY', job, 'attempts', -1)\n"             \
    "  end\n"                                                                 \
    "  local maxa = tonumber(f[3] or '3') or 3\n"                             \
    "  if f[1] == 'running' and attempts >= maxa then\n"                      \
    "    redis.call('HSET', job, 'status', 'lost', 'error_type', 'Lost',\n"   \
    "      'error', 'workers died while running it ' .. attempts ..\n"       \
    "      ' times (max_attempts ' .. maxa .. ')', 'finished_at', now)\n"     \
    "    redis.call('EXPIRE', job, tonumber(f[5] or '86400') or 86400)\n"     \
    "    redis.call('LPUSH', dead, id)\n"                                     \
    "    redis.call('HINCRBY', stats, 'lost', 1)\n"                           \
    "    redis.call('PUBLISH', prefix .. ':done:' .. id, 'lost')\n"           \
    "    return 2\n"                                                          \
    "  end\n"                                                                 \
    "  redis.call('HSET', job, 'status', 'queued')\n"                         \
    "  redis.call('RPUSH', prefix .. ':queue:' .. (f[4] or defq), id)\n"      \
    "  return 1\n"                                                            \
    "end\n"

const char script_requeue[] =
    LUA_REQUEUE_ONE
    "local proc, dead, stats = KEYS[1], KEYS[2], KEYS[3]\n"
    "local prefix, defq, now, uncount, mode = ARGV[1], ARGV[2], ARGV[3],\n"
    "  ARGV[4], ARGV[5]\n"
    "local listed, ids = {}, {}\n"
    "for i = 6, #ARGV do listed[ARGV[i]] = true end\n"
    "if mode == 'all' then\n"
    "  for _, id in ipairs(redis.call('LRANGE', proc, 0, -1)) do\n"
    "    if not listed[id] then ids[#ids + 1] = id end\n"
    "  end\n"
    "else\n"
    "  for i = 6, #ARGV do ids[#ids + 1] = ARGV[i] end\n"
    "end\n"
    "local counts = {0, 0, 0}\n"
    "for _, id in ipairs(ids) do\n"
    "  local k = requeue_one(prefix, proc, dead, stats, id, defq, now, uncount)\n"
    "  counts[k] = counts[k] + 1\n"
    "end\n"
    "return counts\n";

const char script_reap[] =
    LUA_REQUEUE_ONE
    "local workers, lock, dead, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local prefix, me, lock_ms, now, defq, dead_max = ARGV[1], ARGV[2],\n"
    "  ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])\n"
    "if not redis.call('SET', lock, me, 'NX', 'PX', lock_ms) then\n"
    "  return false\n"
    "end\n"
    "local counts = {0, 0, 0, 0}\n"
    "for _, w in ipairs(redis.call('SMEMBERS', workers)) do\n"
    "  if w ~= me and redis.call('EXISTS', prefix .. ':worker:' .. w) == 0 then\n"
    "    local proc = prefix .. ':processing:' .. w\n"
    "    for _, id in ipairs(redis.call('LRANGE', proc, 0, -1)) do\n"
    "      local k = requeue_one(prefix, proc, dead, stats, id, defq, now, '0')\n"
    "      counts[k] = counts[k] + 1\n"
    "    end\n"
    "    redis.call('SREM', workers, w)\n"
    "    counts[4] = counts[4] + 1\n"
    "  end\n"
    "end\n"
    "redis.call('LTRIM', dead, 0, dead_max - 1)\n"
    "for _ = 1, 100 do\n"
    "  local oldest = redis.call('LINDEX', dead, -1)\n"
    "  if not oldest or redis.call('EXISTS', prefix .. ':job:' .. oldest) == 1\n"
    "    then break end\n"
    "  redis.call('RPOP', dead)\n"
    "end\n"
    "return counts\n";

const char script_heartbeat[] =
    "redis.call('SADD', KEYS[1], ARGV[1])\n"
    "redis.call('HSET', KEYS[2], unpack(ARGV, 3))\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "return 1\n";

const char script_deregister[] =
    "redis.call('SREM', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[2])\n"
    "if redis.call('LLEN', KEYS[3]) == 0 then redis.call('DEL', KEYS[3]) end\n"
    "return 1\n";

const char script_take[] =
    "for i = 2, #KEYS do\n"
    "  local id = redis.call('LMOVE', KEYS[i], KEYS[1], 'RIGHT', 'LEFT')\n"
    "  if id then return {ARGV[i - 1], id} end\n"
    "end\n"
    "return false\n";
