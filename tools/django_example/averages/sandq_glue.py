"""The example's use of sandq: one shared client, and the page's report
(one row per dataset: the value or the error) built from what map()
returns or raises."""

import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import redis
import sandq
import sandq.asyncio
from django.conf import settings

from .data import DATASETS, arguments

# What each failure of a whole job means, in words for the page.
TITLES = {
    sandq.Rejected: "Your code was rejected (syntax error, forbidden import, or no such function)",
    sandq.Failed: "Your code raised an exception",
    sandq.TimeLimit: "Your code ran out of time",
    sandq.MemoryLimit: "Your code used too much memory",
    sandq.OutputLimit: "The result is too large or not a number",
    sandq.Violation: "Your code tried something the sandbox forbids",
    sandq.Crashed: "The interpreter running your code crashed",
    sandq.Invalid: "The job was malformed",
    sandq.Lost: "Workers kept dying while running your code",
    sandq.Canceled: "The job was canceled",
}


@dataclass
class Row:
    name: str
    numbers: List[Any]
    value: Optional[str] = None
    error: Optional[str] = None


@dataclass
class Problem:
    title: str
    detail: str
    traceback: Optional[str] = None


@dataclass
class Report:
    rows: List[Row] = field(default_factory=list)
    problem: Optional[Problem] = None

    def as_json(self) -> Dict[str, Any]:
        return asdict(self)


_clients: Dict[Tuple[str, str, str], sandq.Client] = {}
_clients_lock = threading.Lock()


def _settings() -> Tuple[str, str, str]:
    return settings.SANDQ_REDIS_URL, settings.SANDQ_PREFIX, settings.SANDQ_QUEUE


def client() -> sandq.Client:
    """The process's sandq client (thread-safe, one connection pool)."""
    key = _settings()
    with _clients_lock:
        if key not in _clients:
            _clients[key] = sandq.Client(*key)
        return _clients[key]


def async_client() -> sandq.asyncio.Client:
    """A new asyncio client, to be used as ``async with`` inside one request:
    under WSGI each async view runs in its own event loop."""
    return sandq.asyncio.Client(*_settings())


def options() -> Dict[str, Any]:
    return {"limit_time_ms": settings.SANDQ_TIME_LIMIT_MS, "timeout": settings.SANDQ_WAIT_SECONDS}


def show(value: Any) -> str:
    return str(value) if isinstance(value, (int, float)) else json.dumps(value)


def from_values(values: List[Any]) -> Report:
    rows = []
    for (name, numbers), value in zip(DATASETS, values):
        if isinstance(value, sandq.CallError):
            rows.append(Row(name, numbers, error=str(value)))
        else:
            rows.append(Row(name, numbers, value=show(value)))
    return Report(rows)


def from_exception(exc: BaseException) -> Report:
    if isinstance(exc, sandq.JobFailed):
        problem = Problem(TITLES.get(type(exc), "The job failed"),
                          ": ".join(x for x in (exc.error_type, exc.error) if x),
                          exc.traceback)
    elif isinstance(exc, sandq.WaitTimeout):
        problem = Problem("No sandq worker answered",
                          f"waited {settings.SANDQ_WAIT_SECONDS:g} s; the job was canceled. "
                          "Is a worker running (manage.py sandq_check)?")
    else:
        problem = Problem("Cannot reach Redis", str(exc))
    return Report([Row(name, numbers) for name, numbers in DATASETS], problem)


def from_outcome(outcome: sandq.Outcome) -> Report:
    """The report of a finished job read back by id (the polling pages)."""
    try:
        return from_values(outcome.call_results())
    except sandq.JobFailed as e:
        return from_exception(e)


def run(code: str, function: str) -> Report:
    """Run ``function`` on every dataset in one sandq job and wait."""
    opts = options()
    try:
        return from_values(client().map(code, function, arguments(), **opts))
    except (sandq.JobFailed, sandq.WaitTimeout, redis.ConnectionError) as e:
        return from_exception(e)


async def run_async(code: str, function: str) -> Report:
    """The same, awaiting (for async views)."""
    try:
        async with async_client() as c:
            return from_values(await c.map(code, function, arguments(), **options()))
    except (sandq.JobFailed, sandq.WaitTimeout, redis.ConnectionError) as e:
        return from_exception(e)


def submit(code: str, function: str) -> sandq.Job:
    """Submit without waiting; the browser polls for the outcome."""
    return client().submit(code, function, calls=arguments(),
                           limit_time_ms=settings.SANDQ_TIME_LIMIT_MS)
