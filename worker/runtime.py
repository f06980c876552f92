"""sandq_runtime - the trusted Python side of a job child.

Compiled into sandq-zygote (worker/runtime_blob.S) and executed once in the
zygote, which calls init(). Every job child is a fork of that zygote; it
calls after_fork() before its seccomp filter goes on and run_job() after.
From then on the process can compute, allocate, read fd 0 and write fd 1,
nothing else: so init() imports and warms everything a job may touch, and
nothing below may open a file, import a module from disk, or look up source
lines of real files (that is why tracebacks are formatted here rather than
with the traceback module, which reads stdlib sources through linecache).

The restricted interpreter (layer 5, docs/security.md) is defence in depth
and clear errors; the boundary is the seccomp filter, the rlimits and the
process (and the namespaces where the kernel allows them). It has four
parts, all off when init(interpreter=False) (a test-only switch that leaves
the OS layers to be tested alone):

  - a static check of the parsed code before it is compiled: no identifier
    starting with '_' (after NFKC normalisation, as the parser does), no
    frame/code/generator/traceback introspection attributes, no
    str.format/format_map (attribute traversal in format strings);
  - guarded builtins: getattr/setattr/delattr/hasattr refuse the same names
    when they are computed, type() refuses the three-argument form;
  - modules as read-only facades: only public, non-module attributes (an
    allowlisted submodule stays reachable), minus the stdlib gadgets that
    evaluate strings or look up attributes by name (typing.get_type_hints,
    string.Formatter, ...) or with guarded versions of them;
  - an audit hook that refuses frame introspection, exec/compile called
    straight from job code, and the interpreter's debugging entry points
    while a job runs, whichever way they were reached.

A refusal at run time makes the job `rejected` even when the job caught the
exception, like a forbidden import. The import allowlist and the removed
builtins (open, exec, eval, ...) stay on in either mode. Everything a job
child writes is untrusted input to the supervisor.

Speed: a job child is a copy-on-write fork, and most of what it costs is
page faults on the zygote's memory, so the path a trivial job takes touches
as little as possible: code whose ASCII text cannot break a rule (checked
by one regular expression built from the same tables as the full check) is
compiled straight from source without building Python AST objects; the JSON
codecs are built once; the zygote runs a few jobs before it freezes its
heap so the runtime's bytecode is specialised and its caches are warm.
"""

import ast
import builtins
import codecs
import gc
import json
import keyword
import random
import re
import sys
import time
import types
import unicodedata
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
    "license", "__loader__", "__spec__",
))

# Attributes that lead from an ordinary object to frames, code objects,
# closures or the class hierarchy without an underscore in their name, as
# used by published jail escapes (generator -> gi_frame -> f_back ->
# f_globals, traceback -> tb_frame, str.mro()). Python 2 spellings are
# listed too: they do nothing in 3.11, but code using them is an attempt.
INTROSPECTION_ATTRS = frozenset((
    "f_back", "f_builtins", "f_code", "f_generator", "f_globals", "f_lasti",
    "f_lineno", "f_locals", "f_trace", "f_trace_lines", "f_trace_opcodes",
    "func_closure", "func_code", "func_defaults", "func_dict", "func_globals",
    "im_class", "im_func", "im_self", "cell_contents", "mro",
))
# Generator, coroutine, async generator, code and traceback attributes.
INTROSPECTION_PREFIXES = ("gi_", "cr_", "ag_", "co_", "tb_")
# str.format/format_map look attributes and items up by the names in the
# format string ("{0.__class__}"), beyond the reach of any check here.
FORMAT_ATTRS = frozenset(("format", "format_map"))

# Hints appended to the message for the '_' names honest code uses most.
NAME_HINTS = {
    "__init__": "write classes with @dataclasses.dataclass",
    "__name__": "the code is loaded as a module, not run as a script",
    "__import__": "use an import statement",
}
ATTRIBUTE_HINTS = {
    "__init__": "write classes with @dataclasses.dataclass",
    "__class__": "use type(x)",
    "__dict__": "keep data in a dict or a dataclass",
}

JOB_FILE = "<job>"
JOB_MODULE = "job"
DEFAULT_OUTPUT_CAP = 1 << 20
MAX_OUTPUT_CAP = 256 << 20  # FRAME_MAX_PAYLOAD
TRACEBACK_REPEAT_LIMIT = 3
WARMUP_ROUNDS = 40

_real_type = type
_real_getattr = getattr
_real_build_class = builtins.__build_class__


class ForbiddenImport(ImportError):
    """An import of a module outside the allowlist (or a relative one)."""


class RestrictedAccess(Exception):
    """A run-time guard of the restricted interpreter refused something;
    the job ends `rejected` even if it caught this."""


class _StateType:
    """The runtime's mutable state. An instance with slots, not class
    attributes: assigning a class attribute invalidates the type's method
    cache entries, and every such write in a job child is a page fault."""

    __slots__ = (
        "interpreter",     # the restricted interpreter is on
        "allowed",         # top-level module names a job may import
        "implicit",        # modules C code may import on a job's behalf
        "allowed_text",    # the same, for messages
        "modules",         # importable name -> facade (or module), fixed at init()
        "builtins",        # the job's __builtins__
        "forbidden",       # first forbidden import tried at run time
        "restricted",      # first run-time refusal
        "compiling",       # inside _compile(): CPython must not open files
        "guarding",        # a job is running: the audit hook enforces
        "in_audit",        # the audit hook is running (it raises events too)
        "own_traceback",   # the runtime itself is reading a traceback
        "trusted_input",   # what the runtime itself is compiling or executing
        "namespace",       # the running job's globals
        "source",          # the running job's source, for traceback lines
        "source_lines",    # the same, split when a traceback needs it
        "memory_frames",   # prebuilt outcome for a MemoryError
        "decoder",         # json decoder for the job's fields
        "make_encoder",    # builds the C JSON encoder for a result
    )

    def __init__(self):
        self.interpreter = True
        self.allowed = self.implicit = frozenset()
        self.allowed_text = ""
        self.modules, self.builtins = {}, {}
        self.forbidden = self.restricted = None
        self.compiling = self.guarding = self.in_audit = self.own_traceback = False
        self.trusted_input = self.namespace = self.source_lines = None
        self.source = ""
        self.memory_frames = []
        self.decoder = self.make_encoder = None


_State = _StateType()


class _Outcome(Exception):
    """Ends run_job() early with a final status and its fields."""

    def __init__(self, status, **fields):
        super().__init__(status)
        self.status = status
        self.fields = fields


# --- the rules on identifiers ------------------------------------------------

def _underscore_problem(name, attribute):
    hint = (ATTRIBUTE_HINTS if attribute else NAME_HINTS).get(name)
    text = f"names starting with '_' are not allowed: '{name}'"
    return f"{text} ({hint})" if hint else text


def _identifier_problem(name, attribute):
    """Why `name` may not be used (as an attribute name when `attribute`),
    or None. Checked in NFKC form, which is what the parser binds."""
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
    if name[:1] == "_" and (attribute or name != "_"):
        return _underscore_problem(name, attribute)
    if not attribute:
        return None
    if name in FORMAT_ATTRS:
        return f"'.{name}()' is not allowed (format strings can reach any attribute): use an f-string"
    if name in INTROSPECTION_ATTRS or name.startswith(INTROSPECTION_PREFIXES):
        return f"attribute '{name}' is not allowed (frame, code and class introspection)"
    return None


def _needs_full_check_pattern():
    """A regular expression that matches any ASCII source in which the full
    check could find something: an identifier starting with '_' (it follows
    a non-word character), an import, or a denied attribute name. Code it
    does not match cannot break a rule, so it is compiled without building
    the Python AST. Built from the same tables as _identifier_problem."""
    words = sorted(INTROSPECTION_ATTRS | FORMAT_ATTRS)
    prefixes = "|".join(INTROSPECTION_PREFIXES)
    return re.compile(r"\b_|\bimport\b|\b(?:%s)|\b(?:%s)\b" % (prefixes, "|".join(words)))


_NEEDS_FULL_CHECK = _needs_full_check_pattern()
_IMPORT_WORD = re.compile(r"\bimport\b")
# Every match of the pattern contains one of these; plain substring tests
# are cheaper for a child than the regular expression engine (which
# allocates), so the pattern only runs on code that contains one.
_TRIGGERS = ("_", "import") + tuple(sorted(
    word for word in INTROSPECTION_ATTRS | FORMAT_ATTRS if "_" not in word))
assert all("_" in prefix for prefix in INTROSPECTION_PREFIXES)


def needs_full_check(source):
    """False when the fast path may compile `source` directly."""
    if not source.isascii():
        return True
    for trigger in _TRIGGERS:
        if trigger in source:
            return _NEEDS_FULL_CHECK.search(source) is not None
    return False


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
    unicodedata.normalize("NFKC", "\uff46")
    if "re" in allowed:
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


def _make_builtins(interpreter):
    """The job's builtins: the real ones minus the escape hatches and the
    interactive helpers, with __import__ limited to the allowlist and, with
    the restricted interpreter, the attribute functions and type() guarded."""
    safe = {name: value for name, value in vars(builtins).items()
            if name not in REMOVED_BUILTINS}
    safe["__import__"] = _safe_import
    if interpreter:
        safe.update(getattr=_guarded_getattr, setattr=_guarded_setattr,
                    delattr=_guarded_delattr, hasattr=_guarded_hasattr,
                    type=_guarded_type, __build_class__=_guarded_build_class)
    return safe


def _memory_frames():
    """Built in advance: when memory is gone, building it might fail too."""
    return [("s", b"memory_limit"), ("t", b"MemoryError"),
            ("e", b"the job ran out of memory (memory limit reached)")]


def _json_default(value):
    raise TypeError(f"Object of type {_real_type(value).__name__} is not JSON serializable")


def _json_codecs():
    """The decoder of the job's fields and a factory of the result encoder,
    built once: json.loads/dumps with options build both on every call."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    c_make_encoder = json.encoder.c_make_encoder
    if c_make_encoder is None:  # no _json accelerator: the slow, same output
        encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
        return decoder, lambda: (lambda value, _level: (encoder.encode(value),))

    def make_encoder():
        return c_make_encoder({}, _json_default, json.encoder.encode_basestring,
                              None, ": ", ", ", False, False, False)
    return decoder, make_encoder


def init(allowed=None, interpreter=True):
    """Import the allowlist, warm caches, build the job environment, run a
    few jobs, and freeze the heap so forked children share it without GC
    churn. interpreter=False (tests only) leaves out the restricted
    interpreter: no static rules, no guarded builtins, real modules instead
    of facades, an audit hook that only keeps compilation off the disk."""
    names = tuple(DEFAULT_MODULES if allowed is None else allowed)
    for name in names + IMPLICIT_MODULES:
        __import__(name)
    for name in WARM_CODECS:
        codecs.lookup(name)
    _State.interpreter = bool(interpreter)
    _State.allowed = frozenset(n.partition(".")[0] for n in names)
    _State.allowed_text = ", ".join(sorted(_State.allowed))
    _State.implicit = frozenset(IMPLICIT_MODULES)
    _warm_caches(_State.allowed)
    modules = _snapshot_modules(_State.allowed)
    _State.modules = _build_facades(modules) if interpreter else modules
    _State.builtins = _make_builtins(_State.interpreter)
    _State.memory_frames = _memory_frames()
    _State.decoder, _State.make_encoder = _json_codecs()
    # 3.11 caps int<->str conversions at 4300 digits unless configured
    # otherwise; make sure the cap is on (a job cannot reach sys to lift it).
    sys.set_int_max_str_digits(sys.int_info.default_max_str_digits)
    # Warnings would be formatted with source lines read from disk.
    warnings.simplefilter("ignore")
    # The default hook prints tracebacks with source lines from disk.
    sys.unraisablehook = _ignore_unraisable
    sys.addaudithook(_audit)
    _warm_up()
    gc.collect()
    gc.freeze()


def _ignore_unraisable(unraisable):
    """Exceptions in __del__ and the like go nowhere: there is no stderr."""


# Jobs the zygote runs before it forks anything: each path a child takes is
# then specialised bytecode with warm caches (the children only read it).
WARMUP_JOBS = (
    (b"def f(xs):\n    return sum(xs)/len(xs)\n", b"f", b"[[1, 2, 3]]", None, None, None),
    (b"import math\n\ndef f(x, _=0):\n    print(x)\n    return [math.sqrt(x), f'{x:>3}']\n",
     b"f", b"[4]", b"{}", None, b"65536"),
    (b"def g(x):\n    return 1 / x\n\ndef f(x):\n    return g(x)\n", b"f", None, None,
     b"[[1], [0]]", None),
    (b"def f():\n    return x.__class__\n", b"f", None, None, None, None),
)


def _warm_up():
    saved = sys.stdout
    try:
        for _ in range(WARMUP_ROUNDS):
            for job in WARMUP_JOBS:
                run_job(*job)
    finally:
        sys.stdout = saved
        _State.namespace = None
        _State.source = ""
        _State.source_lines = None
        _State.guarding = False


# --- after fork, in the job child (before seccomp) ------------------------

def after_fork():
    """Detach the zygote's stdio, whose fds now mean the job and result
    pipes. The random module reseeds itself from os.urandom in every child
    (it registers os.register_at_fork(after_in_child=...), which
    PyOS_AfterFork_Child runs), so children never share a random state."""
    sys.stdin = sys.stdout = sys.stderr = None


# --- the audit hook -----------------------------------------------------------

# CPython raises "object.__getattr__" for these; frames are refused outright
# while a job runs (nothing a job may call needs them), code objects only
# when job code itself is asking (inspect reads __code__ for dataclasses).
AUDITED_FRAME_ATTRS = frozenset(("gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_code"))
AUDITED_CODE_ATTRS = frozenset(("__code__", "gi_code", "cr_code", "ag_code"))
# Refused while a job runs, wherever they come from.
AUDIT_REFUSED = frozenset((
    "sys._current_frames", "sys._current_exceptions", "gc.get_objects",
    "gc.get_referrers", "gc.get_referents", "function.__new__", "code.__new__",
    "marshal.load", "marshal.loads", "pickle.find_class", "builtins.breakpoint",
    "builtins.input", "cpython.run_command", "cpython.run_module",
))
# Refused when job code calls them directly (the stdlib uses them).
AUDIT_NOT_FROM_JOB = frozenset((
    "exec", "compile", "sys._getframe", "sys.settrace", "sys.setprofile",
))


def _audit(event, args):
    """While a job compiles, refuse CPython's own attempts to open files:
    on a SyntaxError the parser and compiler try to reread the offending
    line from a file named like the code ("<job>"), which seccomp would
    report as a violation. Refused, they fall back to the source in memory.
    Outside compilation, opens go on to the filter and count as violations.
    While a job runs under the restricted interpreter, refuse the events
    that mean introspection or code execution reached some other way."""
    if event == "open":
        if _State.compiling:
            raise PermissionError("no files while compiling a job")
        return
    if not _State.guarding or _State.in_audit:
        return
    if event in AUDIT_NOT_FROM_JOB:
        if args and args[0] is _State.trusted_input:
            return  # the runtime's own compile()/exec() of the job
        _State.in_audit = True
        try:
            from_job = sys._getframe(1).f_globals is _State.namespace
        finally:
            _State.in_audit = False
        if from_job:
            _refuse(f"'{event}' called from the job is not allowed")
    elif event == "object.__getattr__":
        _audit_getattr(args[1])
    elif event in AUDIT_REFUSED:
        _refuse(f"'{event}' is not allowed in a job")
    elif event in ("object.__setattr__", "object.__delattr__") and args[1] == "__code__":
        _refuse("replacing a function's code is not allowed")


def _audit_getattr(name):
    if name in AUDITED_FRAME_ATTRS:
        if not _State.own_traceback:
            _refuse(f"attribute '{name}' is not allowed (frame introspection)")
    elif name in AUDITED_CODE_ATTRS:
        _State.in_audit = True
        try:
            # 0: this function, 1: _audit, 2: whoever asked.
            from_job = sys._getframe(2).f_globals is _State.namespace
        finally:
            _State.in_audit = False
        if from_job:
            _refuse(f"attribute '{name}' is not allowed (code introspection)")


# --- run-time guards -----------------------------------------------------------

def _refuse(message):
    """Record the first refusal (the job will be `rejected`) and raise."""
    if _State.restricted is None:
        _State.restricted = message
    raise RestrictedAccess(message)


def _exact_name(name, what):
    """name as an exact str: a str subclass could answer our checks with
    its own methods and the real lookup with its data."""
    if _real_type(name) is str:
        return name
    if isinstance(name, str):
        return str.__str__(name)
    raise TypeError(f"{what}(): attribute name must be string, "
                    f"not '{_real_type(name).__name__}'")


def _checked_attr(name, what):
    name = _exact_name(name, what)
    problem = _identifier_problem(name, attribute=True)
    if problem:
        _refuse(f"{what}(): {problem}")
    return name


def _named(name):
    """Give a guard the name of the builtin it stands for (in tracebacks
    and reprs the job sees getattr, not _guarded_getattr)."""
    def rename(fn):
        fn.__name__ = fn.__qualname__ = name
        return fn
    return rename


@_named("getattr")
def _guarded_getattr(obj, name, *default):
    return _real_getattr(obj, _checked_attr(name, "getattr"), *default)


@_named("hasattr")
def _guarded_hasattr(obj, name):
    return hasattr(obj, _checked_attr(name, "hasattr"))


@_named("setattr")
def _guarded_setattr(obj, name, value):
    setattr(obj, _checked_attr(name, "setattr"), value)


@_named("delattr")
def _guarded_delattr(obj, name):
    delattr(obj, _checked_attr(name, "delattr"))


class _TypeGuard:
    """The job's `type`. type(x) as usual for instances; for a class it is
    this object, so `type(int) is type` still holds and no metaclass (type,
    ABCMeta, EnumType) is handed out: called with three arguments a
    metaclass builds a class from an arbitrary dict (dunder methods and
    __match_args__ without a def). The three-argument form is refused.
    type[int] works, as an alias of this object, not of the real type (an
    alias forwards attribute lookups to its origin)."""

    __slots__ = ()
    __module__ = "builtins"  # type[int] and typing.Type show as usual

    def __getattr__(self, name):
        if name in ("__qualname__", "__name__"):
            return "type"
        raise AttributeError(f"type object 'type' has no attribute '{name}'")

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs:
            value = args[0]
            if isinstance(value, _real_type) or value is self:
                return self
            return _real_type(value)
        if len(args) == 3 or kwargs:
            _refuse("type() with three arguments is not allowed: use a class statement")
        raise TypeError("type() takes 1 or 3 arguments")

    def __getitem__(self, item):
        return types.GenericAlias(self, item)

    def __repr__(self):
        return "<class 'type'>"


_guarded_type = _TypeGuard()


def _is_metaclass(value):
    return isinstance(value, _real_type) and issubclass(value, _real_type)


@_named("__build_class__")
def _guarded_build_class(func, name, *bases, **kwargs):
    """The class statement. A class deriving from type is a metaclass, and
    a metaclass called with three arguments is type(name, bases, dict);
    bases can reach type without naming it (class M(typing.Type)), so they
    are checked once resolved, and the result once built."""
    if any(base is _guarded_type or _is_metaclass(base) for base in types.resolve_bases(bases)):
        _refuse(f"class {name}: classes deriving from type (metaclasses) are not allowed")
    cls = _real_build_class(func, name, *bases, **kwargs)
    if _is_metaclass(cls):
        _refuse(f"class {name}: classes deriving from type (metaclasses) are not allowed")
    return cls


def _no_job_code(fn, *args, **kwargs):
    """Call a stdlib code generator (dataclasses builds source text from
    field names and exec()s it with the real builtins) with no job code
    allowed to run meanwhile, so names checked before the call cannot
    change under it (a job descriptor or metaclass hook would be the only
    way). Honest dataclass creation never calls back into the job. A trace
    function sees every Python frame start (and nothing else, as it
    returns None)."""
    def tracer(frame, event, arg):
        if frame.f_globals is _State.namespace:
            _refuse("job code may not run while a dataclass is generated "
                    "(descriptor or metaclass hook)")
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn(*args, **kwargs)
    finally:
        sys.settrace(previous)


# --- module facades --------------------------------------------------------------

class SandboxModule(types.ModuleType):
    """A job's view of an allowlisted module: a module object holding only
    what the job may use. Reads are a plain module dict lookup, as fast as
    the real module; writes are refused, so no job can swap a function
    under another part of its own process."""

    def __setattr__(self, name, value):
        raise AttributeError(f"module '{self.__name__}' is read-only in the sandbox")

    def __delattr__(self, name):
        raise AttributeError(f"module '{self.__name__}' is read-only in the sandbox")

    def __repr__(self):
        return f"<module '{self.__name__}' (sandbox)>"


# Never exposed: the types that build functions, code or frames from parts.
_HIDDEN_TYPES = (types.FunctionType, types.CodeType, types.FrameType,
                 types.TracebackType, types.CellType, types.ModuleType,
                 types.MethodType, types.GeneratorType, types.CoroutineType)

# Public names hidden from a facade, with the reason.
HIDDEN_ATTRS = {
    # Formatter().format/get_field traverse attributes named in a string
    "string": ("Formatter",),
    # register() evaluates annotations through typing.get_type_hints
    "functools": ("singledispatchmethod",),
    # get_type_hints evaluates string annotations with eval() (a runtime
    # string in an annotation becomes code that no check saw); Type is
    # replaced by an alias of the job's type (_guard_typing) when that can
    # be built, and stays hidden otherwise
    "typing": ("get_type_hints", "Type"),
    # writes the members into sys.modules[cls.__module__], any module
    "enum": ("global_enum",),
}


def _guard_operator(module):
    real_attrgetter, real_methodcaller = module.attrgetter, module.methodcaller

    @_named("attrgetter")
    def attrgetter(attr, *attrs):
        names = []
        for name in (attr,) + attrs:
            name = _exact_name(name, "attrgetter")
            for part in name.split("."):
                _checked_attr(part, "attrgetter")
            names.append(name)
        return real_attrgetter(*names)

    @_named("methodcaller")
    def methodcaller(name, /, *args, **kwargs):
        return real_methodcaller(_checked_attr(name, "methodcaller"), *args, **kwargs)
    return {"attrgetter": attrgetter, "methodcaller": methodcaller}


def _guard_functools(module):
    real_update_wrapper, real_singledispatch = module.update_wrapper, module.singledispatch
    assigned_default, updated_default = module.WRAPPER_ASSIGNMENTS, module.WRAPPER_UPDATES

    def names_within(names, allowed, what):
        names = tuple(names)
        for name in names:
            if _real_type(name) is not str or name not in allowed:
                _refuse(f"functools.{what}: only the default attribute names may be copied")
        return names

    @_named("update_wrapper")
    def update_wrapper(wrapper, wrapped, assigned=assigned_default, updated=updated_default):
        assigned = names_within(assigned, assigned_default, "update_wrapper")
        updated = names_within(updated, updated_default, "update_wrapper")
        return real_update_wrapper(wrapper, wrapped, assigned, updated)

    @_named("wraps")
    def wraps(wrapped, assigned=assigned_default, updated=updated_default):
        assigned = names_within(assigned, assigned_default, "wraps")
        updated = names_within(updated, updated_default, "wraps")
        return module.partial(update_wrapper, wrapped=wrapped, assigned=assigned,
                              updated=updated)

    @_named("singledispatch")
    def singledispatch(func):
        dispatcher = real_singledispatch(func)
        real_register = dispatcher.register

        def register(cls, func=None):
            if func is None and not isinstance(cls, (type, types.UnionType)):
                _refuse("singledispatch: register with an explicit class, "
                        "e.g. @f.register(int) (annotations are not evaluated)")
            return real_register(cls, func)
        dispatcher.register = register
        return dispatcher
    return {"update_wrapper": update_wrapper, "wraps": wraps,
            "singledispatch": singledispatch}


def _field_name_ok(name):
    return (name.isidentifier() and not keyword.iskeyword(name)
            and (name == "_" or _identifier_problem(name, attribute=True) is None))


def _check_field_name(name):
    if _real_type(name) is not str:
        _refuse(f"a dataclass field name must be a str, not {_real_type(name).__name__}")
    if not _field_name_ok(name):
        _refuse(f"dataclass field name {name!r} is not a plain identifier")


def _check_base_fields(cls):
    """The fields a dataclass inherits, read the way dataclasses reads them
    (each name ends up in generated source text)."""
    for base in cls.__mro__:
        fields = _real_getattr(base, "__dataclass_fields__", None)
        if fields is not None:
            for field in fields.values():
                _check_field_name(field.name)


def _guard_dataclasses(module):
    real_dataclass, real_make_dataclass = module.dataclass, module.make_dataclass

    def checked_dataclass(cls, options):
        if not isinstance(cls, type):
            raise TypeError("dataclass() should be applied to a class")
        _check_base_fields(cls)
        for name in cls.__dict__.get("__annotations__", {}):
            _check_field_name(name)
        return real_dataclass(cls, **options)

    @_named("dataclass")
    def dataclass(cls=None, /, **options):
        def wrap(cls):
            return _no_job_code(checked_dataclass, cls, options)
        return wrap if cls is None else wrap(cls)

    def checked_make(cls_name, fields, bases, options):
        for item in fields:
            if isinstance(item, str):
                _check_field_name(item)
            elif len(item) in (2, 3):
                _check_field_name(item[0])
        for base in bases:
            _check_base_fields(base)
        return real_make_dataclass(cls_name, fields, bases=bases, **options)

    @_named("make_dataclass")
    def make_dataclass(cls_name, fields, *, bases=(), **options):
        return _no_job_code(checked_make, cls_name, list(fields), tuple(bases), options)
    return {"dataclass": dataclass, "make_dataclass": make_dataclass}


def _guard_typing(module):
    """typing.get_origin(typing.Type) is the real type; hand out the
    guarded one instead (see _guarded_type)."""
    real_get_origin, real_get_args = module.get_origin, module.get_args
    try:
        # typing.Type forwards attribute lookups to the real type, and an
        # AttributeError from there carries it (e.obj): alias ours instead.
        alias = module._SpecialGenericAlias(_guarded_type, 1, inst=False, name="Type")
    except (AttributeError, TypeError):
        alias = None

    def sandboxed(value):
        return _guarded_type if _is_metaclass(value) else value

    @_named("get_origin")
    def get_origin(tp):
        return sandboxed(real_get_origin(tp))

    @_named("get_args")
    def get_args(tp):
        return tuple(sandboxed(arg) for arg in real_get_args(tp))
    guarded = {"get_origin": get_origin, "get_args": get_args}
    if alias is not None:
        guarded["Type"] = alias
    return guarded


GUARDED_ATTRS = {
    "typing": _guard_typing,
    "operator": _guard_operator,
    "functools": _guard_functools,
    "dataclasses": _guard_dataclasses,
}


def _exposed(name, key, value, modules):
    """Whether facade `name` shows attribute `key` (value `value`)."""
    if key[:1] == "_" or key in HIDDEN_ATTRS.get(name, ()):
        return False
    if isinstance(value, types.ModuleType):
        # only a real submodule that is itself importable: collections.abc,
        # not typing.sys or dataclasses.inspect
        return (_real_getattr(value, "__name__", None) == f"{name}.{key}"
                and value.__name__ in modules)
    if isinstance(value, type):
        # metaclasses build classes from arbitrary dicts like type(a, b, c)
        return not issubclass(value, type) and value not in _HIDDEN_TYPES
    return True


def _build_facades(modules):
    """name -> SandboxModule for every importable module, built once in
    the zygote. Submodule attributes point at the submodule's facade."""
    facades = {name: SandboxModule(name) for name in modules
               if not any(part[:1] == "_" for part in name.split("."))
               or name in IMPLICIT_MODULES}
    for name, facade in facades.items():
        module = modules[name]
        exposed = {key: value for key, value in vars(module).items()
                   if _exposed(name, key, value, facades)}
        for key, value in exposed.items():
            if isinstance(value, types.ModuleType):
                exposed[key] = facades[value.__name__]
        guard = GUARDED_ATTRS.get(name)
        if guard is not None:
            exposed.update(guard(module))
        public = _real_getattr(module, "__all__", None)
        if isinstance(public, (list, tuple)):
            exposed["__all__"] = [key for key in public if key in exposed]
        exposed["__doc__"] = module.__doc__
        vars(facade).update(exposed)
    return facades


# --- the import allowlist ---------------------------------------------------

def _is_allowed(name):
    return name.partition(".")[0] in _State.allowed


def _forbidden_message(name, lineno=None):
    where = "" if lineno is None else f" (line {lineno})"
    return (f"import of '{name}' is not allowed{where}; "
            f"allowed modules: {_State.allowed_text}")


def _safe_import(name, globals=None, locals=None, fromlist=(), level=0):
    """__import__ for jobs: only modules loaded at init, never a file. A job
    gets facades; C code importing through it (PyImport_Import) ignores
    the value and reads sys.modules."""
    if (level != 0 or _real_type(name) is not str
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


# --- the static check -------------------------------------------------------

def _rejected(problem, line):
    return _Outcome("rejected", error_type="RestrictedSyntax", error=f"{problem} (line {line})")


def _check_import(node, line):
    if _real_type(node) is ast.Import:
        names = [alias.name for alias in node.names]
    elif node.level:
        names = ["." * node.level + (node.module or "")]
    else:
        names = [node.module or ""]
    for name in names:
        if name.startswith(".") or not _is_allowed(name):
            raise _Outcome("rejected", error_type="ForbiddenImport",
                           error=_forbidden_message(name, line))


def _check_dotted(name, line):
    for part in name.split("."):
        if part != "*":
            _check_identifier(part, False, line)


def _check_identifier(name, attribute, line):
    problem = _identifier_problem(name, attribute)
    if problem:
        raise _rejected(problem, line)


_VISIT_FIELDS = {}


def _visit_fields(kind):
    """The fields of an AST class worth visiting (not ctx/type_comment)."""
    fields = _VISIT_FIELDS.get(kind)
    if fields is None:
        fields = tuple(f for f in kind._fields if f not in ("ctx", "type_comment"))
        _VISIT_FIELDS[kind] = fields
    return fields


def _check_node(node, line, children):
    """Check the identifiers of one node; append its child nodes."""
    kind = _real_type(node)
    if kind is ast.Import or kind is ast.ImportFrom:
        _check_import(node, line)
    if kind is ast.MatchClass and node.patterns:
        # C code reads the names to look up from the class's
        # __match_args__, on any object the class claims as an instance.
        raise _rejected("positional sub-patterns in class patterns are not allowed "
                        "(they look attributes up by names the class supplies): "
                        "use keywords, case Point(x=x, y=y), or case int() as x", line)
    attribute = kind is ast.Attribute or kind is ast.MatchClass
    state = node.__dict__
    for field in _visit_fields(kind):
        value = state.get(field)
        if _real_type(value) is str:
            if (kind is ast.alias and field == "name") or kind is ast.ImportFrom:
                _check_dotted(value, line)  # dotted module names, '*'
            else:
                _check_identifier(value, attribute, line)
        elif _real_type(value) is list:
            for item in value:
                if _real_type(item) is str:
                    _check_identifier(item, attribute, line)
                else:
                    children.append(item)
        elif isinstance(value, ast.AST):
            children.append(value)


def check_tree(tree):
    """The static rules over a whole module, in source order (the first
    problem is reported): imports on the allowlist, identifiers."""
    stack = [(tree, 1)]
    children = []
    while stack:
        node, line = stack.pop()
        if _real_type(node) is ast.Constant:
            continue
        line = node.__dict__.get("lineno", line)
        children.clear()
        if _State.interpreter:
            _check_node(node, line, children)
        else:
            _check_imports_only(node, line, children)
        stack.extend((child, line) for child in reversed(children))


def _check_imports_only(node, line, children):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        _check_import(node, line)
    children.extend(ast.iter_child_nodes(node))


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
    cls = _real_type(exc)
    try:
        name = cls.__qualname__ if qualified else cls.__name__
        module = cls.__module__
    except BaseException:
        return "Exception"
    if not isinstance(name, str):
        return "Exception"
    if qualified and isinstance(module, str) and module not in ("builtins", JOB_MODULE):
        return f"{module}.{name}"
    return name


def _user_frames(exc):
    """(lineno, function) of the traceback entries in the job's own code.
    The audit hook refuses tb_frame/f_code to everyone else while a job
    runs; no job code runs in here."""
    frames = []
    _State.own_traceback = True
    try:
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename == JOB_FILE:
                frames.append((tb.tb_lineno, code.co_name))
            tb = tb.tb_next
    finally:
        _State.own_traceback = False
    return frames


def _format_frames(frames):
    """Like traceback.format_list, lines from the job's own source only,
    long runs of one recursive frame collapsed."""
    lines = []
    last, repeats = None, 0
    for frame in frames + [None]:  # None: flush the last run
        if frame is not None and frame == last:
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


def _source_line(lineno):
    """Line `lineno` of the running job's source, stripped ('' if none);
    the source is split only when a traceback needs it."""
    if _State.source_lines is None:
        _State.source_lines = _State.source.splitlines()
    if lineno and 0 < lineno <= len(_State.source_lines):
        return _State.source_lines[lineno - 1].strip()
    return ""


def _format_frame(frame):
    lineno, name = frame
    out = [f'  File "{JOB_FILE}", line {lineno}, in {name}\n']
    source = _source_line(lineno)
    if source:
        out.append(f"    {source}\n")
    return out


def _message(exc):
    """str(exc), with a word on limits the job cannot lift itself."""
    message = _safe_str(exc)
    if _real_type(exc) is ValueError and message.startswith("Exceeds the limit ("):
        message += " (the limit is fixed in the sandbox)"
    return message


def _exception_fields(exc):
    """error_type, error and the job-only traceback of an exception."""
    message = _message(exc)
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


def _decode(text):
    """json.loads without its Python layers for the usual case (a value
    with no surrounding whitespace); anything else goes through the full
    decoder, which also words the errors."""
    try:
        value, end = _State.decoder.scan_once(text, 0)
        if end == len(text) or not text[end:].strip(" \t\n\r"):
            return value
    except (StopIteration, ValueError):
        pass
    return _State.decoder.decode(text)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# The supervisor's rules for JSON fields (common/job.h), which it applies
# itself only to fields up to JSON_VALIDATE_MAX bytes; bigger ones are
# checked here, in the sandbox.
JSON_MAX_DEPTH = 64
JSON_VALIDATE_MAX = 64 * 1024
CALLS_MAX_ITEMS = 100000
_JSON_STRING = None


def _json_depth(text):
    """Nesting depth of JSON text, from its brackets outside strings."""
    global _JSON_STRING
    if _JSON_STRING is None:
        _JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _json(data, what, kind, default):
    """A JSON value of the expected type, or the default when absent."""
    if data is None:
        return default
    text = _text(data, what)
    if len(data) > JSON_VALIDATE_MAX and _json_depth(text) > JSON_MAX_DEPTH:
        raise _invalid(f"'{what}' is nested deeper than {JSON_MAX_DEPTH} levels")
    try:
        value = _decode(text)
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
           "args": [] if args is None else _json(args, "args", list, []),
           "kwargs": {} if kwargs is None else _json(kwargs, "kwargs", dict, {}),
           "calls": None if calls is None else _json(calls, "calls", list, None)}
    if job["calls"] is not None:
        if job["args"] or job["kwargs"]:
            raise _invalid("calls cannot be combined with args or kwargs")
        if not all(isinstance(item, list) for item in job["calls"]):
            raise _invalid("calls must be a JSON array of arrays")
        if len(job["calls"]) > CALLS_MAX_ITEMS:
            raise _invalid(f"'calls' has {len(job['calls'])} items, over the cap "
                           f"of {CALLS_MAX_ITEMS}")
    return job


def _parse_checked(source):
    """Compile, applying the static rules. Code whose text cannot break a
    rule (needs_full_check) is compiled from source; the rest is parsed,
    checked node by node and compiled from the checked tree."""
    if _State.interpreter:
        full = needs_full_check(source)
    else:
        full = _IMPORT_WORD.search(source) is not None
    _State.trusted_input = source
    if not full:
        return compile(source, JOB_FILE, "exec", dont_inherit=True)
    tree = ast.parse(source, JOB_FILE)
    check_tree(tree)
    _State.trusted_input = tree
    return compile(tree, JOB_FILE, "exec", dont_inherit=True)


def _compile(source):
    """Parse, check, compile; failures are `rejected`."""
    _State.compiling = True
    try:
        return _parse_checked(source)
    except SyntaxError as exc:  # IndentationError and TabError too
        raise _Outcome("rejected", error_type="SyntaxError",
                       error=f"{exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # NUL bytes, deep nesting
        raise _Outcome("rejected", error_type="SyntaxError",
                       error=_safe_str(exc)) from None
    except MemoryError:  # the parser's own stack guard raises MemoryError
        raise _Outcome("rejected", error_type="SyntaxError",
                       error="the code is nested too deeply or too large to compile") from None
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


def _check_refusals():
    """A forbidden import or a refused operation that the job caught still
    makes it `rejected`."""
    if _State.forbidden is not None:
        raise _Outcome("rejected", error_type="ForbiddenImport",
                       error=_forbidden_message(_State.forbidden))
    if _State.restricted is not None:
        raise _Outcome("rejected", error_type="RestrictedAccess", error=_State.restricted)


def _load(source, code):
    """Execute the module body; return its globals."""
    namespace = {"__builtins__": _State.builtins, "__name__": JOB_MODULE}
    _State.namespace = namespace
    _State.source = source
    _State.source_lines = None
    _State.trusted_input = code
    _, exc = _run_user(exec, code, namespace)
    _State.trusted_input = None
    fields = _exception_fields(exc) if exc is not None else None  # may run job code
    if _State.forbidden is not None or _State.restricted is not None:
        _check_refusals()
    if fields is not None:
        raise _Outcome("failed", **fields)
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
        text = "".join(_State.make_encoder()(value, 0))
    except MemoryError:
        raise
    except BaseException as exc:  # TypeError, ValueError, RecursionError, job code
        raise _Outcome("output_limit", error_type="NotSerializable",
                       error=f"the result is not JSON-serialisable: {_message(exc)}") from None
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
    if _State.forbidden is not None or _State.restricted is not None:
        _check_refusals()
    if failure is not None and job["calls"] is None:
        raise _Outcome("failed", **failure)
    result = _serialise(value, cap)
    marks.append(("encode", time.perf_counter_ns()))
    if _State.forbidden is not None or _State.restricted is not None:
        _check_refusals()  # the encoder may have run job code
    if failure is not None:
        return "failed", dict(failure, result=result)
    return "succeeded", {"result": result}


def _timing(marks):
    """"compile=12 load=3 ..." in microseconds (the 'T' debug frame)."""
    parts = []
    previous = marks[0][1]
    for name, t in marks[1:]:
        parts.append("%s=%d" % (name, (t - previous) // 1000))
        previous = t
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
    _State.restricted = None
    _State.guarding = _State.interpreter
    try:
        return _run_job(code, function, args, kwargs, calls, output_cap)
    except MemoryError:
        return _State.memory_frames
