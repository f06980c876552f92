"""Integration tests of sandq-zygote, driven directly over its control
socket (no supervisor, no Redis).

Run: /usr/bin/python3 -m pytest tests/integration/test_zygote.py
The binary comes from $SANDQ_BUILD (default <repo>/build).
SANDQ_BENCH=N additionally times N sequential trivial jobs.
"""

import errno
import json
import os
import select
import signal
import socket
import statistics
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zygote_proto as zp  # noqa: E402

# x86_64 syscall numbers a sandboxed job must never get through.
DANGEROUS_SYSCALLS = {
    2: "open", 257: "openat", 437: "openat2", 59: "execve", 322: "execveat",
    56: "clone", 435: "clone3", 57: "fork", 58: "vfork", 13: "rt_sigaction",
    41: "socket", 42: "connect", 62: "kill", 200: "tkill", 234: "tgkill",
    101: "ptrace", 165: "mount", 321: "bpf", 16: "ioctl", 4: "stat",
    262: "newfstatat", 87: "unlink", 263: "unlinkat",
}

MEAN = "def mean(xs):\n    return sum(xs) / len(xs)\n"


def start_zygote(*args):
    """A zygote with these flags and its stderr log; closed by the caller's
    fixture through stop_zygote()."""
    if not os.access(zp.ZYGOTE, os.X_OK):
        pytest.fail(f"{zp.ZYGOTE} is missing: run `make build/sandq-zygote` first")
    log = tempfile.TemporaryFile()
    z = zp.Zygote(args=list(args), stderr=log.fileno())
    z.log = log
    z.wait_ready()
    return z


def stop_zygote(z):
    status = z.close()
    z.log.seek(0)
    sys.stderr.write(z.log.read().decode(errors="replace"))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.fixture(scope="module")
def zygote():
    z = start_zygote()
    yield z
    stop_zygote(z)


@pytest.fixture(scope="module")
def bare_zygote():
    """Every OS layer, but no restricted interpreter: what code that fully
    escaped the language layer meets. The escape tests below use it, so they
    test seccomp rather than the interpreter's static rules."""
    z = start_zygote("--unsafe-disable-layers", "interpreter")
    yield z
    stop_zygote(z)


def run(z, code, function="f", args="[]", kwargs=None, calls=None, output_cap=65536, **limits):
    return z.run(zp.job_frames(code, function, args, kwargs, calls, output_cap), **limits)


def assert_clean_exit(o):
    assert o.exit_code == zp.ZEXIT_OK, o
    assert o.frames[-1] == ("Z", b""), o


# --- READY and the happy path ------------------------------------------------

def test_ready_fields(zygote):
    r = zygote.ready
    assert r["type"] == zp.ZMSG_READY
    assert r["version"] == zp.ZPROTO_VERSION
    assert r["pid"] == zygote.pid
    for layer in (zp.ZLAYER_SECCOMP, zp.ZLAYER_RLIMITS, zp.ZLAYER_NO_NEW_PRIVS,
                  zp.ZLAYER_CAPS, zp.ZLAYER_INTERPRETER):
        assert r["layers"] & layer
    # A namespace is either on or explained in the notes (the kernel may
    # refuse it, e.g. in a container): never silently missing.
    for name in zp.NAMESPACES:
        assert zygote.has(name) or zygote.missing_note(name), (name, r["notes"])
        if not zygote.has(name):
            print(f"NOTE: {name} missing on this host: {zygote.missing_note(name)}")
    assert 1000 < r["rss_kb"] <= r["base_vm_kb"]
    if r["layers"] & zp.ZLAYER_MEMORY_RLIMIT:  # not under ASan (shadow memory)
        assert r["base_vm_kb"] < 1 << 20
    assert r["python_version"].startswith("3.11.")


def test_mean_succeeds(zygote):
    o = run(zygote, MEAN, "mean", "[[1, 2, 3]]")
    assert_clean_exit(o)
    assert o.status == "succeeded"
    assert o.result == "2.0"
    assert o.spawned["pid"] > 0 and o.exited["pid"] == o.spawned["pid"]
    assert o.exited["token"] == o.spawned["token"]
    assert o.exited["maxrss_kb"] > 0


def test_kwargs(zygote):
    o = run(zygote, "def f(a, b=2, *, c):\n    return [a, b, c]\n", args="[1]", kwargs='{"c": "x"}')
    assert o.status == "succeeded" and json.loads(o.result) == [1, 2, "x"]


def test_calls_batch_with_a_raising_call(zygote):
    o = run(zygote, "def div(a, b):\n    return a / b\n", "div", args=None,
            calls="[[1, 2], [3, 0], [9, 3]]")
    assert_clean_exit(o)
    assert o.status == "failed"
    assert o.error_type == "ZeroDivisionError"
    assert json.loads(o.result) == [
        {"result": 0.5},
        {"error_type": "ZeroDivisionError", "error": "division by zero"},
        {"result": 3.0}]


def test_stdlib_modules_work_inside_the_sandbox(zygote):
    code = (
        "import datetime, time, decimal, re, json, statistics, random, fractions\n"
        "def f():\n"
        "    now = datetime.datetime.now()\n"
        "    return [now.strftime('%Y'), time.strftime('%Z'), time.mktime(time.localtime()) > 0,\n"
        "            datetime.datetime.strptime('2024-02-03', '%Y-%m-%d').isoformat(),\n"
        "            str(decimal.Decimal(1) / 7), re.sub(r'\\d', '#', 'a1b22'),\n"
        "            json.dumps({'k': [1]}), statistics.median([3, 1, 2]),\n"
        "            random.Random().random() < 1, str(fractions.Fraction(1, 3) * 3),\n"
        "            len(str(7 ** 4000)), 'é€'.encode('latin-1', 'replace').decode('latin-1')]\n")
    o = run(zygote, code)
    assert_clean_exit(o)
    assert o.status == "succeeded", o
    value = json.loads(o.result)
    assert value[3] == "2024-02-03T00:00:00" and value[5] == "a#b##" and value[7] == 2


# --- failures and rejections -------------------------------------------------

def test_exception_has_job_only_traceback(zygote):
    code = ("import statistics\n"
            "def inner(x):\n"
            "    return statistics.mean(x) // 0\n"
            "def f():\n"
            "    return inner([2, 4])\n")
    o = run(zygote, code)
    assert_clean_exit(o)
    assert o.status == "failed"
    assert o.error_type == "ZeroDivisionError"
    assert o.error == "integer division or modulo by zero"
    tb = o.traceback
    assert tb.startswith("Traceback (most recent call last):\n")
    assert 'File "<job>", line 5, in f' in tb and 'File "<job>", line 3, in inner' in tb
    assert "return statistics.mean(x) // 0" in tb
    assert tb.rstrip().endswith("ZeroDivisionError: integer division or modulo by zero")
    files = [line for line in tb.splitlines() if line.strip().startswith("File ")]
    assert files and all('"<job>"' in line for line in files), tb


def test_stdlib_exception_keeps_only_job_frames(zygote):
    o = run(zygote, "import statistics\ndef f():\n    return statistics.mean([])\n")
    assert o.status == "failed" and o.error_type == "StatisticsError"
    assert "statistics.py" not in o.traceback and "sandq_runtime" not in o.traceback
    assert "statistics.StatisticsError: mean requires at least one data point" in o.traceback


def test_system_exit_is_a_failure(zygote):
    o = run(zygote, "def f():\n    raise SystemExit(3)\n")
    assert_clean_exit(o)
    assert o.status == "failed" and o.error_type == "SystemExit" and o.error == "3"


def test_module_level_exception_fails(zygote):
    o = run(zygote, "x = {}['missing']\ndef f():\n    return 1\n")
    assert o.status == "failed" and o.error_type == "KeyError"
    assert 'File "<job>", line 1, in <module>' in o.traceback


def test_syntax_error_is_rejected_with_line(zygote):
    o = run(zygote, "def f():\n    return 1\n\ndef g(:\n    pass\n")
    assert_clean_exit(o)
    assert o.status == "rejected" and o.error_type == "SyntaxError"
    assert "(line 4)" in o.error


def test_compiler_errors_are_rejected(zygote):
    for code, line in (("def f():\n    pass\nreturn 1\n", 3),
                       ("def f():\n  x = 1\n    y = 2\n", 3),
                       ("def f():\n    nonlocal q\n", 2),
                       ("x = 1\0\n", None)):
        o = run(zygote, code)
        assert_clean_exit(o)
        assert o.status == "rejected" and o.error_type == "SyntaxError", (code, o)
        if line:
            assert f"(line {line})" in o.error, (code, o)


def test_deeply_nested_code_is_rejected(zygote):
    o = run(zygote, "x = " + "(" * 5000 + ")" * 5000 + "\ndef f():\n    return 1\n")
    assert_clean_exit(o)
    assert o.status == "rejected", o


def test_forbidden_import_is_rejected(zygote):
    o = run(zygote, "import os\ndef f():\n    return os.getcwd()\n")
    assert o.status == "rejected" and o.error_type == "ForbiddenImport"
    assert "'os'" in o.error and "allowed modules:" in o.error and "math" in o.error


def test_forbidden_import_in_function_body_is_rejected(zygote):
    o = run(zygote, "def f():\n    from subprocess import run\n    return 1\n")
    assert o.status == "rejected" and "'subprocess'" in o.error


def test_relative_import_is_rejected(zygote):
    o = run(zygote, "from . import x\ndef f():\n    return 1\n")
    assert o.status == "rejected" and o.error_type == "ForbiddenImport"


def test_caught_forbidden_import_is_still_rejected(bare_zygote):
    code = ("def f():\n"
            "    try:\n"
            "        __import__('o' + 's')\n"
            "    except Exception:\n"
            "        pass\n"
            "    return 1\n")
    o = run(bare_zygote, code)
    assert_clean_exit(o)
    assert o.status == "rejected" and o.error_type == "ForbiddenImport" and "'os'" in o.error


def test_missing_function_is_rejected(zygote):
    o = run(zygote, "def g():\n    return 1\n", "f")
    assert o.status == "rejected" and o.error_type == "FunctionNotFound" and "'f'" in o.error
    o = run(zygote, "f = 3\n", "f")
    assert o.status == "rejected" and o.error_type == "FunctionNotFound"


def test_removed_builtins_are_gone(zygote):
    o = run(zygote, "def f():\n    return open('/etc/passwd').read()\n")
    assert o.status == "failed" and o.error_type == "NameError"


def test_invalid_args_are_invalid(zygote):
    o = run(zygote, MEAN, "mean", args='{"not": "an array"}')
    assert o.status == "invalid"
    o = run(zygote, MEAN, "mean", args="[1, 2")
    assert o.status == "invalid"
    o = run(zygote, MEAN, "mean", args=None, calls="[1, 2]")
    assert o.status == "invalid"


def test_malformed_job_frames_are_invalid(zygote):
    job = zp.frame("c", MEAN) + zp.frame("f", "mean")  # no end frame
    o = zygote.run(job)
    assert_clean_exit(o)
    assert o.status == "invalid" and o.error_type == "InvalidJob"
    o = zygote.run(zp.frame("c", MEAN) + zp.frame("f", "mean") + zp.frame("f", "x") + zp.frame("z", ""))
    assert o.status == "invalid" and "repeats" in o.error


# --- output ------------------------------------------------------------------

def test_print_is_captured(zygote):
    o = run(zygote, "def f():\n    print('hello', 42)\n    print('wörld', end='!')\n    return None\n")
    assert o.status == "succeeded" and o.result == "null"
    assert o.stdout == "hello 42\nwörld!" and not o.truncated


def test_print_is_truncated_at_the_cap(zygote):
    o = run(zygote, "def f():\n    for i in range(1000):\n        print('é' * 10)\n    return 1\n",
            output_cap=1001)
    assert o.status == "succeeded"
    assert o.truncated
    data = o.fields["o"]
    assert 990 <= len(data) <= 1001
    data.decode("utf-8")  # never cut inside a character


def test_result_over_cap_is_output_limit(zygote):
    o = run(zygote, "def f():\n    return 'x' * 5000\n", output_cap=1000)
    assert o.status == "output_limit" and o.error_type == "ResultTooLarge"
    assert "5002" in o.error and o.result is None


def test_set_result_is_output_limit(zygote):
    o = run(zygote, "def f():\n    return {1, 2}\n")
    assert o.status == "output_limit" and o.error_type == "NotSerializable"
    assert "set" in o.error


def test_nan_result_is_output_limit(zygote):
    o = run(zygote, "def f():\n    return float('nan')\n")
    assert o.status == "output_limit" and o.error_type == "NotSerializable"


def test_lone_surrogates_do_not_break_frames(zygote):
    o = run(zygote, "def f():\n    print('\\ud800')\n    raise ValueError('\\udfff')\n")
    assert_clean_exit(o)
    assert o.status == "failed"
    assert o.stdout == "\\ud800\n" and o.error == "\\udfff"
    o = run(zygote, "def f():\n    return '\\ud800'\n")
    assert o.status == "succeeded" and json.loads(o.result) == "\ud800"


# --- limits -------------------------------------------------------------------

def test_memory_error_is_memory_limit(zygote):
    if not zygote.ready["layers"] & zp.ZLAYER_MEMORY_RLIMIT:
        print("SKIP: ZLAYER_MEMORY_RLIMIT not reported (ASan build)")
        pytest.skip("ZLAYER_MEMORY_RLIMIT not reported (ASan build)")
    o = run(zygote, "def f():\n    return len(bytearray(10**9))\n", memory_limit_mb=64)
    assert_clean_exit(o)
    assert o.status == "memory_limit" and o.error_type == "MemoryError"
    o = run(zygote, "def f():\n    l = []\n    while True:\n        l.append(bytearray(1 << 20))\n",
            memory_limit_mb=64)
    assert o.status == "memory_limit", o
    assert o.exited["maxrss_kb"] < zygote.ready["rss_kb"] + 80 * 1024


def test_cpu_limit_kills_the_child(zygote):
    t0 = time.monotonic()
    o = run(zygote, "def f():\n    while True:\n        pass\n", cpu_limit_ms=1000)
    elapsed = time.monotonic() - t0
    assert o.term_signal in (signal.SIGXCPU, signal.SIGKILL), o
    assert o.status is None
    assert 0.9 < elapsed < 5
    # RLIMIT_CPU is checked against tick-sampled CPU time, rusage reports
    # the precise one: on a loaded machine the signal can come a little
    # before rusage says 1 s.
    assert o.exited["utime_us"] + o.exited["stime_us"] >= 700_000


# --- the sandbox ----------------------------------------------------------------

def assert_violation(o, allowed=None):
    assert o.exit_code == zp.ZEXIT_VIOLATION, o
    assert [tag for tag, _ in o.frames] == ["V"], o
    nr, arch = (int(x) for x in o.fields["V"].split())
    assert arch == zp.AUDIT_ARCH_X86_64
    assert nr in (allowed or DANGEROUS_SYSCALLS), (nr, o)
    return DANGEROUS_SYSCALLS.get(nr)


def test_escape_through_module_internals_is_a_violation(bare_zygote):
    o = run(bare_zygote, "import random\ndef f():\n    return random._os.system('true')\n")
    assert_violation(o)


def test_escape_to_open_a_file_is_a_violation(bare_zygote):
    code = ("def f():\n"
            "    seen, todo = set(), [().__class__.__base__]\n"
            "    while todo:\n"
            "        cls = todo.pop()\n"
            "        if cls in seen:\n"
            "            continue\n"
            "        seen.add(cls)\n"
            "        if cls.__name__ == 'FileIO':\n"
            "            return cls('/etc/hostname').read().decode()\n"
            "        todo.extend(type.__subclasses__(cls))\n"
            "    return 'no FileIO'\n")
    o = run(bare_zygote, code)
    assert assert_violation(o) in ("open", "openat", "openat2")


def test_escape_to_fork_is_a_violation(bare_zygote):
    code = ("import random\n"
            "def f():\n"
            "    return random._os.fork()\n")
    o = run(bare_zygote, code)
    assert assert_violation(o) in ("clone", "clone3", "fork", "vfork")


def test_writes_to_other_fds_fail_softly(bare_zygote):
    code = ("import random\n"
            "def f():\n"
            "    try:\n"
            "        random._os.write(2, b'x')\n"
            "    except OSError as e:\n"
            "        return e.errno\n")
    o = run(bare_zygote, code)
    assert o.status == "succeeded" and o.result == "9"  # EBADF


def test_children_get_different_random_numbers(zygote):
    code = "import random\ndef f():\n    return random.random()\n"
    values = {run(zygote, code).result for _ in range(3)}
    assert len(values) == 3


def test_two_children_run_at_once(zygote):
    code = "import time\ndef f(n):\n    time.sleep(0.5)\n    return n\n"
    t0 = time.monotonic()
    a = zygote.start_job(zp.job_frames(code, "f", "[1]"))
    b = zygote.start_job(zp.job_frames(code, "f", "[2]"))
    assert a[1]["pid"] != b[1]["pid"]
    ob = zygote.finish_job(*b)
    oa = zygote.finish_job(*a)
    assert (oa.result, ob.result) == ("1", "2")
    assert time.monotonic() - t0 < 0.95  # one after the other: >= 1.0


def test_pidfd_reports_the_child(zygote):
    token, spawned, pidfd, res_r = zygote.start_job(zp.job_frames("def f():\n    return 1\n", "f"))
    assert pidfd is not None
    p = select.poll()
    p.register(pidfd, select.POLLIN)
    assert p.poll(10_000), "pidfd never became readable"
    zygote.finish_job(token, spawned, pidfd, res_r)


def spawn_refused(z, token, fds, n_cgroup_fds=0):
    """Send a SPAWN the zygote must refuse; its (err_step name, errno)."""
    socket.send_fds(z.sock, [zp.pack_spawn(token, n_cgroup_fds=n_cgroup_fds)], fds)
    spawned = zp.unpack_spawned(z.recv_type(zp.ZMSG_SPAWNED, token)[0])
    assert spawned["pid"] == -1, spawned
    return zp.ZSTEPS[spawned["err_step"]], spawned["err_errno"]


def test_spawn_with_wrong_fds_fails_cleanly(zygote, tmp_path):
    r, w = os.pipe()
    plain = os.open(tmp_path / "not-a-cgroup", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        # one fd instead of two
        assert spawn_refused(zygote, 9001, [r])[0] == "fds"
        # the pipe ends swapped: job "read" end is writable only
        assert spawn_refused(zygote, 9002, [w, r])[0] == "fds"
        # three fds, but n_cgroup_fds says 0: the count must match exactly
        assert spawn_refused(zygote, 9003, [r, w, r])[0] == "fds"
        # n_cgroup_fds says 1, but only the two pipes came
        assert spawn_refused(zygote, 9004, [r, w], n_cgroup_fds=1)[0] == "fds"
        # more cgroup fds than the protocol allows
        assert spawn_refused(zygote, 9005, [r, w], n_cgroup_fds=zp.ZPROTO_MAX_CGROUP_FDS + 1) \
            == ("cgroup", errno.E2BIG)
        # a cgroup fd that is a pipe, or a writable file outside any cgroup fs
        assert spawn_refused(zygote, 9006, [r, w, w], n_cgroup_fds=1) == ("cgroup", errno.EBADF)
        assert spawn_refused(zygote, 9007, [r, w, plain], n_cgroup_fds=1) == ("cgroup", errno.EBADF)
        # a cgroup.procs opened read-only
        procs = os.open("/sys/fs/cgroup/pids/cgroup.procs", os.O_RDONLY) \
            if os.path.exists("/sys/fs/cgroup/pids/cgroup.procs") else None
        if procs is not None:
            try:
                assert spawn_refused(zygote, 9008, [r, w, procs], n_cgroup_fds=1) \
                    == ("cgroup", errno.EBADF)
            finally:
                os.close(procs)
        # not a SPAWN at all: dropped (logged), fds closed, nothing answered
        socket.send_fds(zygote.sock, [b"\x02\0\0\0short"], [r, w])
        zygote.sock.send(zp.SPAWN.pack(99, 0, 9009, 0, 0, 0, 0))
    finally:
        os.close(r)
        os.close(w)
        os.close(plain)
    o = run(zygote, MEAN, "mean", "[[4]]")  # still serving
    assert o.result == "4.0"


# --- lifecycle -----------------------------------------------------------------

def test_zygote_exits_and_kills_children_when_the_socket_closes():
    z = zp.Zygote()
    z.wait_ready()
    token, spawned, pidfd, res_r = z.start_job(
        zp.job_frames("import time\ndef f():\n    time.sleep(60)\n", "f"))
    assert spawned["pid"] > 0
    t0 = time.monotonic()
    status = z.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert time.monotonic() - t0 < 5
    p = select.poll()
    p.register(pidfd, select.POLLIN)
    assert p.poll(5000), "the child outlived the zygote"
    os.close(pidfd)
    os.close(res_r)


def test_zygote_refuses_a_non_socket_fd3():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        try:
            os.dup2(r, 3)
            os.execve(zp.ZYGOTE, [zp.ZYGOTE], {})
        finally:
            os._exit(127)
    os.close(r)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1


# --- measurements ------------------------------------------------------------------

BENCH = int(os.environ.get("SANDQ_BENCH") or 0)
bench = pytest.mark.skipif(not BENCH, reason="set SANDQ_BENCH=N to time N jobs")


def bench_jobs(z, n, label, **spawn):
    """Time n trivial jobs (SPAWN -> EXITED) and print the median, p90 and
    min, and the medians of the child's setup timings ('T' frame)."""
    job = zp.job_frames("def f():\n    return 1\n", "f")
    times, stages = [], {}
    for _ in range(n):
        extra = {k: v() if callable(v) else v for k, v in spawn.items()}
        t0 = time.perf_counter()
        o = z.run(job, **extra)
        times.append(time.perf_counter() - t0)
        for fd in extra.get("cgroup_fds", ()):
            os.close(fd)
        assert o.result == "1", o
        for stage, us in o.timings.items():
            stages.setdefault(stage, []).append(us)
    times.sort()
    setup = " ".join(f"{k}={statistics.median(v):g}" for k, v in stages.items())
    print(f"\n{label}: SPAWN->EXITED over {n} trivial jobs: median "
          f"{statistics.median(times) * 1e3:.3f} ms, p90 {times[int(n * 0.9)] * 1e3:.3f} ms, "
          f"min {times[0] * 1e3:.3f} ms; child medians (us): {setup}")


@bench
def test_bench_trivial_jobs(zygote):
    bench_jobs(zygote, BENCH, "all layers")


@bench
def test_bench_trivial_jobs_without_namespaces():
    """The namespaces are entered once by the zygote: a job should cost
    the same with and without them."""
    z = start_zygote("--unsafe-disable-layers", "namespaces")
    try:
        bench_jobs(z, BENCH, "no namespaces")
    finally:
        stop_zygote(z)


@bench
def test_bench_trivial_jobs_in_a_cgroup(zygote):
    """The cgroup step: one write to a v1 pids cgroup's cgroup.procs."""
    base = "/sys/fs/cgroup/pids"
    if not os.access(base, os.W_OK):
        pytest.skip(f"no writable {base}")
    cg = os.path.join(base, f"sandq-bench-{os.getpid()}")
    os.mkdir(cg)
    try:
        procs = os.path.join(cg, "cgroup.procs")
        bench_jobs(zygote, BENCH, "all layers + cgroup",
                   cgroup_fds=lambda: [os.open(procs, os.O_WRONLY)])
    finally:
        for _ in range(100):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.02)
