"""The synchronous client: submit jobs, wait for them, cancel them.

Thread-safe like the redis.Redis it wraps: make one Client per process
(e.g. at import of a Django module) and share it.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, TypeVar

import redis

from . import _protocol as proto
from .exceptions import JobExists, JobNotFound, WaitTimeout
from .outcome import Outcome

T = TypeVar("T")

# While waiting on pub/sub, look at the job hash this often anyway: a safety
# net for a message that cannot arrive (the hash deleted or expired, a
# dropped connection), not the way results are noticed.
RECHECK_SECONDS = 5.0

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_WAIT = 60.0


class Client:
    """A producer for one Redis, key prefix and default queue.

    ``Client(url)`` makes its own connection pool (``redis_options`` go to
    ``redis.Redis.from_url``); ``Client.from_redis(r)`` uses an existing
    ``redis.Redis`` (decoded or not).
    """

    def __init__(self, url: str = DEFAULT_URL, prefix: str = proto.DEFAULT_PREFIX,
                 queue: str = proto.DEFAULT_QUEUE, *,
                 connection: Optional["redis.Redis[Any]"] = None,
                 **redis_options: Any) -> None:
        self.keys = proto.Keys(prefix)
        self.prefix = prefix
        self.queue = proto.check_name("queue", queue)
        self._owns_connection = connection is None
        self.redis: "redis.Redis[Any]" = (
            connection if connection is not None
            else redis.Redis.from_url(url, decode_responses=True, **redis_options))

    @classmethod
    def from_redis(cls, r: "redis.Redis[Any]", prefix: str = proto.DEFAULT_PREFIX,
                   queue: str = proto.DEFAULT_QUEUE) -> "Client":
        """A client on an existing ``redis.Redis`` (not closed by ``close()``)."""
        return cls(prefix=prefix, queue=queue, connection=r)

    def close(self) -> None:
        """Close the connection pool, if this client made it."""
        if self._owns_connection:
            self.redis.close()
            self.redis.connection_pool.disconnect()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<sandq.Client prefix={self.prefix!r} queue={self.queue!r}>"

    def submit(self, code: str, function: str, args: Sequence[Any] = (),
               kwargs: Optional[Mapping[str, Any]] = None, *,
               calls: Optional[Iterable[Sequence[Any]]] = None,
               queue: Optional[str] = None,
               limit_time_ms: Optional[int] = None,
               limit_memory_mb: Optional[int] = None,
               limit_output_kb: Optional[int] = None,
               result_ttl: Optional[int] = None,
               max_attempts: Optional[int] = None,
               job_id: Optional[str] = None) -> "Job":
        """Enqueue ``function(*args, **kwargs)`` from ``code`` (or, with
        ``calls``, one call per item of positional arguments) and return its
        :class:`Job` at once.

        The job hash and the queue push go in one MULTI/EXEC. Arguments
        that cannot be right (a bad id or queue name, ``calls`` together
        with ``args``, a value that is not JSON, a limit that is not a
        positive int) raise ValueError before anything is sent; a
        ``job_id`` already in use raises :class:`~sandq.JobExists`.
        """
        queue = queue or self.queue
        fields = proto.enqueue_mapping(
            code, function, args, kwargs, calls=calls, queue=queue,
            limit_time_ms=limit_time_ms, limit_memory_mb=limit_memory_mb,
            limit_output_kb=limit_output_kb, result_ttl=result_ttl,
            max_attempts=max_attempts)
        if job_id is None:
            job_id = proto.new_job_id()
            with self.redis.pipeline(transaction=True) as pipe:
                self._enqueue(pipe, job_id, queue, fields)
        else:
            self._enqueue_new_id(proto.check_name("job_id", job_id), queue, fields)
        return Job(self, job_id)

    def _enqueue(self, pipe: Any, job_id: str, queue: str, fields: Dict[str, Any]) -> None:
        pipe.hset(self.keys.job(job_id), mapping=fields)
        pipe.lpush(self.keys.queue(queue), job_id)
        pipe.execute()

    # A caller's id may already name a job: refuse rather than overwrite
    # half of its fields. WATCH makes the check and the MULTI one step.
    def _enqueue_new_id(self, job_id: str, queue: str, fields: Dict[str, Any]) -> None:
        key = self.keys.job(job_id)
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if pipe.exists(key):
                    raise JobExists(job_id)
                pipe.multi()
                self._enqueue(pipe, job_id, queue, fields)
            except redis.WatchError:
                raise JobExists(job_id) from None

    def job(self, job_id: str) -> "Job":
        """A handle on an existing job by id (nothing is checked or sent)."""
        return Job(self, proto.check_name("job_id", job_id))

    def cancel(self, job_id: str) -> str:
        """Cancel a job by id; see :meth:`Job.cancel`."""
        return self.job(job_id).cancel()

    def run(self, code: str, function: str, *args: Any,
            timeout: Optional[float] = DEFAULT_WAIT, **kwargs: Any) -> Any:
        """Run ``function(*args, **kwargs)`` and return its value, or raise
        the :class:`~sandq.JobFailed` subclass of its status. If ``timeout``
        seconds pass first, the job is canceled and
        :class:`~sandq.WaitTimeout` raised."""
        job = self.submit(code, function, args, kwargs)
        return _finish(job, timeout, Outcome.value)

    def map(self, code: str, function: str, list_of_args: Iterable[Sequence[Any]], *,
            timeout: Optional[float] = DEFAULT_WAIT, **options: Any) -> List[Any]:
        """Call ``function(*item)`` for each item (a list or tuple of
        positional arguments), compiled once and run in one sandbox (the
        protocol's ``calls``). Returns one entry per item: the value, or a
        :class:`~sandq.CallError` for a call that raised. A failure of the
        whole job (rejected code, a time limit, ...) raises. ``options``
        are :meth:`submit`'s keyword options (limits, queue, ...)."""
        items = list(list_of_args)
        if not items:
            return []
        job = self.submit(code, function, calls=items, **options)
        return _finish(job, timeout, Outcome.call_results)

    def workers(self, queue: Optional[str] = None) -> List[str]:
        """Ids of the live workers: those whose heartbeat key
        ``<prefix>:worker:<id>`` exists (PROTOCOL.md). With ``queue``, only
        those that take from it."""
        ids = sorted(proto.to_text(k)[len(self.keys.worker("")):]
                     for k in self.redis.scan_iter(match=self.keys.worker("*"), count=100))
        if queue is None:
            return ids
        return [w for w in ids
                if queue in proto.worker_queues(self.redis.hget(self.keys.worker(w), "queues"))]


def _finish(job: "Job", timeout: Optional[float], get: Callable[[Outcome], T]) -> T:
    try:
        outcome = job.wait(timeout)
    except WaitTimeout:
        job.cancel()
        raise
    return get(outcome)


class Job:
    """A submitted job, by id. Cheap to make; every method asks Redis."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"<sandq.Job {self.id}>"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Job) and (other.client, other.id) == (self.client, self.id)

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def key(self) -> str:
        return self.client.keys.job(self.id)

    def status(self) -> Optional[str]:
        """The current status, or None when there is no such job."""
        return proto.opt_text(self.client.redis.hget(self.key, "status"))

    def refresh(self) -> Dict[str, str]:
        """The whole job hash as a dict of str (empty when there is no such
        job). Includes the input fields, ``code`` too."""
        raw = self.client.redis.hgetall(self.key)
        return {proto.to_text(k): proto.to_text(v) for k, v in raw.items()}

    def outcome(self) -> Outcome:
        """The outcome fields as they are now (the job may not be final);
        raises :class:`~sandq.JobNotFound` when there is no such job."""
        values = self.client.redis.hmget(self.key, proto.OUTCOME_FIELDS)
        if values[0] is None:
            raise JobNotFound(self.id)
        return Outcome.from_values(self.id, values)

    def wait(self, timeout: Optional[float] = None) -> Outcome:
        """Block until the job is final and return its :class:`Outcome`
        (whatever the status; nothing is raised for a failed job).

        Subscribes to ``<prefix>:done:<id>`` first, then reads the status,
        so a job that ends in between is not missed. ``timeout`` None waits
        as long as it takes; otherwise :class:`~sandq.WaitTimeout`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pubsub = self.client.redis.pubsub()
        try:
            pubsub.subscribe(self.client.keys.done(self.id))
            _next_message(pubsub, "subscribe", deadline)
            while True:
                outcome = self.outcome()
                if outcome.final:
                    return outcome
                if not _next_message(pubsub, "message", deadline) and _expired(deadline):
                    outcome = self.outcome()
                    if outcome.final:
                        return outcome
                    raise WaitTimeout(self.id, timeout, outcome.status)
        finally:
            pubsub.close()

    def result(self, timeout: Optional[float] = None) -> Any:
        """Wait, then return the decoded return value or raise the
        :class:`~sandq.JobFailed` subclass of its status."""
        return self.wait(timeout).value()

    def call_results(self, timeout: Optional[float] = None) -> List[Any]:
        """For a job submitted with ``calls``: wait, then return one value or
        :class:`~sandq.CallError` per call (see :meth:`Outcome.call_results`)."""
        return self.wait(timeout).call_results()

    def cancel(self) -> str:
        """Cancel the job (the documented cancel script, one EVAL).

        Returns ``"canceled"`` when it was still queued (now final and off
        its queue), ``"requested"`` when it is running (the worker stops it
        and writes status ``canceled``), ``"missing"`` when there is no such
        job, or the final status it already had.
        """
        keys = self.client.keys
        return str(proto.to_text(self.client.redis.eval(
            proto.CANCEL_LUA, 1, keys.job(self.id), keys.prefix, self.id, proto.now_ms())))


def _expired(deadline: Optional[float]) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _next_message(pubsub: Any, kind: str, deadline: Optional[float]) -> bool:
    """Read pub/sub messages until one of ``kind`` arrives (True), the
    deadline passes or RECHECK_SECONDS elapse (False)."""
    until = time.monotonic() + RECHECK_SECONDS
    if deadline is not None:
        until = min(until, deadline)
    while True:
        remaining = until - time.monotonic()
        if remaining <= 0:
            return False
        msg = pubsub.get_message(timeout=remaining)
        if msg is not None and proto.to_text(msg.get("type")) == kind:
            return True
