"""What can go wrong with a job, one class per final status
(PROTOCOL.md "Outcome"), plus waiting too long and per-call errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Type

if TYPE_CHECKING:  # pragma: no cover
    from .outcome import Outcome


class SandqError(Exception):
    """Base class of everything sandq raises on purpose (besides ValueError
    for arguments it refuses before anything is sent)."""


class JobFailed(SandqError):
    """The job ended with a final status other than ``succeeded``.

    Attributes come straight from the job hash: ``status``, ``error_type``
    (the Python exception class name, or the limit or rule that stopped
    it), ``error`` (one human-readable line), ``traceback`` (the user's own
    frames only), ``stdout`` (what the code printed), ``job_id``, and
    ``outcome`` (the whole :class:`~sandq.Outcome`).
    """

    def __init__(self, outcome: "Outcome") -> None:
        self.outcome = outcome
        self.job_id: str = outcome.job_id
        self.status: str = outcome.status or ""
        self.error_type: Optional[str] = outcome.error_type
        self.error: Optional[str] = outcome.error
        self.traceback: Optional[str] = outcome.traceback
        self.stdout: Optional[str] = outcome.stdout
        super().__init__(self._message())

    def _message(self) -> str:
        what = ": ".join(x for x in (self.error_type, self.error) if x) or self.status
        text = f"{what} (job {self.job_id}, status {self.status})"
        if self.traceback:
            text += "\n" + self.traceback.rstrip("\n")
        return text


class Failed(JobFailed):
    """The function, or the module's top level, raised an exception."""


class Rejected(JobFailed):
    """The code does not compile (``SyntaxError``, with its line), breaks a
    rule of the restricted interpreter (a forbidden import, name or
    attribute), or does not define the function."""


class Invalid(JobFailed):
    """The job itself was malformed: a field missing or not valid JSON of
    the right type, a value out of range. Usually a bug in the producer,
    or arguments the function cannot take."""


class TimeLimit(JobFailed):
    """The wall-clock or CPU limit was reached (status ``timeout``)."""


class MemoryLimit(JobFailed):
    """The memory limit was reached."""


class OutputLimit(JobFailed):
    """The result is larger than the output cap, or not JSON-serialisable."""


class Violation(JobFailed):
    """The sandbox stopped a forbidden operation (a system call outside the
    policy: opening files, sockets, starting processes...)."""


class Crashed(JobFailed):
    """The interpreter died some other way (a signal, an abnormal exit)."""


class Lost(JobFailed):
    """Workers died while running it ``max_attempts`` times; given up on."""


class Canceled(JobFailed):
    """It was canceled before or while it ran."""


STATUS_EXCEPTIONS: Dict[str, Type[JobFailed]] = {
    "failed": Failed,
    "rejected": Rejected,
    "invalid": Invalid,
    "timeout": TimeLimit,
    "memory_limit": MemoryLimit,
    "output_limit": OutputLimit,
    "violation": Violation,
    "crashed": Crashed,
    "lost": Lost,
    "canceled": Canceled,
}


def exception_for(outcome: "Outcome") -> JobFailed:
    """The exception matching the outcome's status (JobFailed for a status
    this version does not know)."""
    return STATUS_EXCEPTIONS.get(outcome.status or "", JobFailed)(outcome)


class WaitTimeout(SandqError, TimeoutError):
    """Waiting for the job ran out before it reached a final status. The
    job itself goes on (``run()`` and ``map()`` cancel it first)."""

    def __init__(self, job_id: str, timeout: Optional[float], status: Optional[str]) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.status = status
        super().__init__(f"job {job_id} still {status} after waiting {timeout} s")


class JobNotFound(SandqError, LookupError):
    """There is no such job hash: never submitted, or expired after its
    ``result_ttl``."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id} (never submitted, or expired)")


class JobExists(SandqError, ValueError):
    """``submit(job_id=...)`` named an id that is already in use."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job id {job_id!r} is already in use")


class CallError(SandqError):
    """One call of a ``map()`` batch raised. ``map()`` returns it in place
    of that call's value rather than raising it; raise it yourself if you
    want to. Equal to another CallError with the same type and message."""

    def __init__(self, error_type: str, error: str, traceback: Optional[str] = None) -> None:
        self.error_type = error_type
        self.error = error
        self.traceback = traceback
        super().__init__(f"{error_type}: {error}" if error else error_type)

    def __repr__(self) -> str:
        return f"CallError({self.error_type!r}, {self.error!r})"

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, CallError):
            return NotImplemented
        return (self.error_type, self.error) == (other.error_type, other.error)

    def __hash__(self) -> int:
        return hash((self.error_type, self.error))
