"""The asyncio client: the same surface as :mod:`sandq.client`, every
Redis call awaited (redis.asyncio, redis-py >= 4.3), for Django async views
and other asyncio code.

A ``redis.asyncio`` connection pool belongs to the event loop that first
used it. Under ASGI one Client per process is right; where each request
runs in its own loop (Django's async views under WSGI, ``asyncio.run`` per
call), make the client inside it: ``async with sandq.asyncio.Client(url)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from . import _protocol as proto
from .client import DEFAULT_URL, DEFAULT_WAIT, RECHECK_SECONDS
from .exceptions import JobExists, JobNotFound, WaitTimeout
from .outcome import Outcome

T = TypeVar("T")


class Client:
    """Asyncio producer for one Redis, key prefix and default queue; see
    :class:`sandq.Client` for each method's meaning."""

    def __init__(self, url: str = DEFAULT_URL, prefix: str = proto.DEFAULT_PREFIX,
                 queue: str = proto.DEFAULT_QUEUE, *,
                 connection: Optional["aioredis.Redis[Any]"] = None,
                 **redis_options: Any) -> None:
        self.keys = proto.Keys(prefix)
        self.prefix = prefix
        self.queue = proto.check_name("queue", queue)
        self._owns_connection = connection is None
        self.redis: "aioredis.Redis[Any]" = (
            connection if connection is not None
            else aioredis.Redis.from_url(url, decode_responses=True, **redis_options))

    @classmethod
    def from_redis(cls, r: "aioredis.Redis[Any]", prefix: str = proto.DEFAULT_PREFIX,
                   queue: str = proto.DEFAULT_QUEUE) -> "Client":
        """A client on an existing ``redis.asyncio.Redis`` (not closed by
        ``close()``)."""
        return cls(prefix=prefix, queue=queue, connection=r)

    async def close(self) -> None:
        """Close the connection pool, if this client made it."""
        if self._owns_connection:
            await self.redis.close(close_connection_pool=True)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<sandq.asyncio.Client prefix={self.prefix!r} queue={self.queue!r}>"

    async def submit(self, code: str, function: str, args: Sequence[Any] = (),
                     kwargs: Optional[Mapping[str, Any]] = None, *,
                     calls: Optional[Iterable[Sequence[Any]]] = None,
                     queue: Optional[str] = None,
                     limit_time_ms: Optional[int] = None,
                     limit_memory_mb: Optional[int] = None,
                     limit_output_kb: Optional[int] = None,
                     result_ttl: Optional[int] = None,
                     max_attempts: Optional[int] = None,
                     job_id: Optional[str] = None) -> "Job":
        """Enqueue a job in one MULTI/EXEC; see :meth:`sandq.Client.submit`."""
        queue = queue or self.queue
        fields = proto.enqueue_mapping(
            code, function, args, kwargs, calls=calls, queue=queue,
            limit_time_ms=limit_time_ms, limit_memory_mb=limit_memory_mb,
            limit_output_kb=limit_output_kb, result_ttl=result_ttl,
            max_attempts=max_attempts)
        if job_id is None:
            job_id = proto.new_job_id()
            async with self.redis.pipeline(transaction=True) as pipe:
                await self._enqueue(pipe, job_id, queue, fields)
        else:
            await self._enqueue_new_id(proto.check_name("job_id", job_id), queue, fields)
        return Job(self, job_id)

    async def _enqueue(self, pipe: Any, job_id: str, queue: str, fields: Dict[str, Any]) -> None:
        pipe.hset(self.keys.job(job_id), mapping=fields)
        pipe.lpush(self.keys.queue(queue), job_id)
        await pipe.execute()

    async def _enqueue_new_id(self, job_id: str, queue: str, fields: Dict[str, Any]) -> None:
        key = self.keys.job(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if await pipe.exists(key):
                    raise JobExists(job_id)
                pipe.multi()
                await self._enqueue(pipe, job_id, queue, fields)
            except WatchError:
                raise JobExists(job_id) from None

    def job(self, job_id: str) -> "Job":
        """A handle on an existing job by id (nothing is checked or sent)."""
        return Job(self, proto.check_name("job_id", job_id))

    async def cancel(self, job_id: str) -> str:
        """Cancel a job by id; see :meth:`Job.cancel`."""
        return await self.job(job_id).cancel()

    async def run(self, code: str, function: str, *args: Any,
                  timeout: Optional[float] = DEFAULT_WAIT, **kwargs: Any) -> Any:
        """Submit, wait, return the value or raise; see :meth:`sandq.Client.run`."""
        job = await self.submit(code, function, args, kwargs)
        return await _finish(job, timeout, Outcome.value)

    async def map(self, code: str, function: str, list_of_args: Iterable[Sequence[Any]], *,
                  timeout: Optional[float] = DEFAULT_WAIT, **options: Any) -> List[Any]:
        """One call per item in one sandbox; see :meth:`sandq.Client.map`."""
        items = list(list_of_args)
        if not items:
            return []
        job = await self.submit(code, function, calls=items, **options)
        return await _finish(job, timeout, Outcome.call_results)

    async def workers(self, queue: Optional[str] = None) -> List[str]:
        """Ids of the live workers (heartbeat key present); with ``queue``,
        only those that take from it."""
        ids = sorted([proto.to_text(k)[len(self.keys.worker("")):] async for k in
                      self.redis.scan_iter(match=self.keys.worker("*"), count=100)])
        if queue is None:
            return ids
        return [w for w in ids if queue in proto.worker_queues(
            await self.redis.hget(self.keys.worker(w), "queues"))]


async def _finish(job: "Job", timeout: Optional[float], get: Callable[[Outcome], T]) -> T:
    try:
        outcome = await job.wait(timeout)
    except WaitTimeout:
        await job.cancel()
        raise
    return get(outcome)


class Job:
    """A submitted job, by id; see :class:`sandq.Job`."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"<sandq.asyncio.Job {self.id}>"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Job) and (other.client, other.id) == (self.client, self.id)

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def key(self) -> str:
        return self.client.keys.job(self.id)

    async def status(self) -> Optional[str]:
        """The current status, or None when there is no such job."""
        return proto.opt_text(await self.client.redis.hget(self.key, "status"))

    async def refresh(self) -> Dict[str, str]:
        """The whole job hash as a dict of str (empty when missing)."""
        raw = await self.client.redis.hgetall(self.key)
        return {proto.to_text(k): proto.to_text(v) for k, v in raw.items()}

    async def outcome(self) -> Outcome:
        """The outcome fields as they are now; JobNotFound when missing."""
        values = await self.client.redis.hmget(self.key, proto.OUTCOME_FIELDS)
        if values[0] is None:
            raise JobNotFound(self.id)
        return Outcome.from_values(self.id, values)

    async def wait(self, timeout: Optional[float] = None) -> Outcome:
        """Wait until the job is final (SUBSCRIBE first, then read the
        status) and return its Outcome; WaitTimeout when ``timeout`` runs
        out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pubsub = self.client.redis.pubsub()
        try:
            await pubsub.subscribe(self.client.keys.done(self.id))
            await _next_message(pubsub, "subscribe", deadline)
            while True:
                outcome = await self.outcome()
                if outcome.final:
                    return outcome
                if not await _next_message(pubsub, "message", deadline) and _expired(deadline):
                    outcome = await self.outcome()
                    if outcome.final:
                        return outcome
                    raise WaitTimeout(self.id, timeout, outcome.status)
        finally:
            # Shielded so that a cancelled view still returns the connection.
            await asyncio.shield(pubsub.close())

    async def result(self, timeout: Optional[float] = None) -> Any:
        """Wait, then the value or the JobFailed subclass of its status."""
        return (await self.wait(timeout)).value()

    async def call_results(self, timeout: Optional[float] = None) -> List[Any]:
        """For a ``calls`` job: one value or CallError per call."""
        return (await self.wait(timeout)).call_results()

    async def cancel(self) -> str:
        """Cancel the job; see :meth:`sandq.Job.cancel` for what it returns."""
        keys = self.client.keys
        return str(proto.to_text(await self.client.redis.eval(
            proto.CANCEL_LUA, 1, keys.job(self.id), keys.prefix, self.id, proto.now_ms())))


def _expired(deadline: Optional[float]) -> bool:
    return deadline is not None and time.monotonic() >= deadline


async def _next_message(pubsub: Any, kind: str, deadline: Optional[float]) -> bool:
    until = time.monotonic() + RECHECK_SECONDS
    if deadline is not None:
        until = min(until, deadline)
    while True:
        remaining = until - time.monotonic()
        if remaining <= 0:
            return False
        msg = await pubsub.get_message(timeout=remaining)
        if msg is not None and proto.to_text(msg.get("type")) == kind:
            return True
