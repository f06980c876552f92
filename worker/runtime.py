"""sandq_runtime - the trusted Python side of a job child.

Compiled into sandq-zygote (worker/runtime_blob.S) and executed once in the
zygote, which calls init(). Every job child is a fork of that zygote; it
calls after_fork() before its seccomp filter goes on and run_job() after.
From then on the process can compute, allocate, read fd 0 and write fd 1,
nothing else: so init() imports and warms everything a job may touch, and
nothing below may open a file, import a module from disk, or look up source
lines of real files (that is why tracebacks are formatted here rather than
with the traceback module, which reads stdlib sources through linecache).

The restricted builtins and the import allowlist make mistakes and casual
misuse fail with a clear status; they are not the security boundary (a job
can reach any object of this process through introspection). The boundary
is the seccomp filter, the rlimits and the process. Everything a job child
writes is therefore untrusted input to the supervisor.
"""

import ast
import builtins
import codecs
import gc
import json
import linecache
import os
import random
import sys
import time
import warnings

DEFAULT_MODULES = (
    "math", "cmath", "statistics", "decimal", "fractions", "random",
    "itertools", "functools", "operator", "collections", "heapq", "bisect",
    "json", "re", "string", "datetime", "time", "array", "copy",
    "dataclasses", "enum", "typing", "numbers",
)

# Imported by C code of allowlisted modules on use (time.strptime and
# datetime.strptime import _strptime, datetime.timetuple() imports time).
# After seccomp an import from disk would be a violation, so they are loaded
# here; and since C code imports through the job's own __import__, the
# runtime importer lets these through although the job's source may not
# name them (the static check still refuses `import _strptime`).
IMPLICIT_MODULES = ("_strptime", "time", "copyreg")

# Codecs a job may name in str.encode/bytes.decode; the codec registry
# imports encodings.<name> on first lookup, so look them up now.
WARM_CODECS = (
    "ascii", "latin-1", "utf-8", "utf-8-sig", "utf-16", "utf-16-le",
    "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "cp1252", "cp437",
    "iso8859-15", "unicode-escape", "raw-unicode-escape", "idna", "punycode",
)

REMOVED_BUILTINS = frozenset((
    "open", "exec", "eval", "compile", "input", "breakpoint", "globals",
    "locals", "vars", "help", "exit", "quit", "copyright", "credits",
    "license",
))

JOB_FILE = "<job>"
DEFAULT_OUTPUT_CAP = 1 << 20
MAX_OUTPUT_CAP = 256 << 20  # FRAME_MAX_PAYLOAD
TRACEBACK_REPEAT_LIMIT = 3


class ForbiddenImport(ImportError):
    """An import of a module outside the allowlist (or a relative one)."""


class _State:
    allowed = frozenset()   # top-level module names a job may import
    implicit = frozenset()  # modules C code may import on a job's behalf
    allowed_text = ""       # the same, for messages
    modules = {}            # importable name -> module, fixed at init()
    builtins = {}           # the job's __builtins__
    forbidden = None        # first forbidden import tried at run time
    compiling = False       # inside _compile(): CPython must not open files
    memory_frames = []      # prebuilt outcome for a MemoryError


class _Outcome(Exception):
    """Ends run_job() early with a final status and its fields."""

    def __init__(self, status, **fields):
        super().__init__(status)
        self.status = status
        self.fields = fields


# --- init, in the zygote --------------------------------------------------

def _warm_caches(allowed):
    """Run each allowlisted module's first-use paths once, so whatever they
    load or compute on first use is in memory before the fork."""
    import datetime  # loaded by _strptime in any case
    time.localtime()
    time.strftime("%c %Z")
    time.strptime("2024-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")
    datetime.datetime.now().astimezone()
    datetime.datetime.strptime("2024-01-02", "%Y-%m-%d")
    json.loads(json.dumps({"a": [1, 2.5, "\u00e9", None, True]}))
    if "re" in allowed:
        import re
        re.compile(r"(?i)[a-z]+\d*\s").findall("Warm 1 up ")
    if "decimal" in allowed:
        import decimal
        str(decimal.Decimal(1) / decimal.Decimal(3))
    if "statistics" in allowed:
        import statistics
        statistics.mean([1, 2, 3])
        statistics.stdev([1.0, 2.0, 4.0])
    random.random()


def _snapshot_modules(allowed):
    """The modules a job may import: allowlisted packages, whichever of
    their submodules are loaded now, and the implicit ones. Nothing else is
    ever loaded later."""
    return {name: mod for name, mod in list(sys.modules.items())
            if mod is not None and (name.partition(".")[0] in allowed
                                    or name in IMPLICIT_MODULES)}


def _make_builtins():
    """The job's builtins: the real ones minus the escape hatches and the
    interactive helpers, with __import__ limited to the allowlist."""
    safe = {name: value for name, value in vars(builtins).items()
            if name not in REMOVED_BUILTINS}
    safe["__import__"] = _safe_import
    return safe


def _memory_frames():
    """Built in advance: when memory is gone, building it might fail too."""
    return [("s", b"memory_limit"), ("t", b"MemoryError"),
            ("e", b"the job ran out of memory (memory limit reached)")]


def init(allowed=None):
    """Import the allowlist, warm caches, build the job environment and
    freeze the heap so forked children share it without GC churn."""
    names = tuple(DEFAULT_MODULES if allowed is None else allowed)
    for name in names + IMPLICIT_MODULES:
        __import__(name)
    for name in WARM_CODECS:
        codecs.lookup(name)
    _State.allowed = frozenset(n.partition(".")[0] for n in names)
    _State.allowed_text = ", ".join(sorted(_State.allowed))
    _State.implicit = frozenset(IMPLICIT_MODULES)
    _warm_caches(_State.allowed)
    _State.modules = _snapshot_modules(_State.allowed)
    _State.builtins = _make_builtins()
    _State.memory_frames = _memory_frames()
    # Warnings would be formatted with source lines read from disk.
    warnings.simplefilter("ignore")
    # The default hook prints tracebacks with source lines from disk.
    sys.unraisablehook = _ignore_unraisable
    sys.addaudithook(_audit)
    gc.collect()
    gc.freeze()


def _ignore_unraisable(unraisable):
    """Exceptions in __del__ and the like go nowhere: there is no stderr."""


def _audit(event, args):
    """While a job compiles, refuse CPython's own attempts to open files:
    on a SyntaxError the parser and compiler try to reread the offending
    line from a file named like the code ("<job>"), which seccomp would
    report as a violation. Refused, they fall back to the source in memory.
    Outside compilation, opens go on to the filter and count as violations."""
    if event == "open" and _State.compiling:
        raise PermissionError("no files while compiling a job")


# --- after fork, in the job child (before seccomp) ------------------------

def after_fork():
    """Give this child its own random state (CPython's at-fork hook reseeds
    too; this does not depend on it) and detach the zygote's stdio, whose
    fds now mean the job and result pipes."""
    random.seed(os.urandom(64))
    sys.stdin = sys.stdout = sys.stderr = None


# --- the import allowlist ---------------------------------------------------

def _is_allowed(name):
    return name.partition(".")[0] in _State.allowed


def _forbidden_message(name, lineno=None):
    where = "" if lineno is None else f" (line {lineno})"
    return (f"import of '{name}' is not allowed{where}; "
            f"allowed modules: {_State.allowed_text}")


def _safe_import(name, globals=None, locals=None, fromlist=(), level=0):
    """__import__ for jobs: only modules loaded at init, never a file."""
    if (level != 0 or not isinstance(name, str)
            or not (_is_allowed(name) or name in _State.implicit)):
        shown = ("." * level if isinstance(level, int) else "") + str(name)
        if _State.forbidden is None:
            _State.forbidden = shown
        raise ForbiddenImport(_forbidden_message(shown))
    module = _State.modules.get(name)
    if module is None:
        raise ModuleNotFoundError(f"No module named '{name}' in the sandbox")
    if fromlist:
        return module
    return _State.modules[name.partition(".")[0]]


def _check_imports(tree):
    """Reject the job before it runs if any import statement, anywhere in
    the code, names a module outside the allowlist or is relative."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names = ["." * node.level + (node.module or "")]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name.startswith(".") or not _is_allowed(name):
                raise _Outcome("rejected", error_type="ForbiddenImport",
                               error=_forbidden_message(name, node.lineno))


# --- output ---------------------------------------------------------------

class _Capture:
    """sys.stdout of a job: keeps the first `cap` UTF-8 bytes, counts the
    rest as truncation, never grows beyond the cap."""

    def __init__(self, cap):
        self.cap = cap
        self.parts = []
        self.size = 0
        self.truncated = False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self.cap - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(text)
            return len(text)
        data = _encode(text[:room])  # a char is at least one byte
        if len(data) > room or len(text) > room:
            self.truncated = True
            data = _cut(data, room)
        self.parts.append(data)
        self.size += len(data)
        return len(text)

    def flush(self):
        pass

    def value(self):
        return b"".join(self.parts)


def _encode(text):
    """UTF-8 that a lone surrogate cannot break."""
    return text.encode("utf-8", "backslashreplace")


def _cut(data, cap):
    """At most cap bytes, never ending inside a UTF-8 sequence."""
    if len(data) <= cap:
        return data
    return data[:cap].decode("utf-8", "ignore").encode("utf-8")


def _frames(status, cap, fields):
    """The outcome as (tag, bytes) pairs for the C side."""
    out = [("s", status.encode())]
    if fields.get("result") is not None:
        out.append(("r", fields["result"]))
    for key, tag in (("error_type", "t"), ("error", "e"), ("traceback", "b")):
        if fields.get(key):
            out.append((tag, _cut(_encode(fields[key]), cap)))
    if fields.get("stdout"):
        out.append(("o", fields["stdout"]))
    if fields.get("truncated"):
        out.append(("O", b"1"))
    if fields.get("timing"):
        out.append(("T", fields["timing"].encode()))
    return out


# --- exceptions -------------------------------------------------------------

def _safe_str(exc):
    try:
        text = str(exc)
    except BaseException:  # a job's __str__ may raise anything
        return "<exception str() failed>"
    return text if isinstance(text, str) else "<exception str() failed>"


def _type_name(exc, qualified=False):
    cls = type(exc)
    try:
        name = cls.__qualname__ if qualified else cls.__name__
        module = cls.__module__
    except BaseException:
        return "Exception"
    if not isinstance(name, str):
        return "Exception"
    if qualified and isinstance(module, str) and module not in ("builtins", "job"):
        return f"{module}.{name}"
    return name


def _user_frames(exc):
    """(lineno, function) of the traceback entries in the job's own code."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == JOB_FILE:
            frames.append((tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames


def _format_frames(frames):
    """Like traceback.format_list, lines from the job's linecache entry
    only, long runs of one recursive frame collapsed."""
    lines = []
    last, repeats = None, 0
    for frame in frames + [None]:
        if frame == last:
            repeats += 1
            if repeats < TRACEBACK_REPEAT_LIMIT:
                lines.extend(_format_frame(frame))
            continue
        if repeats >= TRACEBACK_REPEAT_LIMIT:
            more = repeats - TRACEBACK_REPEAT_LIMIT + 1
            lines.append(f"  [Previous line repeated {more} more times]\n")
        last, repeats = frame, 0
        if frame is not None:
            lines.extend(_format_frame(frame))
    return lines


def _format_frame(frame):
    lineno, name = frame
    out = [f'  File "{JOB_FILE}", line {lineno}, in {name}\n']
    source = linecache.getline(JOB_FILE, lineno or 0).strip()
    if source:
        out.append(f"    {source}\n")
    return out


def _exception_fields(exc):
    """error_type, error and the job-only traceback of an exception."""
    message = _safe_str(exc)
    last = _type_name(exc, qualified=True)
    last += f": {message}\n" if message else "\n"
    lines = ["Traceback (most recent call last):\n"]
    lines += _format_frames(_user_frames(exc)) + [last]
    return {"error_type": _type_name(exc), "error": message,
            "traceback": "".join(lines)}


# --- the job ----------------------------------------------------------------

def _invalid(message):
    return _Outcome("invalid", error_type="InvalidJob", error=message)


def _text(data, what):
    if data is None:
        raise _invalid(f"the job has no {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"{what} is not valid UTF-8: {exc}") from None


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _json(data, what, kind, default):
    """A JSON value of the expected type, or the default when absent."""
    if data is None:
        return default
    text = _text(data, what)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _invalid(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        raise _invalid(f"{what} must be a JSON {'object' if kind is dict else 'array'}")
    return value


def _output_cap(data):
    if data is None:
        return DEFAULT_OUTPUT_CAP
    if not (data.isdigit() and len(data) <= 12) or int(data) > MAX_OUTPUT_CAP:
        raise _invalid("output cap must be a decimal byte count up to "
                       f"{MAX_OUTPUT_CAP}")
    return int(data)


def _inputs(code, function, args, kwargs, calls):
    """Decode and check the job fields, before any user code runs."""
    job = {"source": _text(code, "code"), "function": _text(function, "function"),
           "args": _json(args, "args", list, []),
           "kwargs": _json(kwargs, "kwargs", dict, {}),
           "calls": _json(calls, "calls", list, None)}
    if job["calls"] is not None:
        if job["args"] or job["kwargs"]:
            raise _invalid("calls cannot be combined with args or kwargs")
        if not all(isinstance(item, list) for item in job["calls"]):
            raise _invalid("calls must be a JSON array of arrays")
    return job


def _compile(source):
    """Parse, check imports, compile; failures are `rejected`."""
    _State.compiling = True
    try:
        tree = ast.parse(source, JOB_FILE)
        _check_imports(tree)
        return compile(tree, JOB_FILE, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too
        raise _Outcome("rejected", error_type="SyntaxError",
                       error=f"{exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # NUL bytes, deep nesting
        raise _Outcome("rejected", error_type="SyntaxError",
                       error=_safe_str(exc)) from None
    finally:
        _State.compiling = False


def _run_user(fn, *args, **kwargs):
    """Call into job code: (value, None) or (None, exception). MemoryError
    ends the job as memory_limit wherever it came from."""
    try:
        return fn(*args, **kwargs), None
    except MemoryError:
        raise _Outcome("memory_limit", error_type="MemoryError",
                       error="the job ran out of memory (memory limit reached)") from None
    except BaseException as exc:  # SystemExit, KeyboardInterrupt too
        return None, exc


def _check_forbidden():
    """A forbidden import the job caught still makes it `rejected`."""
    if _State.forbidden is not None:
        raise _Outcome("rejected", error_type="ForbiddenImport",
                       error=_forbidden_message(_State.forbidden))


def _load(source, code):
    """Execute the module body; return its globals."""
    linecache.cache[JOB_FILE] = (len(source), None, source.splitlines(True), JOB_FILE)
    namespace = {"__builtins__": _State.builtins, "__name__": "job"}
    _, exc = _run_user(exec, code, namespace)
    _check_forbidden()
    if exc is not None:
        raise _Outcome("failed", **_exception_fields(exc))
    return namespace


def _function(namespace, name):
    fn = namespace.get(name) if name.isidentifier() else None
    if fn is None or not callable(fn):
        raise _Outcome("rejected", error_type="FunctionNotFound",
                       error=f"the code defines no function '{name}'")
    return fn


def _call_batch(fn, calls):
    """One call per item; each entry is a result or an error, and the first
    error becomes the job's."""
    entries, first = [], None
    for item in calls:
        value, exc = _run_user(fn, *item)
        if exc is None:
            entries.append({"result": value})
            continue
        fields = _exception_fields(exc)
        entries.append({"error_type": fields["error_type"], "error": fields["error"]})
        first = first or fields
    return entries, first


def _serialise(value, cap):
    """The result's JSON text within the cap, or `output_limit`."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except MemoryError:
        raise
    except BaseException as exc:  # TypeError, ValueError, RecursionError, job code
        raise _Outcome("output_limit", error_type="NotSerializable",
                       error=f"the result is not JSON-serialisable: {_safe_str(exc)}") from None
    data = _encode(text)
    if len(data) > cap:
        raise _Outcome("output_limit", error_type="ResultTooLarge",
                       error=f"the result is {len(data)} bytes, over the cap of {cap} bytes")
    return data


def _execute(job, cap, marks):
    """Run the job's code and function; return (status, fields)."""
    code = _compile(job["source"])
    marks.append(("compile", time.perf_counter_ns()))
    namespace = _load(job["source"], code)
    fn = _function(namespace, job["function"])
    marks.append(("load", time.perf_counter_ns()))
    if job["calls"] is None:
        value, exc = _run_user(fn, *job["args"], **job["kwargs"])
        failure = _exception_fields(exc) if exc is not None else None
    else:
        value, failure = _call_batch(fn, job["calls"])
    marks.append(("call", time.perf_counter_ns()))
    _check_forbidden()
    if failure is not None and job["calls"] is None:
        raise _Outcome("failed", **failure)
    result = _serialise(value, cap)
    marks.append(("encode", time.perf_counter_ns()))
    if failure is not None:
        return "failed", dict(failure, result=result)
    return "succeeded", {"result": result}


def _timing(marks):
    parts = [f"{name}={(t - marks[i][1]) // 1000}"
             for i, (name, t) in enumerate(marks[1:])]
    return " ".join(parts)


def _run_job(code, function, args, kwargs, calls, output_cap):
    marks = [("start", time.perf_counter_ns())]
    capture = None
    cap = DEFAULT_OUTPUT_CAP
    try:
        cap = _output_cap(output_cap)
        job = _inputs(code, function, args, kwargs, calls)
        capture = sys.stdout = _Capture(cap)
        status, fields = _execute(job, cap, marks)
    except _Outcome as outcome:
        status, fields = outcome.status, outcome.fields
    if capture is not None:
        fields["stdout"] = capture.value()
        fields["truncated"] = capture.truncated
    fields["timing"] = _timing(marks)
    return _frames(status, cap, fields)


def run_job(code, function, args, kwargs, calls, output_cap):
    """The whole job: bytes (or None when absent) in, a list of
    (tag, bytes) outcome frames out. Never raises for anything the job
    does; a MemoryError that escapes everything gives the prebuilt
    memory_limit outcome."""
    _State.forbidden = None
    try:
        return _run_job(code, function, args, kwargs, calls, output_cap)
    except MemoryError:
        return _State.memory_frames
