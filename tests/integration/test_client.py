"""The Python client (tools/python, package `sandq`) against a real
redis-server and the real worker: what it writes is PROTOCOL.md's, and
every outcome comes back as the documented value or exception."""
import json
import os
import shutil
import signal
import sys
import threading
import time

import pytest
import redis

from conftest import REPO, wait_until

sys.path.insert(0, os.path.join(REPO, "tools", "python"))
import sandq  # noqa: E402

SANITIZED = bool(os.environ.get("SANITIZE"))
SEED = "def somefunctionname(xs):\n    return sum(xs)/len(xs)\n"
SPIN = "def f():\n    while True:\n        pass\n"


@pytest.fixture
def client(redis_server, prefix):
    c = sandq.Client(redis_server.url, prefix=prefix)
    yield c
    c.close()


def failure(client, code, function="f", *args, **submit):
    """Run a job expected to fail; return the exception raised."""
    job = client.submit(code, function, args, **submit)
    with pytest.raises(sandq.JobFailed) as info:
        job.result(timeout=30)
    e = info.value
    assert e.job_id == job.id and e.outcome.job_id == job.id
    return e


# --- what submit writes --------------------------------------------------

def test_submit_writes_protocol_fields(client, jobs):
    t0 = int(time.time() * 1000)
    job = client.submit(SEED, "somefunctionname", [[1, 2]])
    h = jobs.job(job.id)
    assert h["code"] == SEED and h["function"] == "somefunctionname"
    assert json.loads(h["args"]) == [[1, 2]]
    assert h["status"] == "queued" and h["queue"] == "default"
    assert t0 <= int(h["enqueued_at"]) <= int(time.time() * 1000)
    assert set(h) == {"code", "function", "args", "status", "queue", "enqueued_at"}
    assert jobs.r.lrange(jobs.key("queue", "default"), 0, -1) == [job.id]
    assert sandq.is_valid_name(job.id)
    assert job.status() == "queued"


def test_submit_options(client, jobs):
    job = client.submit("def f(a, *, b):\n    return a\n", "f", ["é"], {"b": {"x": None}},
                        queue="low", limit_time_ms=500, limit_memory_mb=64,
                        limit_output_kb=8, result_ttl=60, max_attempts=1, job_id="my.id:1-a_b")
    assert job.id == "my.id:1-a_b"
    h = jobs.job(job.id)
    assert json.loads(h["args"]) == ["é"] and json.loads(h["kwargs"]) == {"b": {"x": None}}
    assert (h["limit_time_ms"], h["limit_memory_mb"], h["limit_output_kb"],
            h["result_ttl"], h["max_attempts"], h["queue"]) == ("500", "64", "8", "60", "1", "low")
    assert jobs.r.lrange(jobs.key("queue", "low"), 0, -1) == [job.id]
    assert jobs.r.llen(jobs.key("queue", "default")) == 0


def test_submit_calls(client, jobs):
    job = client.submit(SEED, "somefunctionname", calls=[([1],), [[2, 3]]])
    h = jobs.job(job.id)
    assert json.loads(h["calls"]) == [[[1]], [[2, 3]]]
    assert "args" not in h and "kwargs" not in h


@pytest.mark.parametrize("kw", [
    {"job_id": ""}, {"job_id": "a b"}, {"job_id": "x" * 129}, {"job_id": "ü"},
    {"queue": "bad queue"}, {"function": "not an identifier"}, {"function": "é"},
    {"args": [float("nan")]}, {"args": [{1, 2}]}, {"args": "[1]"},
    {"kwargs": {1: 2}}, {"calls": [[1]], "args": [1]}, {"calls": [1, 2]},
    {"limit_time_ms": 0}, {"limit_memory_mb": -1}, {"limit_output_kb": True},
    {"result_ttl": "60"}, {"max_attempts": 1.5}, {"code": b"\xff"}, {"code": None},
])
def test_submit_refuses_locally(client, jobs, kw):
    code = kw.pop("code", "def f(*a):\n    return 1\n")
    function = kw.pop("function", "f")
    with pytest.raises(ValueError):
        client.submit(code, function, **kw)
    assert jobs.r.keys(jobs.prefix + ":*") == []


def test_job_id_in_use(client, jobs):
    client.submit("def f():\n    return 1\n", "f", job_id="once")
    with pytest.raises(sandq.JobExists):
        client.submit("def f():\n    return 2\n", "f", job_id="once")
    assert jobs.r.lrange(jobs.key("queue", "default"), 0, -1) == ["once"]
    assert jobs.job("once")["code"] == "def f():\n    return 1\n"


# --- results -------------------------------------------------------------

def test_run_returns_value(worker, client):
    assert client.run(SEED, "somefunctionname", [1, 2, 3, 4]) == 2.5


def test_run_kwargs_and_json_types(worker, client):
    code = "def f(a, b=1, *, c=0):\n    return {'a': a, 'b': b, 'c': c, 'n': None}\n"
    assert client.run(code, "f", [1, "x"], c=True) == {"a": [1, "x"], "b": 1, "c": True, "n": None}


def test_outcome_fields(worker, client):
    job = client.submit("def f(x):\n    print('hi', x)\n    return x * 2\n", "f", [21])
    out = job.wait(timeout=30)
    assert isinstance(out, sandq.Outcome)
    assert out.status == "succeeded" and out.ok and out.final
    assert out.result == 42 and out.value() == 42
    assert out.stdout == "hi 21\n" and out.stdout_truncated is False
    assert out.attempts == 1 and out.worker and out.queue == "default"
    assert out.enqueued_at <= out.started_at <= out.finished_at
    assert all(isinstance(v, int) and v >= 0 for v in (out.time_ms, out.cpu_ms, out.memory_kb))
    assert out.error is None and out.error_type is None and out.traceback is None
    assert job.status() == "succeeded" and job.refresh()["result"] == "42"
    assert job.outcome() == out


def test_stdout_truncated_is_bool(worker, client):
    code = "def f():\n    for i in range(100000):\n        print('line', i)\n    return 1\n"
    out = client.submit(code, "f", limit_output_kb=1).wait(timeout=30)
    assert out.ok and out.stdout_truncated is True
    assert out.stdout.startswith("line 0\n")


def test_wait_on_final_job_returns_at_once(worker, client):
    job = client.submit("def f():\n    return 1\n", "f")
    job.wait(timeout=30)
    t0 = time.monotonic()
    assert job.result(timeout=5) == 1
    assert time.monotonic() - t0 < 0.5


def test_from_redis_without_decoding(worker, redis_server, prefix):
    r = redis.Redis(port=redis_server.port)  # bytes replies
    c = sandq.Client.from_redis(r, prefix=prefix)
    job = c.submit("def f():\n    print('b')\n    return 'ok'\n", "f")
    out = job.wait(timeout=30)
    assert out.result == "ok" and out.stdout == "b\n" and out.status == "succeeded"
    assert job.status() == "succeeded" and job.refresh()["function"] == "f"
    c.close()
    assert r.ping()  # not closed: the caller owns it


def test_many_concurrent_waiters(worker, client):
    code = "def f(x):\n    return x + 1\n"
    jobs_ = [client.submit(code, "f", [i]) for i in range(40)]
    results = [None] * 40

    def wait(i):
        results[i] = jobs_[i].result(timeout=60)
    threads = [threading.Thread(target=wait, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == list(range(1, 41))


# --- map -----------------------------------------------------------------

def test_map_values_and_call_errors(worker, client):
    got = client.map(SEED, "somefunctionname", [([1, 2],), ([],), ([10],)])
    assert got[0] == 1.5 and got[2] == 10.0
    err = got[1]
    assert isinstance(err, sandq.CallError)
    assert err.error_type == "ZeroDivisionError" and err.error == "division by zero"
    assert got[1] == sandq.CallError("ZeroDivisionError", "division by zero")


def test_map_empty_sends_nothing(client, jobs):
    assert client.map(SEED, "somefunctionname", []) == []
    assert jobs.r.keys(jobs.prefix + ":*") == []


def test_map_job_level_failures_raise(worker, client):
    with pytest.raises(sandq.Rejected):
        client.map("import os\n" + SEED, "somefunctionname", [([1],)])
    with pytest.raises(sandq.TimeLimit):
        client.map("def f(x):\n    while x:\n        pass\n", "f", [(0,), (1,)],
                   limit_time_ms=300)
    with pytest.raises(sandq.Failed) as info:
        client.map("raise ValueError('top')\ndef f(x):\n    return x\n", "f", [(1,)])
    assert info.value.error_type == "ValueError"


def test_map_refuses_bare_items(client):
    with pytest.raises(ValueError, match="wrap a single argument"):
        client.map(SEED, "somefunctionname", [[1, 2], 3])


# --- every exception class ----------------------------------------------

def test_rejected_syntax_error(worker, client):
    e = failure(client, "def f(:\n    return 1\n")
    assert type(e) is sandq.Rejected and e.status == "rejected"
    assert e.error_type == "SyntaxError" and "line 1" in e.error


def test_rejected_forbidden_import(worker, client):
    e = failure(client, "import os\ndef f():\n    return 1\n")
    assert type(e) is sandq.Rejected
    assert "os" in e.error


def test_rejected_missing_function(worker, client):
    e = failure(client, "def g():\n    return 1\n", "f")
    assert type(e) is sandq.Rejected and "'f'" in e.error


def test_failed_with_traceback_and_stdout(worker, client):
    e = failure(client, "def f():\n    print('before')\n    return 1/0\n")
    assert type(e) is sandq.Failed and e.status == "failed"
    assert e.error_type == "ZeroDivisionError" and e.error == "division by zero"
    assert 'File "<job>", line 3, in f' in e.traceback
    assert e.stdout == "before\n"
    assert "ZeroDivisionError: division by zero" in str(e) and e.job_id in str(e)


@pytest.mark.xfail(strict=False, reason="worker runtime: a TypeError raised with no frame "
                   "of the job's own (wrong arity) crashes the traceback formatter, status crashed")
def test_failed_on_wrong_arguments(worker, client):
    e = failure(client, "def f(x):\n    return x\n", "f", 1, 2)
    assert type(e) is sandq.Failed and e.error_type == "TypeError"


def test_invalid_args(worker, client):
    deep = []
    for _ in range(100):
        deep = [deep]
    e = failure(client, "def f(x):\n    return 1\n", "f", deep)
    assert type(e) is sandq.Invalid and e.status == "invalid"


def test_time_limit(worker, client):
    t0 = time.monotonic()
    e = failure(client, SPIN, limit_time_ms=300)
    assert type(e) is sandq.TimeLimit and e.status == "timeout"
    assert e.outcome.time_ms >= 300 and time.monotonic() - t0 < 5


def test_output_limit(worker, client):
    e = failure(client, "def f():\n    return 'x' * 5000\n", limit_output_kb=2)
    assert type(e) is sandq.OutputLimit and e.status == "output_limit"


@pytest.mark.skipif(SANITIZED, reason="the memory rlimit is off in sanitizer builds")
def test_memory_limit(worker, client):
    e = failure(client, "def f():\n    return len(bytearray(512 * 1024 * 1024))\n",
                limit_memory_mb=64)
    assert type(e) is sandq.MemoryLimit and e.status == "memory_limit"


@pytest.fixture
def no_interp_worker(start_worker):
    """The restricted-interpreter layer off (test-only flag), so escapes
    reach the OS layers and their statuses show through the client."""
    return start_worker("--slots", "2", "--unsafe-disable-layers", "interpreter")


def test_escape_rejected(worker, client):
    e = failure(client, "import random\ndef f():\n    return random._os.getpid()\n")
    assert type(e) is sandq.Rejected and e.error_type == "RestrictedSyntax"


def test_violation(no_interp_worker, client):
    e = failure(client, "import random\ndef f():\n    return random._os.open('/etc/passwd', 0)\n")
    assert type(e) is sandq.Violation and e.error.startswith("forbidden system call")


def test_crashed(no_interp_worker, client):
    code = ("import random\ndef f():\n"
            "    random._os.sys.setrecursionlimit(10**9)\n"
            "    x = []\n"
            "    for i in range(2000000):\n        x = [x]\n"
            "    return repr(x)\n")
    e = failure(client, code, limit_memory_mb=1024)
    assert type(e) is sandq.Crashed and e.status == "crashed"


def test_lost(start_worker, client):
    beat = ("--heartbeat-ms", "100", "--heartbeat-ttl-ms", "300", "--reap-ms", "100")
    first = start_worker("--slots", "1", *beat)
    job = client.submit("import time\ndef f():\n    time.sleep(30)\n", "f", max_attempts=1)
    assert wait_until(lambda: job.status() == "running")
    first.stop(signal.SIGKILL)
    start_worker("--slots", "1", *beat)
    with pytest.raises(sandq.Lost) as info:
        job.result(timeout=20)
    assert info.value.status == "lost" and info.value.error_type == "Lost"


def test_status_exception_table():
    assert set(sandq.exceptions.STATUS_EXCEPTIONS) == sandq.FINAL_STATUSES - {"succeeded"}
    for cls in sandq.exceptions.STATUS_EXCEPTIONS.values():
        assert issubclass(cls, sandq.JobFailed)
    assert issubclass(sandq.WaitTimeout, TimeoutError)


# --- waiting and cancel without a worker ---------------------------------

def test_wait_timeout_without_worker(client, jobs):
    job = client.submit("def f():\n    return 1\n", "f")
    t0 = time.monotonic()
    with pytest.raises(sandq.WaitTimeout) as info:
        job.wait(timeout=0.3)
    assert 0.3 <= time.monotonic() - t0 < 1.0
    assert info.value.status == "queued" and info.value.job_id == job.id
    assert job.status() == "queued"  # a plain wait leaves the job alone


def test_run_timeout_cancels_job(client, jobs):
    with pytest.raises(sandq.WaitTimeout):
        client.run("def f():\n    return 1\n", "f", timeout=0.2)
    assert jobs.r.llen(jobs.key("queue", "default")) == 0
    (key,) = jobs.r.keys(jobs.key("job", "*"))
    assert jobs.r.hget(key, "status") == "canceled"


def test_cancel_queued(client, jobs):
    job = client.submit("def f():\n    return 1\n", "f", result_ttl=600)
    other = client.submit("def f():\n    return 2\n", "f")
    assert job.cancel() == "canceled"
    h = jobs.job(job.id)
    assert h["status"] == "canceled" and h["error_type"] == "Canceled"
    assert h["error"] == "canceled before it ran"
    assert abs(int(h["finished_at"]) - time.time() * 1000) < 5000
    assert jobs.r.lrange(jobs.key("queue", "default"), 0, -1) == [other.id]
    assert 0 < jobs.r.ttl(jobs.key("job", job.id)) <= 600
    assert jobs.r.hget(jobs.key("stats"), "canceled") == "1"
    with pytest.raises(sandq.Canceled) as info:
        job.result(timeout=1)
    assert info.value.error == "canceled before it ran"
    assert job.cancel() == "canceled"  # already final: its status, nothing counted twice
    assert jobs.r.hget(jobs.key("stats"), "canceled") == "1"
    assert client.job("no-such-job").cancel() == "missing"


def test_cancel_queued_on_named_queue(client, jobs):
    job = client.submit("def f():\n    return 1\n", "f", queue="low")
    assert client.cancel(job.id) == "canceled"
    assert jobs.r.llen(jobs.key("queue", "low")) == 0


def test_cancel_wakes_a_waiter(client):
    job = client.submit("def f():\n    return 1\n", "f")
    got = {}

    def waiter():
        t0 = time.monotonic()
        got["outcome"] = job.wait(timeout=10)
        got["elapsed"] = time.monotonic() - t0
    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    job.cancel()
    t.join(10)
    assert got["outcome"].status == "canceled" and got["elapsed"] < 1.0


def test_canceled_job_is_not_run(client, jobs, start_worker):
    job = client.submit("def f():\n    return 1\n", "f")
    job.cancel()
    start_worker("--slots", "1")
    assert client.run("def f():\n    return 2\n", "f", timeout=30) == 2
    assert job.status() == "canceled" and "attempts" not in jobs.job(job.id)


def test_cancel_running(worker, client):
    job = client.submit(SPIN, "f", limit_time_ms=30000)
    assert wait_until(lambda: job.status() == "running")
    t0 = time.monotonic()
    assert job.cancel() == "requested"
    with pytest.raises(sandq.Canceled):
        job.result(timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert worker.alive()


def test_missing_job(client):
    job = client.job("never-submitted")
    assert job.status() is None and job.refresh() == {}
    with pytest.raises(sandq.JobNotFound):
        job.wait(timeout=1)


def test_workers_lists_heartbeats(worker, client):
    assert wait_until(lambda: client.workers(), timeout=10)


def test_workers_by_queue(start_worker, client):
    start_worker("--slots", "1", "--queue", "high", "--queue", "low")
    assert wait_until(lambda: client.workers("low"), timeout=10)
    assert client.workers("default") == [] and len(client.workers()) == 1


def test_pip_install_offline(tmp_path):
    """pip install ./tools/python into a venv with no index at all."""
    import subprocess
    venv = tmp_path / "venv"
    made = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv (python3-venv missing?): {made.stderr[-300:]}")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PIP_FIND_LINKS", None)
    src = str(tmp_path / "src")  # a copy: setuptools writes build/ and *.egg-info in the tree
    shutil.copytree(os.path.join(REPO, "tools", "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    p = subprocess.run([str(venv / "bin" / "pip"), "install", src], capture_output=True,
                       text=True, env=env, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    p = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import os, sandq, sandq.asyncio; d = os.path.dirname(sandq.__file__); "
                        "print(d, os.path.exists(os.path.join(d, 'py.typed')))"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr
    where, typed = p.stdout.split()
    assert where.startswith(str(venv)) and typed == "True"
