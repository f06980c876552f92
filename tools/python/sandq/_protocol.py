"""PROTOCOL.md in Python: key names, statuses, field lists, the enqueue
mapping and the cancel script. The only module that knows how a key is
spelled or what a field is called; client.py and asyncio.py do the I/O."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

DEFAULT_PREFIX = "sandq"
DEFAULT_QUEUE = "default"
DEFAULT_RESULT_TTL = 86400

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
CANCELED = "canceled"
FINAL_STATUSES = frozenset((
    "succeeded", "failed", "rejected", "invalid", "timeout", "memory_limit",
    "output_limit", "violation", "crashed", "lost", "canceled",
))

# Outcome fields the worker writes (PROTOCOL.md "Outcome"), plus the input
# fields worth showing next to them. Read with HMGET so a large `code` field
# never travels back.
OUTCOME_FIELDS = (
    "status", "result", "error_type", "error", "traceback", "stdout",
    "stdout_truncated", "worker", "attempts", "started_at", "finished_at",
    "time_ms", "cpu_ms", "memory_kb", "queue", "enqueued_at",
)

_NAME_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")

# The documented cancel command (PROTOCOL.md is silent on cancel; this is
# the one definition, the worker and the C CLI do the same).
#   KEYS[1] = <prefix>:job:<id>;  ARGV = prefix, id, now_ms
# Returns "canceled" (it was queued: now final, off its queue), "requested"
# (it is running: the worker is told on <prefix>:cancel and ends it with
# status canceled), "missing" (no such job, or it expired), or the final
# status it already had.
CANCEL_LUA = """\
local job, prefix, id, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local f = redis.call('HMGET', job, 'status', 'queue', 'result_ttl')
local status = f[1]
if not status then
  return 'missing'
end
if status == 'queued' then
  redis.call('HSET', job, 'status', 'canceled', 'error_type', 'Canceled',
    'error', 'canceled before it ran', 'finished_at', now)
  redis.call('LREM', prefix .. ':queue:' .. (f[2] or 'default'), 0, id)
  local ttl = tonumber(f[3] or '')
  if not ttl or ttl < 1 then ttl = 86400 end
  redis.call('EXPIRE', job, math.floor(ttl))
  redis.call('HINCRBY', prefix .. ':stats', 'canceled', 1)
  redis.call('PUBLISH', prefix .. ':done:' .. id, 'canceled')
  return 'canceled'
end
if status == 'running' then
  redis.call('HSET', job, 'cancel_requested', now)
  redis.call('PUBLISH', prefix .. ':cancel', id)
  return 'requested'
end
return status
"""


def now_ms() -> int:
    """Milliseconds since the Unix epoch, as the protocol's timestamps."""
    return time.time_ns() // 1_000_000


def is_valid_name(name: object) -> bool:
    """True for a valid job id or queue name: 1-128 of A-Z a-z 0-9 . _ : -"""
    return isinstance(name, str) and _NAME_RE.match(name) is not None


def check_name(what: str, name: object) -> str:
    if not is_valid_name(name):
        raise ValueError(f"{what} must be 1 to 128 characters of A-Z a-z 0-9 . _ : -, "
                         f"not {name!r}")
    return name  # type: ignore[return-value]


class Keys:
    """Key and channel names for one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"prefix must be a non-empty string without spaces, not {prefix!r}")
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def queue(self, queue: str) -> str:
        return f"{self.prefix}:queue:{queue}"

    def done(self, job_id: str) -> str:
        return f"{self.prefix}:done:{job_id}"

    @property
    def stats(self) -> str:
        return f"{self.prefix}:stats"

    @property
    def cancel(self) -> str:
        return f"{self.prefix}:cancel"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"


def worker_queues(field: Any) -> List[str]:
    """The ``queues`` field of a worker's heartbeat hash (comma-separated)."""
    text = to_text(field)
    return [q for q in text.split(",") if q] if text else []


def to_text(value: Any) -> Any:
    """bytes -> str (UTF-8), anything else unchanged: works whether or not
    the redis client was made with decode_responses=True."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def opt_text(value: Any) -> Optional[str]:
    """A reply that is a string or nil, as Optional[str]."""
    return None if value is None else str(to_text(value))


def _dumps(what: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} is not JSON-serialisable: {e}") from None


def _positive_int(what: str, value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive int, not {value!r}")
    return value


def new_job_id() -> str:
    return uuid.uuid4().hex


def enqueue_mapping(
    code: str,
    function: str,
    args: Sequence[Any] = (),
    kwargs: Optional[Mapping[str, Any]] = None,
    *,
    calls: Optional[Iterable[Sequence[Any]]] = None,
    queue: str,
    limit_time_ms: Optional[int] = None,
    limit_memory_mb: Optional[int] = None,
    limit_output_kb: Optional[int] = None,
    result_ttl: Optional[int] = None,
    max_attempts: Optional[int] = None,
) -> Dict[str, Any]:
    """The fields of a new job hash (PROTOCOL.md "Enqueue"), validated as
    far as a producer can: anything wrong raises ValueError before Redis is
    touched. The worker still validates everything again."""
    if isinstance(code, bytes):
        try:
            code = code.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"code is not UTF-8: {e}") from None
    if not isinstance(code, str):
        raise ValueError(f"code must be str, not {type(code).__name__}")
    if not isinstance(function, str) or not (function.isascii() and function.isidentifier()):
        raise ValueError(f"function must be an ASCII Python identifier, not {function!r}")
    check_name("queue", queue)
    fields: Dict[str, Any] = {"code": code, "function": function}
    if calls is not None:
        if args or kwargs:
            raise ValueError("calls cannot be combined with args or kwargs")
        items = list(calls)
        for i, item in enumerate(items):
            if not isinstance(item, (list, tuple)):
                raise ValueError(
                    f"calls[{i}] must be a list or tuple of positional arguments, "
                    f"not {type(item).__name__} (wrap a single argument: (x,))")
        fields["calls"] = _dumps("calls", items)
    else:
        if not isinstance(args, (list, tuple)):
            raise ValueError(f"args must be a list or tuple, not {type(args).__name__}")
        fields["args"] = _dumps("args", list(args))
        if kwargs:
            if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
                raise ValueError("kwargs must be a mapping with str keys")
            fields["kwargs"] = _dumps("kwargs", dict(kwargs))
    for name, value in (("limit_time_ms", limit_time_ms), ("limit_memory_mb", limit_memory_mb),
                        ("limit_output_kb", limit_output_kb), ("result_ttl", result_ttl),
                        ("max_attempts", max_attempts)):
        if _positive_int(name, value) is not None:
            fields[name] = str(value)
    fields["queue"] = queue
    fields["status"] = QUEUED
    fields["enqueued_at"] = str(now_ms())
    return fields


def parse_int(value: Any) -> Optional[int]:
    value = to_text(value)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


def decode_result(text: Any) -> Any:
    """The `result` field's JSON, decoded; None when absent."""
    text = to_text(text)
    if text is None:
        return None
    return json.loads(text)


def calls_results(job_id: str, result: Any, n_expected: Optional[int] = None) -> List[Any]:
    """Check the shape of a `calls` result (a list of {"result": v} or
    {"error_type": t, "error": m}); returns it unchanged."""
    if not isinstance(result, list) or (n_expected is not None and len(result) != n_expected):
        raise ValueError(f"job {job_id}: result is not a calls result list: {result!r}")
    return result
