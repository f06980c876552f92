"""The hostile-code corpus: jobs taken from public Python jail-escape
write-ups, sandbox advisories and resource attacks, each with what must
happen to it.

A case is a job (code, function, args, limits) and:
  expect     statuses allowed with every sandbox layer on
  error_type the error_type expected then (None: not checked)
  os_expect  statuses allowed with the restricted interpreter switched off
             (worker --unsafe-disable-layers interpreter): what the OS
             layers alone must do with it
  why        one line: where the technique comes from, what it proves

The code may name canaries the test fills in per case (plain str.replace,
so braces in the code stay as they are):
  {SECRET}  a file holding a random secret: it must never show up in any
            field of the outcome
  {WRITE}   a path that must still not exist afterwards
  {CMD}     an executable script that would create {RAN}; {RAN} must not
            exist afterwards
  {PORT}    a TCP listener on 127.0.0.1 that must see no connection
Every payload ends in a real side effect (read, write, connect, exec), so
that with the interpreter layer off the OS layers are what stops it.
"""

from dataclasses import dataclass, field

# Statuses that mean "stopped or harmless" for the OS-layer-only run when
# a case does not say more: the side-effect checks are the proof there.
CONTAINED = frozenset({"rejected", "failed", "succeeded", "violation", "timeout",
                       "memory_limit", "output_limit", "crashed"})
VIOLATION = frozenset({"violation"})
REJECTED = frozenset({"rejected"})
# what an OS-layer-only run of a file/network/process escape may end as:
# the filter traps the system call; a memory or crash outcome also holds it
OS_STOPPED = frozenset({"violation", "crashed", "failed"})


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    code: str
    expect: frozenset
    error_type: str = None
    os_expect: frozenset = CONTAINED
    function: str = "f"
    args: str = None
    limits: dict = field(default_factory=dict)


# Payload fragments: what an escape does once it holds a module or builtins.
SYSTEM = "system('{CMD}')"
READ = "open('{SECRET}').read()"
WRITE = "open('{WRITE}', 'w').write('pwned')"
CONNECT = "socket.create_connection(('127.0.0.1', {PORT}))"


def case(name, why, code, expect, error_type=None, os_expect=CONTAINED, **kw):
    return Case(name, why, code, frozenset(expect), error_type, frozenset(os_expect), **kw)


def rejected(name, why, code, error_type="RestrictedSyntax", os_expect=CONTAINED, **kw):
    return case(name, why, code, REJECTED, error_type, os_expect, **kw)


CASES = [
    # --- subclass walks (Ned Batchelder, "Eval really is dangerous", 2012;
    # every pyjail cheat sheet since) -------------------------------------
    rejected(
        "subclass_walk_wrap_close",
        "object.__subclasses__() -> os._wrap_close -> __init__.__globals__['system']",
        "def f():\n"
        "    for c in ().__class__.__base__.__subclasses__():\n"
        "        if c.__name__ == '_wrap_close':\n"
        "            return c.__init__.__globals__['system']('{CMD}')\n",
        os_expect=VIOLATION),
    rejected(
        "subclass_walk_fileio",
        "subclass walk to _io.FileIO, open a file by class (test_zygote's escape)",
        "def f():\n"
        "    seen, todo = set(), [().__class__.__base__]\n"
        "    while todo:\n"
        "        c = todo.pop()\n"
        "        if c.__name__ == 'FileIO':\n"
        "            return c('{SECRET}').read().decode()\n"
        "        todo.extend(type.__subclasses__(c))\n",
        os_expect=VIOLATION),
    rejected(
        "subclass_walk_builtin_importer",
        "subclass walk to BuiltinImporter.load_module('posix')",
        "def f():\n"
        "    for c in object.__subclasses__():\n"
        "        if c.__name__ == 'BuiltinImporter':\n"
        "            return c.load_module('posix')." + SYSTEM + "\n",
        os_expect=VIOLATION),
    rejected(
        "subclass_walk_catch_warnings",
        "classic pyjail: warnings.catch_warnings()._module.__builtins__",
        "def f():\n"
        "    w = [c for c in ''.__class__.__mro__[-1].__subclasses__() if c.__name__ == 'catch_warnings'][0]()\n"
        "    return w._module.__builtins__['open']('{SECRET}').read()\n",
        os_expect=VIOLATION),
    rejected(
        "mro_attribute",
        "str.mro() reaches object without an underscore",
        "def f():\n"
        "    return [c for c in str.mro()[-1].__subclasses__()]\n"),
    rejected(
        "mro_via_getattr",
        "the same with a computed name: getattr(str, 'mro')",
        "def f():\n"
        "    return getattr(str, 'm' + 'ro')()[-1]\n",
        error_type="RestrictedAccess"),
    rejected(
        "tuple_class_base",
        "().__class__.__base__: the first step of every walk",
        "def f():\n    return repr(().__class__.__base__)\n"),

    # --- builtins recovery -----------------------------------------------------
    rejected(
        "dunder_builtins_name",
        "__builtins__ is a name in every module namespace",
        "def f():\n    return __builtins__['open']('{SECRET}').read()\n"),
    rejected(
        "func_globals",
        "a function's __globals__ holds __builtins__",
        "def f():\n    return f.__globals__['__builtins__']\n"),
    rejected(
        "stdlib_func_globals",
        "a stdlib function's __globals__ is its module: statistics.mean.__globals__['sys']",
        "import statistics\n"
        "def f():\n"
        "    return statistics.mean.__globals__['sys'].modules['os']." + SYSTEM + "\n",
        os_expect=VIOLATION),
    rejected(
        "print_self",
        "print.__self__ is the builtins module",
        "def f():\n    return print.__self__.open('{SECRET}').read()\n",
        os_expect=VIOLATION),
    rejected(
        "dunder_import",
        "__import__ is in the builtins of every job",
        "def f():\n    return __import__('os')." + SYSTEM + "\n",
        os_expect=REJECTED),
    rejected(
        "loader_load_module",
        "__loader__ / __spec__.loader of a module reach BuiltinImporter",
        "import random\n"
        "def f():\n    return random.__spec__.loader.load_module('posix')." + SYSTEM + "\n",
        os_expect=OS_STOPPED),
    rejected(
        "getattr_module_private",
        "getattr(random, '_os'): a private module attribute by a computed name",
        "import random\n"
        "def f():\n    return getattr(random, '_' + 'os')." + SYSTEM + "\n",
        error_type="RestrictedAccess", os_expect=VIOLATION),
    rejected(
        "from_import_private",
        "from random import _os",
        "from random import _os\n"
        "def f():\n    return _os." + SYSTEM + "\n",
        os_expect=VIOLATION),
    rejected(
        "getattr_computed_globals",
        "getattr with a computed name, so no '__globals__' in the source",
        "import statistics\n"
        "def f():\n"
        "    g = getattr(statistics.mean, '_' * 2 + 'globals' + '_' * 2)\n"
        "    return g['sys'].modules['os']." + SYSTEM + "\n",
        error_type="RestrictedAccess", os_expect=VIOLATION),
    rejected(
        "getattr_caught_probe",
        "probing with getattr inside try/except: still rejected once refused",
        "def f():\n"
        "    found = []\n"
        "    for name in ['real', '_' * 2 + 'class' + '_' * 2]:\n"
        "        try:\n"
        "            found.append(repr(getattr(1, name)))\n"
        "        except Exception:\n"
        "            pass\n"
        "    return found\n",
        error_type="RestrictedAccess", os_expect={"succeeded"}),
    rejected(
        "hasattr_probe",
        "hasattr() on a computed dunder name",
        "def f():\n    return hasattr(f, '_' + '_globals__')\n",
        error_type="RestrictedAccess", os_expect={"succeeded"}),
    rejected(
        "setattr_code",
        "setattr(f, '__code__', ...): swapping a function's code",
        "def g():\n    return 1\n"
        "def f():\n    setattr(g, '_' + '_code__', None)\n",
        error_type="RestrictedAccess", os_expect={"failed"}),
    rejected(
        "function_type_from_code",
        "type(f) is FunctionType: build a function from a code object and new globals",
        "def f():\n"
        "    return type(f)(getattr(f, '_' + '_code__'), {})\n",
        error_type="RestrictedAccess"),

    # --- frames: generators, coroutines, async generators, tracebacks
    # (RestrictedPython CVE-2023-37271; pyjail frame walks) ------------------
    rejected(
        "generator_gi_frame",
        "RestrictedPython CVE-2023-37271: gi_frame.f_back.f_back.f_globals",
        "def g():\n    yield 1\n"
        "def f():\n"
        "    x = g()\n"
        "    return x.gi_frame.f_back.f_back.f_globals['__builtins__']\n"),
    rejected(
        "generator_running_frame",
        "a generator reading its own frame while it runs, then walking up",
        "def g():\n"
        "    fr = box[0].gi_frame\n"
        "    while fr.f_back:\n        fr = fr.f_back\n"
        "    yield fr.f_globals['__builtins__']['open']('{SECRET}').read()\n"
        "box = []\n"
        "def f():\n    box.append(g())\n    return next(box[0])\n",
        os_expect=VIOLATION),
    rejected(
        "coroutine_cr_frame",
        "coroutine frames: cr_frame.f_back",
        "async def c():\n    return 1\n"
        "def f():\n    co = c()\n    return co.cr_frame.f_back.f_globals\n"),
    rejected(
        "async_generator_ag_frame",
        "async generator frames: ag_frame",
        "async def a():\n    yield 1\n"
        "def f():\n    return a().ag_frame.f_globals\n"),
    rejected(
        "traceback_tb_frame",
        "exception __traceback__.tb_frame.f_back walk to the runtime's frames",
        "def f():\n"
        "    try:\n        1 / 0\n"
        "    except Exception as e:\n"
        "        fr = e.__traceback__.tb_frame\n"
        "    while fr.f_back:\n        fr = fr.f_back\n"
        "    return fr.f_globals['__builtins__']['open']('{SECRET}').read()\n",
        os_expect=VIOLATION),
    rejected(
        "traceback_without_underscore",
        "tb_next / tb_frame are not dunders: caught by the introspection list",
        "def f(tb=None):\n    return tb.tb_next.tb_frame.f_locals\n"),
    rejected(
        "exception_context",
        "e.__context__ carries the runtime's exception and its traceback",
        "def f():\n"
        "    try:\n        {}['x']\n"
        "    except KeyError:\n"
        "        try:\n            1 / 0\n"
        "        except Exception as e:\n"
        "            return e.__context__.__traceback__\n"),
    rejected(
        "frame_via_attrgetter",
        "operator.attrgetter with a dotted name walks gi_frame.f_back.f_globals in C",
        "import operator\n"
        "def g():\n    yield 1\n"
        "def f():\n"
        "    return operator.attrgetter('gi_' + 'frame.f_back.f_globals')(g())\n",
        error_type="RestrictedAccess"),
    rejected(
        "code_object_co_consts",
        "co_code / co_consts: reading and rebuilding code objects",
        "def f():\n    return f.__code__.co_consts\n"),

    # --- str.format traversal (Armin Ronacher on Jinja2 2016; CVE-2016-10745,
    # CVE-2019-10906, RestrictedPython CVE-2023-41039) ------------------------
    rejected(
        "str_format_traversal",
        "'{0.__class__.__base__}'.format(x): attribute traversal inside a string",
        "def f():\n    return '{0.__class__.__base__.__subclasses__}'.format(1)\n"),
    rejected(
        "str_format_map",
        "format_map with an attribute chain",
        "def f():\n    return '{x.__init__.__globals__}'.format_map({'x': f})\n"),
    rejected(
        "str_format_via_getattr",
        "str.format reached through getattr with a computed name",
        "def f():\n    return getattr('{0.__class__}', 'for' + 'mat')(1)\n",
        error_type="RestrictedAccess"),
    rejected(
        "str_format_via_methodcaller",
        "operator.methodcaller('format', ...) calls str.format from C",
        "import operator\n"
        "def f():\n    return operator.methodcaller('for' + 'mat', 1)('{0.__class__}')\n",
        error_type="RestrictedAccess"),
    case(
        "string_formatter_get_field",
        "Zope CVE-2021-32807 / RestrictedPython: string.Formatter().get_field traverses",
        "import string\n"
        "def f():\n"
        "    return repr(string.Formatter().get_field('0.__class__', [1], {})[0])\n",
        {"failed"}, error_type="AttributeError"),
    case(
        "percent_format_mapping",
        "%-formatting looks keys up, never attributes: harmless, and allowed",
        "class D(dict):\n    pass\n"
        "def f():\n    return '%(a)s %(b)s' % {'a': 1, 'b': 2}\n",
        {"succeeded"}, os_expect={"succeeded"}),

    # --- NFKC / unicode identifiers (pyjail write-ups: fullwidth letters,
    # mathematical alphanumerics; the parser normalises identifiers) ----------
    rejected(
        "nfkc_fullwidth_dunder_attr",
        "fullwidth letters in an attribute: ｆ_globals is f_globals after NFKC",
        "def g():\n    yield 1\n"
        "def f():\n    return g().gi_frame.ｆ_globals\n"),
    rejected(
        "nfkc_math_letters",
        "mathematical italic letters: 𝘨𝘪_𝘧𝘳𝘢𝘮𝘦 normalises to gi_frame",
        "def g():\n    yield 1\n"
        "def f():\n    return g().𝘨𝘪_𝘧𝘳𝘢𝘮𝘦\n"),
    rejected(
        "nfkc_script_builtins",
        "mathematical script letters: __𝒷𝓊𝒾𝓁𝓉𝒾𝓃𝓈__ is __builtins__ to the parser",
        "def f():\n    return __𝒷𝓊𝒾𝓁𝓉𝒾𝓃𝓈__['open']('{SECRET}').read()\n"),
    rejected(
        "nfkc_format",
        "ｆｏｒｍａｔ in fullwidth is still str.format",
        "def f():\n    return '{0.__class__}'.ｆｏｒｍａｔ(1)\n"),

    # --- module attribute leaks ----------------------------------------------------
    rejected(
        "random_os",
        "random._os is the os module (test_worker's historical escape)",
        "import random\n"
        "def f():\n    return random._os." + SYSTEM + "\n",
        os_expect=VIOLATION),
    rejected(
        "random_os_write",
        "random._os.open for writing",
        "import random\n"
        "def f():\n    return random._os.open('{WRITE}', 65)\n",
        os_expect=VIOLATION),
    rejected(
        "random_os_fork",
        "fork bomb through random._os.fork",
        "import random\n"
        "def f():\n    while True:\n        random._os.fork()\n",
        os_expect={"violation", "crashed"}),
    case(
        "typing_sys",
        "typing.sys: a public module attribute that is sys",
        "import typing\n"
        "def f():\n    return typing.sys.modules['os']." + SYSTEM + "\n",
        {"failed"}, error_type="AttributeError", os_expect=VIOLATION),
    case(
        "typing_sys_from_import",
        "from typing import sys",
        "from typing import sys\n"
        "def f():\n    return sys.modules['os']." + SYSTEM + "\n",
        {"failed"}, error_type="ImportError", os_expect=VIOLATION),
    case(
        "dataclasses_inspect",
        "dataclasses.inspect.currentframe(): a non-allowlisted module through an allowed one",
        "import dataclasses\n"
        "def f():\n    return dataclasses.inspect.currentframe().f_back\n",
        {"rejected"}, error_type="RestrictedSyntax"),
    case(
        "dataclasses_sys_modules",
        "dataclasses.sys.modules['os']",
        "import dataclasses\n"
        "def f():\n    return dataclasses.sys.modules['os']." + SYSTEM + "\n",
        {"failed"}, error_type="AttributeError", os_expect=VIOLATION),
    case(
        "enum_bltns",
        "enum.bltns is the builtins module",
        "import enum\n"
        "def f():\n    return enum.bltns." + READ + "\n",
        {"failed"}, error_type="AttributeError", os_expect=VIOLATION),
    case(
        "statistics_sys",
        "statistics.sys.modules",
        "import statistics\n"
        "def f():\n    return statistics.sys.modules['posix']." + SYSTEM + "\n",
        {"failed"}, error_type="AttributeError", os_expect=VIOLATION),
    case(
        "json_scanner_submodule",
        "json.scanner is an allowlisted submodule: reachable, and harmless",
        "import json.scanner\n"
        "def f():\n    return [callable(json.scanner.make_scanner), hasattr(json.scanner, 're')]\n",
        {"succeeded"}, os_expect={"succeeded"}),
    rejected(
        "re_private_submodule",
        "re._parser / re._compiler: private submodules loaded by re",
        "import re._parser\n"
        "def f():\n    return 1\n"),
    case(
        "facade_is_read_only",
        "replacing a module function for the rest of the process",
        "import json\n"
        "def f():\n    json.dumps = lambda *a, **k: '\"forged\"'\n    return 1\n",
        {"failed"}, error_type="AttributeError", os_expect={"succeeded"}),
    case(
        "enum_global_enum",
        "enum.global_enum writes members into sys.modules[cls.__module__] (any module)",
        "import enum\n"
        "E = enum.Enum('E', [('dumps', 1)], module='json')\n"
        "def f():\n    return enum.global_enum(E)\n",
        {"failed"}, error_type="AttributeError"),

    # --- forbidden imports (import allowlist) ------------------------------------
    rejected("import_os", "import os", "import os\ndef f():\n    return os." + SYSTEM + "\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_ctypes", "ctypes: arbitrary memory and libc calls",
             "import ctypes\ndef f():\n    return ctypes.CDLL(None).system(b'{CMD}')\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_gc", "gc.get_objects()/get_referrers(): every object in the process",
             "import gc\ndef f():\n    return [o for o in gc.get_objects() if type(o) is dict and 'open' in o][0]['open']('{SECRET}').read()\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_sys", "sys.modules, sys._getframe",
             "def f():\n    import sys\n    return sys.modules['os']." + SYSTEM + "\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_signal", "signal.alarm / pthread_kill on the worker",
             "import signal\ndef f():\n    signal.alarm(1)\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_threading", "threads outliving the job",
             "import threading\ndef f():\n    threading.Thread(target=lambda: None).start()\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_thread_private", "_thread.start_new_thread",
             "import _thread\ndef f():\n    _thread.start_new_thread(print, ())\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_pickle", "pickle.loads with a __reduce__ payload (cos\\nsystem)",
             "import pickle\ndef f():\n    return pickle.loads(b\"cposix\\nsystem\\n(S'{CMD}'\\ntR.\")\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_code_types", "types.FunctionType / CodeType construction",
             "import types\ndef f():\n    return types.FunctionType(f.__code__, {})\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_socket", "a connection to the test's listener",
             "import socket\ndef f():\n    return " + CONNECT + "\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_relative", "relative import", "from . import x\ndef f():\n    return 1\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_builtins", "import builtins", "import builtins\ndef f():\n    return builtins." + READ + "\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_caught", "a forbidden import the code catches is still rejected",
             "def f():\n    try:\n        import subprocess\n    except ImportError:\n        return 'fine'\n",
             error_type="ForbiddenImport", os_expect=REJECTED),
    rejected("import_importlib", "importlib.import_module",
             "import importlib\ndef f():\n    return importlib.import_module('os')\n",
             error_type="ForbiddenImport", os_expect=REJECTED),

    # --- removed builtins --------------------------------------------------------
    case("builtin_open", "open() is not a builtin in a job",
         "def f():\n    return " + READ + "\n", {"failed"}, error_type="NameError",
         os_expect={"failed"}),
    case("builtin_exec_compile", "exec via compile: both removed",
         "def f():\n    exec(compile(\"open('{SECRET}').read()\", 'x', 'exec'))\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),
    case("builtin_eval", "eval of an escape string", "def f():\n    return eval(\"().__class__\")\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),
    case("builtin_breakpoint", "breakpoint() -> pdb -> shell", "def f():\n    breakpoint()\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),
    case("builtin_help", "help() -> pager -> shell escape", "def f():\n    help('modules')\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),
    case("builtin_license", "license() reads the LICENSE file", "def f():\n    license()\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),
    case("builtin_globals_vars", "globals()/vars()/locals() reach __builtins__",
         "def f():\n    return vars()['__builtins__']\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),
    case("builtin_input", "input() reads the job pipe", "def f():\n    return input()\n",
         {"failed"}, error_type="NameError", os_expect={"failed"}),

    # --- gadgets in allowed modules ------------------------------------------------
    rejected(
        "attrgetter_globals",
        "operator.attrgetter('__globals__') is getattr in C",
        "import operator, statistics\n"
        "def f():\n"
        "    g = operator.attrgetter('_' + '_globals__')(statistics.mean)\n"
        "    return g['sys'].modules['os']." + SYSTEM + "\n",
        error_type="RestrictedAccess", os_expect=VIOLATION),
    rejected(
        "reduce_getattr_chain",
        "functools.reduce(getattr, [...]) builds the walk from data",
        "import functools\n"
        "def f():\n"
        "    return functools.reduce(getattr, ['_' + '_class__', '_' + '_base__'], ())\n",
        error_type="RestrictedAccess"),
    rejected(
        "update_wrapper_assigned",
        "functools.update_wrapper(assigned=['__globals__']) copies any attribute",
        "import functools, statistics\n"
        "class H:\n    pass\n"
        "def f():\n"
        "    return functools.update_wrapper(H(), statistics.mean, assigned=['_' + '_globals__'])\n",
        error_type="RestrictedAccess"),
    case(
        "get_type_hints_eval",
        "typing.get_type_hints eval()s string annotations (with the real builtins): code no check saw",
        "import typing\n"
        "s = \"op\" + \"en('{SECRET}').read()\"\n"
        "class C:\n    x: s\n"
        "def f():\n    return repr(typing.get_type_hints(C))\n",
        {"failed"}, error_type="AttributeError"),
    rejected(
        "singledispatch_annotation_eval",
        "functools.singledispatch register() evaluates annotations through get_type_hints",
        "import functools\n"
        "s = \"open('{SECRET}').read()\"\n"
        "@functools.singledispatch\n"
        "def g(x):\n    return x\n"
        "def h(x: s):\n    return x\n"
        "def f():\n    g.register(h)\n    return 1\n",
        error_type="RestrictedAccess"),
    rejected(
        "dataclass_field_name_injection",
        "dataclasses generates source from field names: 'a=open(...)' injection",
        "import dataclasses\n"
        "class S(str):\n    def isidentifier(self):\n        return True\n"
        "def f():\n"
        "    return dataclasses.make_dataclass('P', [S(\"a=open('{SECRET}').read()\")])\n",
        error_type="RestrictedAccess"),
    rejected(
        "dataclass_descriptor_toctou",
        "enum functional API defines __get__ without a def; it runs inside dataclass()",
        "import enum, dataclasses\n"
        "def f():\n"
        "    D = enum.Enum('D', [('a', 1), ('_' + '_get__', lambda s, i, o: 1)])\n"
        "    @dataclasses.dataclass\n"
        "    class C:\n        x: int = D['a']\n"
        "    return 1\n",
        error_type="RestrictedAccess", os_expect=CONTAINED),
    rejected(
        "type_three_args",
        "type(name, bases, dict) makes dunder methods without a def",
        "def f():\n"
        "    C = type('C', (), {'_' + '_exit__': lambda *a: True})\n"
        "    return C\n",
        error_type="RestrictedAccess"),
    rejected(
        "metaclass_of_class",
        "type(int) would be the real type; type(numbers.Number) ABCMeta",
        "import numbers\n"
        "def f():\n"
        "    M = type(numbers.Number)\n"
        "    return M('C', (), {})\n",
        error_type="RestrictedAccess"),
    rejected(
        "metaclass_via_typing_type",
        "class M(typing.Type) resolves its base to type: a metaclass without naming type",
        "import typing\n"
        "class M(typing.Type):\n    pass\n"
        "def f():\n    return M('C', (), {})\n",
        error_type="RestrictedAccess"),
    rejected(
        "metaclass_via_get_origin",
        "typing.get_origin(typing.Type) is the real type",
        "import typing\n"
        "def f():\n"
        "    t = typing.get_origin(typing.Type)\n"
        "    return t('C', (), {})\n",
        error_type="RestrictedAccess"),
    rejected(
        "attributeerror_obj_type",
        "AttributeError.obj of a failed lookup forwarded by typing.Type is type",
        "import typing\n"
        "def f():\n"
        "    try:\n        typing.Type.nothing\n"
        "    except AttributeError as e:\n        t = e.obj\n"
        "    return t('C', (), {})\n",
        error_type="RestrictedAccess"),
    rejected(
        "match_args_gadget",
        "case E(g) looks g up by E.__match_args__ on any object E.register()ed: __globals__",
        "import collections.abc, statistics\n"
        "E = type('E', (collections.abc.Callable,), {'_' '_match_args__': ('_' '_globals__',),\n"
        "         '_' '_call__': lambda s: 0})\n"
        "E.register(type(statistics.mean))\n"
        "def f():\n"
        "    match statistics.mean:\n"
        "        case E(g):\n            return g['sys'].modules['os']." + SYSTEM + "\n",
        os_expect=VIOLATION),
    rejected(
        "match_keyword_dunder",
        "case C(__class__=c): a keyword class pattern is an attribute lookup",
        "def f():\n"
        "    match 1:\n        case int(__class__=c):\n            return c\n"),

    # --- decorators, class bodies, metaclasses, descriptors --------------------------
    case(
        "decorator_chain_exec",
        "pyjail decorator trick: @exec @input class X: pass (both builtins are gone)",
        "@exec\n@input\nclass X:\n    pass\n"
        "def f():\n    return 1\n",
        {"failed"}, error_type="NameError", os_expect={"failed"}),
    rejected(
        "init_subclass_hook",
        "__init_subclass__ runs on class creation",
        "class A:\n    def __init_subclass__(cls):\n        cls.x = 1\n"
        "def f():\n    return 1\n"),
    rejected(
        "set_name_hook",
        "__set_name__ receives the owner class",
        "class D:\n    def __set_name__(self, owner, name):\n        pass\n"
        "def f():\n    return 1\n"),
    rejected(
        "descriptor_get",
        "a __get__ descriptor called by trusted code",
        "class D:\n    def __get__(self, obj, owner):\n        return 1\n"
        "def f():\n    return 1\n"),
    rejected(
        "metaclass_class_statement",
        "class M(type) with __new__ and __prepare__",
        "class M(type):\n    def __new__(m, n, b, d):\n        return super().__new__(m, n, b, d)\n"
        "def f():\n    return 1\n"),
    rejected(
        "class_getitem_hook",
        "__class_getitem__ / __mro_entries__ hooks",
        "class A:\n    def __class_getitem__(cls, item):\n        return item\n"
        "def f():\n    return A[1]\n"),
    rejected(
        "nonlocal_class_cell",
        "nonlocal __class__: the implicit cell of methods that use super()",
        "class C:\n    def m(self):\n        def g():\n            nonlocal __class__\n            return __class__\n        return g()\n"
        "def f():\n    return 1\n"),
    rejected(
        "copy_reduce_hook",
        "__reduce__ returning (callable, args): what copy and pickle call",
        "import copy\n"
        "class R:\n    def __reduce__(self):\n        return (print, ('x',))\n"
        "def f():\n    return copy.copy(R())\n"),
    rejected(
        "global_builtins_rebind",
        "global __builtins__ in a function, then replace it",
        "def f():\n    global __builtins__\n    __builtins__ = {}\n"),
    rejected(
        "name_mangling",
        "a private name inside a class body mangles to _C__x; still a '_' name",
        "class C:\n    def m(self):\n        return self.__x\n"
        "def f():\n    return C().m()\n"),
    rejected(
        "fstring_traversal",
        "f-strings are parsed, so their expressions are checked too",
        "def f():\n    return f'{f.__globals__}'\n"),
    rejected(
        "lambda_default_dunder",
        "dunder inside a lambda default inside a comprehension",
        "def f():\n    return [(lambda x=().__class__: x)() for _ in range(1)]\n"),

    # --- interpreter resources (what the runtime itself bounds) --------------------------
    case("int_to_str_digits", "huge int -> str: 3.11's digit cap (CVE-2020-10735)",
         "def f():\n    return len(str(10 ** 100000))\n", {"failed"}, error_type="ValueError",
         os_expect={"failed"}),
    case("int_result_digits", "a huge int as the result", "def f():\n    return 7 ** 200000\n",
         {"output_limit"}, error_type="NotSerializable", os_expect={"output_limit"}),
    case("deep_recursion", "unbounded recursion", "def f():\n    return f()\n",
         {"failed"}, error_type="RecursionError", os_expect={"failed"}),
    case("deep_result", "a result nested 10**5 deep", "def f():\n    x = []\n    for i in range(100000):\n        x = [x]\n    return x\n",
         {"output_limit"}, error_type="NotSerializable", os_expect={"output_limit"}),
    case("parser_bomb_parens", "'(' * 10**5", "(" * 100000 + "\n",
         {"rejected"}, error_type="SyntaxError", os_expect={"rejected"}),
    case("parser_bomb_unary", "'-' * 10**5 + '1': the parser's stack guard (MemoryError)",
         "x = " + "-" * 100000 + "1\ndef f():\n    return x\n",
         {"rejected"}, error_type="SyntaxError", os_expect={"rejected"}),
    case("parser_bomb_chain", "1+1+...+1, 10**5 terms: recursion while compiling",
         "x = " + "1+" * 100000 + "1\ndef f():\n    return x\n",
         {"rejected"}, error_type="SyntaxError", os_expect={"rejected"}),
    case("print_flood", "printing without end", "def f():\n    while True:\n        print('y' * 1000)\n",
         {"timeout"}, os_expect={"timeout"}, limits={"limit_time_ms": "800"}),
    case("print_huge", "one huge print", "def f():\n    print('x' * (50 * 1024 * 1024))\n    return 1\n",
         {"succeeded", "memory_limit"}, os_expect={"succeeded", "memory_limit"}),
    case("memory_bomb", "allocate past the limit", "def f():\n    return len(bytearray(1 << 31))\n",
         {"memory_limit"}, os_expect={"memory_limit"}),
    case("memory_bomb_list", "grow a list until the limit",
         "def f():\n    x = []\n    while True:\n        x.append(bytearray(1 << 20))\n",
         {"memory_limit"}, os_expect={"memory_limit"}),
    case("cpu_loop", "a busy loop", "def f():\n    while True:\n        pass\n",
         {"timeout"}, os_expect={"timeout"}, limits={"limit_time_ms": "600"}),
    case("sleep_loop", "time.sleep in a loop", "import time\ndef f():\n    while True:\n        time.sleep(0.05)\n",
         {"timeout"}, os_expect={"timeout"}, limits={"limit_time_ms": "600"}),
    case("redos", "catastrophic regex backtracking", "import re\ndef f():\n    return re.match(r'(a+)+$', 'a' * 40 + 'b')\n",
         {"timeout"}, os_expect={"timeout"}, limits={"limit_time_ms": "600"}),
    case("decimal_precision", "decimal with a huge precision",
         "import decimal\ndef f():\n    decimal.getcontext().prec = 10 ** 8\n    return str(decimal.Decimal(1) / 7)[:10]\n",
         {"timeout", "memory_limit", "failed"}, os_expect={"timeout", "memory_limit", "failed"},
         limits={"limit_time_ms": "1000"}),
    case("huge_exception_message", "a 100 MB exception message: error fields are cut to the cap",
         "class E(Exception):\n    pass\n"
         "def f():\n    raise E('x' * 10 ** 8)\n",
         {"failed", "memory_limit"}, os_expect={"failed", "memory_limit"}),
    case("dir_of_module", "dir() of a module facade lists no private or module attributes",
         "import random\n"
         "def f():\n    return [n for n in dir(random) if n[:1] == '_' and n[1:2] != '_' or n == 'os']\n",
         {"succeeded"}, os_expect={"succeeded"}),

    # --- the outcome pipe ----------------------------------------------------------
    case("fake_frames_in_stdout", "printing bytes that look like outcome frames",
         "def f():\n    print('\\x06\\x00\\x00\\x00ssucceeded\\x00\\x00\\x00\\x00z')\n    return 'real'\n",
         {"succeeded"}, os_expect={"succeeded"}),
    case("lone_surrogates", "lone surrogates in result, stdout and error",
         "def f():\n    print('\\ud800')\n    raise ValueError('\\udfff')\n",
         {"failed"}, error_type="ValueError", os_expect={"failed"}),
    case("wrong_arguments", "called with arguments it does not take: an error with no job frame "
         "(the runtime died on it before this corpus)",
         "def f():\n    return 1\n", {"failed"}, error_type="TypeError", os_expect={"failed"},
         args="[1, 2]"),
    case("system_exit", "SystemExit and KeyboardInterrupt are failures, not exits",
         "def f():\n    raise SystemExit(0)\n", {"failed"}, error_type="SystemExit",
         os_expect={"failed"}),
]


def by_name():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    return {c.name: c for c in CASES}
