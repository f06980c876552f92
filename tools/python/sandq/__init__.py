"""sandq client: run untrusted Python functions in sandq's sandboxed
workers through Redis (see PROTOCOL.md).

    import sandq
    client = sandq.Client("redis://localhost:6379/0")
    client.run("def f(xs):\\n    return sum(xs) / len(xs)\\n", "f", [1, 2, 3])

``sandq.asyncio.Client`` has the same surface for asyncio code.
"""

from ._protocol import CANCEL_LUA, FINAL_STATUSES, is_valid_name
from .client import Client, Job
from .exceptions import (
    CallError,
    Canceled,
    Crashed,
    Failed,
    Invalid,
    JobExists,
    JobFailed,
    JobNotFound,
    Lost,
    MemoryLimit,
    OutputLimit,
    Rejected,
    SandqError,
    TimeLimit,
    Violation,
    WaitTimeout,
)
from .outcome import Outcome

__version__ = "0.1.0"

__all__ = [
    "CANCEL_LUA", "FINAL_STATUSES", "CallError", "Canceled", "Client", "Crashed",
    "Failed", "Invalid", "Job", "JobExists", "JobFailed", "JobNotFound", "Lost",
    "MemoryLimit", "Outcome", "OutputLimit", "Rejected", "SandqError", "TimeLimit",
    "Violation", "WaitTimeout", "is_valid_name",
]
