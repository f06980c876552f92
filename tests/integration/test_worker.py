"""End-to-end tests: a real redis-server, the real sandq-worker and zygote,
jobs written exactly as PROTOCOL.md says."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import WORKER_BIN, wait_until

SANITIZED = bool(os.environ.get("SANITIZE"))

SEED = "def somefunctionname(xs):\n    return sum(xs)/len(xs)\n"


def test_seed_function_succeeds(worker, jobs):
    t0 = int(time.time() * 1000)
    job = jobs.run(SEED, "somefunctionname", args=json.dumps([[1, 2, 3, 4]]))
    assert job["status"] == "succeeded", job
    assert json.loads(job["result"]) == 2.5
    assert job["attempts"] == "1"
    assert job["worker"]
    assert job["queue"] == "default"
    assert t0 <= int(job["started_at"]) <= int(job["finished_at"])
    for f in ("time_ms", "cpu_ms", "memory_kb"):
        assert int(job[f]) >= 0
    assert int(job["memory_kb"]) > 0
    assert "error" not in job and "traceback" not in job


def test_outcome_bookkeeping(worker, jobs):
    job_id = jobs.submit(SEED, "somefunctionname", args="[[2, 4]]", result_ttl="120")
    jobs.wait(job_id)
    r = jobs.r
    ttl = r.ttl(jobs.key("job", job_id))
    assert 0 < ttl <= 120
    assert r.hget(jobs.key("stats"), "succeeded") == "1"
    procs = [k for k in r.keys(jobs.key("processing", "*"))]
    assert all(r.llen(k) == 0 for k in procs)
    assert r.llen(jobs.key("queue", "default")) == 0


def test_publish_on_completion(worker, jobs):
    job_id = "pub-" + str(time.time_ns())
    ps = jobs.r.pubsub()
    ps.subscribe(jobs.key("done", job_id))
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    jobs.submit("def f():\n    return 1\n", job_id=job_id)
    msg = ps.get_message(timeout=10)
    while msg and msg["type"] != "message":
        msg = ps.get_message(timeout=10)
    assert msg and msg["data"] == "succeeded"
    ps.close()


def test_kwargs(worker, jobs):
    code = "def f(a, b=1, *, c=0):\n    return [a, b, c]\n"
    job = jobs.run(code, args="[5]", kwargs=json.dumps({"c": 7}))
    assert job["status"] == "succeeded", job
    assert json.loads(job["result"]) == [5, 1, 7]


def test_calls_batch_all_ok(worker, jobs):
    job = jobs.run(SEED, "somefunctionname", calls=json.dumps([[[1, 2]], [[3, 5]], [[10]]]))
    assert job["status"] == "succeeded", job
    assert json.loads(job["result"]) == [{"result": 1.5}, {"result": 4.0}, {"result": 10.0}]


def test_calls_batch_with_error(worker, jobs):
    code = "def f(x):\n    return 1 / x\n"
    job = jobs.run(code, calls="[[1], [0], [4]]")
    assert job["status"] == "failed", job
    res = json.loads(job["result"])
    assert res[0] == {"result": 1.0} and res[2] == {"result": 0.25}
    assert res[1]["error_type"] == "ZeroDivisionError"


def test_failed_with_user_traceback_only(worker, jobs):
    code = "def helper(x):\n    return x / 0\n\ndef f(x):\n    return helper(x)\n"
    job = jobs.run(code, args="[1]")
    assert job["status"] == "failed", job
    assert job["error_type"] == "ZeroDivisionError"
    assert job["error"] == "division by zero"
    tb = job["traceback"]
    assert 'File "<job>", line 5' in tb and 'File "<job>", line 2' in tb
    assert "runtime" not in tb and "sandq" not in tb


def test_failed_at_top_level(worker, jobs):
    job = jobs.run("raise ValueError('boom')\ndef f():\n    return 1\n")
    assert job["status"] == "failed" and job["error_type"] == "ValueError"
    assert job["error"] == "boom"


def test_rejected_syntax_error(worker, jobs):
    job = jobs.run("def f(:\n    return 1\n")
    assert job["status"] == "rejected", job
    assert job["error_type"] == "SyntaxError"
    assert "line 1" in job["error"]


def test_rejected_forbidden_import(worker, jobs):
    job = jobs.run("import os\ndef f():\n    return 1\n")
    assert job["status"] == "rejected", job
    assert "os" in job["error"] and "math" in job["error"]


def test_rejected_caught_forbidden_import(worker, jobs):
    code = ("def f():\n    try:\n        __import__('socket')\n"
            "    except Exception:\n        pass\n    return 1\n")
    job = jobs.run(code)
    assert job["status"] == "rejected", job


def test_allowed_imports_work(worker, jobs):
    code = ("import math, statistics, json, re, decimal, fractions, datetime, collections\n"
            "def f(xs):\n"
            "    return [math.sqrt(16), statistics.mean(xs), json.dumps({'a': 1}),\n"
            "            re.sub('a', 'b', 'aa'), str(decimal.Decimal('1.1') + 1),\n"
            "            str(fractions.Fraction(1, 3)), datetime.date(2020, 1, 2).isoformat(),\n"
            "            collections.Counter('aab')['a']]\n")
    job = jobs.run(code, args="[[1, 2, 3]]")
    assert job["status"] == "succeeded", job
    assert json.loads(job["result"]) == [4.0, 2, '{"a": 1}', "bb", "2.1", "1/3", "2020-01-02", 2]


def test_rejected_missing_function(worker, jobs):
    job = jobs.run("def g():\n    return 1\n", "f")
    assert job["status"] == "rejected", job
    assert "'f'" in job["error"]


@pytest.mark.parametrize("fields,needle", [
    ({"code": None}, "code"),
    ({"function": ""}, "function"),
    ({"function": "not an identifier"}, "function"),
    ({"args": "{\"a\": 1}"}, "args"),
    ({"args": "[1, 2"}, "args"),
    ({"kwargs": "[1]"}, "kwargs"),
    ({"calls": "[1, 2]"}, "calls"),
    ({"calls": "[[1]]", "args": "[1]"}, "calls"),
    ({"limit_time_ms": "soon"}, "limit_time_ms"),
    ({"limit_memory_mb": "-5"}, "limit_memory_mb"),
    ({"args": "[" * 100 + "]" * 100}, "deeper"),
])
def test_invalid_jobs(worker, jobs, fields, needle):
    code = fields.pop("code", "def f(*a):\n    return 1\n")
    function = fields.pop("function", "f")
    job_id = jobs.submit(code if code is not None else "", function, **fields)
    if code is None:
        jobs.r.hdel(jobs.key("job", job_id), "code")
    job = jobs.wait(job_id)
    assert job["status"] == "invalid", job
    assert needle in job["error"], job


def test_invalid_oversized_code(start_worker, jobs):
    start_worker("--max-code-kb", "1")
    job = jobs.run("def f():\n    return 1\n" + "#" * 4096 + "\n")
    assert job["status"] == "invalid", job
    assert "code" in job["error"]


def test_invalid_job_id(worker, jobs):
    bad = "bad id!"
    jobs.r.hset(jobs.key("job", bad), mapping={"code": "def f():\n    return 1\n",
                                               "function": "f", "status": "queued"})
    jobs.r.lpush(jobs.key("queue", "default"), bad)
    job = jobs.wait(bad)
    assert job["status"] == "invalid" and "id" in job["error"]


def test_id_without_hash_is_dropped(worker, jobs):
    jobs.r.lpush(jobs.key("queue", "default"), "ghost-1")
    assert wait_until(lambda: "ghost-1" in worker.output() and "no job hash" in worker.output())
    for k in jobs.r.keys(jobs.key("processing", "*")):
        assert "ghost-1" not in jobs.r.lrange(k, 0, -1)
    assert jobs.run("def f():\n    return 3\n")["result"] == "3"


def test_already_final_job_not_rerun(worker, jobs):
    job_id = jobs.submit("def f():\n    return 1\n")
    first = jobs.wait(job_id)
    jobs.r.lpush(jobs.key("queue", "default"), job_id)
    assert wait_until(lambda: "already succeeded" in worker.output())
    assert jobs.job(job_id)["attempts"] == first["attempts"] == "1"


def test_timeout_precision(worker, jobs):
    job = jobs.run("def f():\n    while True:\n        pass\n", limit_time_ms="300")
    assert job["status"] == "timeout", job
    assert job["error_type"] == "TimeLimit"
    if not os.environ.get("TEST_PREFIX"):  # valgrind slows the supervisor
        assert 300 <= int(job["time_ms"]) <= 400, job["time_ms"]


def test_time_limit_clamped_to_ceiling(start_worker, jobs):
    start_worker("--max-time-limit-ms", "400", "--time-limit-ms", "400")
    job = jobs.run("import time\ndef f():\n    time.sleep(5)\n", limit_time_ms="100000")
    assert job["status"] == "timeout", job
    assert int(job["time_ms"]) < 1000


@pytest.mark.skipif(SANITIZED, reason="ASan reserves terabytes of address space; "
                    "RLIMIT_AS memory limit is off in sanitizer builds")
def test_memory_limit(worker, jobs):
    code = "def f():\n    x = bytearray(512 * 1024 * 1024)\n    return len(x)\n"
    job = jobs.run(code, limit_memory_mb="64")
    assert job["status"] == "memory_limit", job
    ok = jobs.run("def f():\n    return len(bytearray(16 * 1024 * 1024))\n", limit_memory_mb="64")
    assert ok["status"] == "succeeded", ok


def test_output_limit_on_result(worker, jobs):
    job = jobs.run("def f():\n    return 'x' * (3 * 1024)\n", limit_output_kb="2")
    assert job["status"] == "output_limit", job
    assert job["error_type"] == "ResultTooLarge"


def test_output_limit_not_serialisable(worker, jobs):
    job = jobs.run("def f():\n    return {1, 2}\n")
    assert job["status"] == "output_limit", job


def test_stdout_captured(worker, jobs):
    job = jobs.run("def f():\n    print('hello', 42)\n    print('é')\n    return 0\n")
    assert job["status"] == "succeeded"
    assert job["stdout"] == "hello 42\né\n"
    assert "stdout_truncated" not in job


def test_stdout_truncated(worker, jobs):
    job = jobs.run("def f():\n    for i in range(100000):\n        print('line', i)\n    return 1\n",
                   limit_output_kb="1")
    assert job["status"] == "succeeded", job
    assert job["stdout_truncated"] == "1"
    assert 0 < len(job["stdout"].encode()) <= 1024
    assert job["stdout"].startswith("line 0\nline 1\n")


@pytest.fixture
def no_interp_worker(start_worker):
    """A worker whose restricted-interpreter layer is off (test-only flag):
    escapes reach the OS layers, which must still stop them."""
    return start_worker("--slots", "2", "--unsafe-disable-layers", "interpreter")


def test_escape_rejected_by_interpreter_layer(worker, jobs):
    job = jobs.run("import random\ndef f():\n    return random._os.system('true')\n")
    assert job["status"] == "rejected", job


def test_violation_names_syscall(no_interp_worker, jobs):
    code = "import random\ndef f():\n    return random._os.system('true')\n"
    job = jobs.run(code)
    assert job["status"] == "violation", job
    assert job["error"].startswith("forbidden system call: "), job


def test_violation_socket(no_interp_worker, jobs):
    code = ("import random\ndef f():\n"
            "    s = random._os.sys.modules['_socket'] if '_socket' in random._os.sys.modules else None\n"
            "    return random._os.open('/etc/passwd', 0)\n")
    job = jobs.run(code)
    assert job["status"] == "violation", job
    assert "open" in job["error"], job


def test_crashed_on_interpreter_death(no_interp_worker, jobs):
    # A C-level recursion past any stack once the recursion limit is lifted
    # through an escape: the interpreter dies by SIGSEGV.
    code = ("import random\ndef f():\n"
            "    random._os.sys.setrecursionlimit(10**9)\n"
            "    x = []\n"
            "    for i in range(2000000):\n        x = [x]\n"
            "    return repr(x)\n")
    job = jobs.run(code, limit_memory_mb="1024")
    assert job["status"] == "crashed", job
    assert "signal" in job["error"]


def test_random_reseeded_per_job(worker, jobs):
    code = "import random\ndef f():\n    return [random.random(), random.getrandbits(64)]\n"
    a = jobs.run(code)
    b = jobs.run(code)
    assert a["status"] == b["status"] == "succeeded"
    assert a["result"] != b["result"]


def test_two_slots_run_two_jobs_at_once(worker, jobs):
    code = "import time\ndef f():\n    time.sleep(0.6)\n    return 1\n"
    t0 = time.monotonic()
    ids = [jobs.submit(code) for _ in range(2)]
    done = [jobs.wait(i) for i in ids]
    elapsed = time.monotonic() - t0
    assert all(j["status"] == "succeeded" for j in done)
    a, b = done
    assert int(a["started_at"]) < int(b["finished_at"])
    assert int(b["started_at"]) < int(a["finished_at"])
    assert elapsed < 1.15, elapsed


def test_one_slot_runs_one_job_at_a_time(start_worker, jobs):
    start_worker("--slots", "1")
    code = "import time\ndef f():\n    time.sleep(0.3)\n    return 1\n"
    ids = [jobs.submit(code) for _ in range(2)]
    time.sleep(0.1)
    # no hoarding: the second id is still on the queue while the first runs
    assert jobs.r.llen(jobs.key("queue", "default")) == 1
    a, b = [jobs.wait(i) for i in ids]
    assert int(b["started_at"]) >= int(a["finished_at"]) - 5


def test_sigterm_drains_running_job(start_worker, jobs):
    w = start_worker("--slots", "1")
    job_id = jobs.submit("import time\ndef f():\n    time.sleep(0.8)\n    return 'done'\n")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    waiting = jobs.submit("def f():\n    return 1\n")
    assert w.stop(signal.SIGTERM) == 0
    job = jobs.job(job_id)
    assert job["status"] == "succeeded" and json.loads(job["result"]) == "done"
    assert jobs.job(waiting)["status"] == "queued"
    assert jobs.r.lrange(jobs.key("queue", "default"), 0, -1) == [waiting]
    assert "draining" in w.output()


def test_sigterm_past_grace_requeues(start_worker, jobs):
    w = start_worker("--slots", "1", "--grace-ms", "200")
    job_id = jobs.submit("import time\ndef f():\n    time.sleep(30)\n")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    assert w.stop(signal.SIGTERM, timeout=10) == 0
    job = jobs.job(job_id)
    assert job["status"] == "queued", job
    assert job["attempts"] == "0"
    assert jobs.r.lrange(jobs.key("queue", "default"), 0, -1) == [job_id]


def test_priority_queues(start_worker, jobs):
    code = "def f(x):\n    return x\n"
    low = [jobs.submit(code, args="[1]", queue="low") for _ in range(3)]
    high = [jobs.submit(code, args="[2]", queue="high") for _ in range(3)]
    start_worker("--slots", "1", "--queue", "high", "--queue", "low")
    done = [jobs.wait(i) for i in high + low]
    assert all(j["status"] == "succeeded" for j in done)
    assert max(int(j["started_at"]) for j in done[:3]) <= min(int(j["started_at"]) for j in done[3:])
    assert done[3]["queue"] == "low"


def test_unix_socket_url(redis_server, start_worker, jobs, prefix):
    w = start_worker("--redis", f"unix://{redis_server.sock}?db=0")
    job = jobs.run("def f():\n    return 'unix'\n")
    assert job["status"] == "succeeded" and job["result"] == '"unix"'
    assert w.alive()


def test_worker_survives_hostile_loop(worker, jobs):
    hostile = [
        "def f():\n    while True:\n        pass\n",
        "def f():\n    return 'x' * (10**8)\n",
        "import random\ndef f():\n    random._os.fork()\n",
        "def f():\n    print('y' * 10**6)\n    return [[[]]] * 10**6\n",
        "def f(:\n",
        "import random\ndef f():\n    random._os.kill(1, 9)\n",
        "def f():\n    return f()\n",
        "def f():\n    return 10**100000\n",
        "\x00",
    ]
    ids = [jobs.submit(c, limit_time_ms="500", limit_memory_mb="128", limit_output_kb="64")
           for c in hostile * 2]
    statuses = [jobs.wait(i, timeout=60)["status"] for i in ids]
    assert all(s in ("timeout", "output_limit", "violation", "rejected", "failed",
                     "memory_limit", "crashed", "invalid") for s in statuses), statuses
    assert worker.alive()
    assert jobs.run(SEED, "somefunctionname", args="[[1, 2]]")["result"] == "1.5"


def test_bad_flags_exit_2(redis_server):
    for args in (["--slots", "0"], ["--nope"], ["--redis", "http://x"],
                 ["--time-limit-ms", "9999", "--max-time-limit-ms", "10"],
                 ["--queue", "bad queue"]):
        p = subprocess.run([WORKER_BIN] + args, capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("sandq-worker: "), p.stderr


def test_help_lists_every_flag():
    p = subprocess.run([WORKER_BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for flag in ("--redis", "--queue", "--slots", "--worker-id", "--prefix",
                 "--time-limit-ms", "--memory-limit-mb", "--output-limit-kb", "--grace-ms"):
        assert flag in p.stdout


def test_big_json_fields_validated_in_the_child(worker, jobs):
    # Over 64 KiB the supervisor only checks the outer type; the sandboxed
    # child applies the same rules and the job still ends `invalid`.
    pad = " " * (70 * 1024)
    deep = jobs.run("def f(*a):\n    return 1\n", args="[" * 70 + "]" * 70 + pad)
    assert deep["status"] == "invalid" and "deeper than 64" in deep["error"], deep
    broken = jobs.run("def f(*a):\n    return 1\n", args="[1, 2," + pad + "]")
    assert broken["status"] == "invalid" and "args" in broken["error"], broken
    many = jobs.run("def f():\n    return 1\n", calls="[" + ",".join(["[]"] * 100001) + "]",
                    limit_memory_mb="1024")  # room for ASan's overhead
    assert many["status"] == "invalid" and "100001" in many["error"], many
    big = jobs.run("def f(xs):\n    return len(xs)\n",
                   args=json.dumps([list(range(100000))]))
    assert big["status"] == "succeeded" and big["result"] == "100000", big


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def test_cgroup_memory_limit_follows_the_job(start_worker, jobs):
    # With the rlimits off, only the slot's cgroup limits memory: the
    # pre-forked child joined with the default (256 MiB) and the job's own
    # 64 MiB must be applied when the job is handed over.
    if "cgroup" in __import__("conftest").missing_layers():
        pytest.skip("no cgroup layer on this host")
    start_worker("--slots", "1", "--unsafe-disable-layers", "rlimits")
    code = ("def f():\n    x = bytearray(200 * 1024 * 1024)\n"
            "    for i in range(0, len(x), 4096):\n        x[i] = 1\n    return 1\n")
    job = jobs.run(code, limit_memory_mb="64")
    assert job["status"] == "memory_limit", job
    assert "64 MiB" in job["error"]
    ok = jobs.run("def f():\n    return len(bytearray(16 * 1024 * 1024))\n",
                  limit_memory_mb="64")
    assert ok["status"] == "succeeded", ok


def test_idle_child_that_dies_is_replaced(start_worker, jobs):
    w = start_worker("--slots", "1")
    assert jobs.run("def f():\n    return 1\n")["status"] == "succeeded"
    # the zygote's server (pid 1 of its namespace) holds the idle child
    def idle_children():
        kids = []
        for z in _children(w.proc.pid):
            for server in _children(z) or [z]:
                kids += _children(server)
        return kids
    # the last job's child may still be exiting (its outcome is written
    # first): wait until the slot has its next, idle child
    time.sleep(0.5)
    assert wait_until(idle_children, timeout=5), "no child forked ahead"
    for pid in idle_children():
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: "idle child lost" in w.output(), timeout=5)
    job = jobs.run("def f(x):\n    return x * 2\n", args="[21]")
    assert job["status"] == "succeeded" and job["result"] == "42"


def test_no_fork_ahead(start_worker, jobs):
    w = start_worker("--slots", "1", "--no-fork-ahead")
    time.sleep(0.3)
    assert not any(_children(z) and any(_children(s) for s in _children(z))
                   for z in _children(w.proc.pid))
    job = jobs.run(SEED, "somefunctionname", args="[[1, 2, 3]]")
    assert job["status"] == "succeeded" and json.loads(job["result"]) == 2.0


def test_zygote_death_is_survived(start_worker, jobs):
    w = start_worker("--slots", "2")
    job_id = jobs.submit("import time\ndef f():\n    time.sleep(30)\n")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    (zygote,) = _children(w.proc.pid)
    os.kill(zygote, signal.SIGKILL)
    job = jobs.wait(job_id, timeout=10)
    assert job["status"] == "crashed" and job["error_type"] == "ZygoteLost", job
    assert wait_until(lambda: "zygote restarted" in w.output(), timeout=10)
    again = jobs.run(SEED, "somefunctionname", args="[[2, 4]]")
    assert again["status"] == "succeeded" and json.loads(again["result"]) == 3.0
    assert w.alive()
