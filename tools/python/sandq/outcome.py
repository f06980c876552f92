"""The outcome of a job: PROTOCOL.md's outcome fields, parsed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence

from . import _protocol as proto
from .exceptions import CallError, exception_for


@dataclass(frozen=True)
class Outcome:
    """A job's status and outcome fields as the worker wrote them.

    Integers are parsed (``None`` when absent), ``result`` is the decoded
    JSON value (for a ``calls`` batch, the raw list of
    ``{"result": v}`` / ``{"error_type": t, "error": m}`` entries; see
    :meth:`call_results`), ``stdout_truncated`` is a bool. While the job is
    not final (``queued`` or ``running``) most fields are ``None``.
    """

    job_id: str
    status: Optional[str]
    result: Any = None
    error_type: Optional[str] = None
    error: Optional[str] = None
    traceback: Optional[str] = None
    stdout: Optional[str] = None
    stdout_truncated: bool = False
    worker: Optional[str] = None
    attempts: Optional[int] = None
    started_at: Optional[int] = None
    finished_at: Optional[int] = None
    time_ms: Optional[int] = None
    cpu_ms: Optional[int] = None
    memory_kb: Optional[int] = None
    queue: Optional[str] = None
    enqueued_at: Optional[int] = None

    @classmethod
    def from_values(cls, job_id: str, values: Sequence[Any]) -> "Outcome":
        """From an ``HMGET`` of :data:`sandq._protocol.OUTCOME_FIELDS`."""
        return cls.from_mapping(job_id, dict(zip(proto.OUTCOME_FIELDS, values)))

    @classmethod
    def from_mapping(cls, job_id: str, fields: Mapping[Any, Any]) -> "Outcome":
        """From a job hash (``HGETALL``), bytes or str keys and values."""
        f = {proto.to_text(k): proto.to_text(v) for k, v in fields.items()}
        ints = {name: proto.parse_int(f.get(name)) for name in (
            "attempts", "started_at", "finished_at", "time_ms", "cpu_ms",
            "memory_kb", "enqueued_at")}
        return cls(
            job_id=job_id,
            status=f.get("status"),
            result=proto.decode_result(f.get("result")),
            error_type=f.get("error_type"),
            error=f.get("error"),
            traceback=f.get("traceback"),
            stdout=f.get("stdout"),
            stdout_truncated=f.get("stdout_truncated") == "1",
            worker=f.get("worker"),
            queue=f.get("queue"),
            **ints,
        )

    @property
    def final(self) -> bool:
        """True once the job has ended (any status but queued/running)."""
        return self.status in proto.FINAL_STATUSES

    @property
    def ok(self) -> bool:
        """True when the status is ``succeeded``."""
        return self.status == proto.SUCCEEDED

    def raise_for_status(self) -> None:
        """Raise the :class:`~sandq.JobFailed` subclass of a failed job;
        ValueError while it is not final; nothing when it succeeded."""
        if not self.final:
            raise ValueError(f"job {self.job_id} is not final (status {self.status})")
        if not self.ok:
            raise exception_for(self)

    def value(self) -> Any:
        """The decoded return value, or raise as :meth:`raise_for_status`."""
        self.raise_for_status()
        return self.result

    def call_results(self) -> List[Any]:
        """For a ``calls`` batch: one item per call, its return value or a
        :class:`~sandq.CallError`. Status ``failed`` with per-call entries
        is not raised (that is how a batch reports a call that raised);
        any other failure (rejected, timeout, a failing module top level,
        ...) raises its :class:`~sandq.JobFailed` subclass."""
        if not self.final:
            raise ValueError(f"job {self.job_id} is not final (status {self.status})")
        if not (self.ok or (self.status == "failed" and isinstance(self.result, list))):
            raise exception_for(self)
        if not isinstance(self.result, list):
            raise ValueError(f"job {self.job_id}: result is not a calls list: {self.result!r}")
        return [_call_item(self.job_id, i, entry) for i, entry in enumerate(self.result)]


def _call_item(job_id: str, i: int, entry: Any) -> Any:
    if isinstance(entry, dict):
        if "result" in entry:
            return entry["result"]
        if "error_type" in entry:
            return CallError(str(entry["error_type"]), str(entry.get("error", "")),
                             entry.get("traceback"))
    raise ValueError(f"job {job_id}: calls result {i} is malformed: {entry!r}")
