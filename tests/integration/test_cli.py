"""End-to-end tests of the `sandq` CLI: a real redis-server, the real
worker where a test needs one, and Redis state checked with redis-py
exactly as docs/protocol.md and docs/cli.md describe it.

CLI_TEST_PREFIX (default: TEST_PREFIX) runs the CLI under a tool, e.g.
  CLI_TEST_PREFIX="valgrind -q --leak-check=full --error-exitcode=9"
"""
import json
import os
import shlex
import subprocess
import time

import pytest

from conftest import BUILD, FINAL, free_port, wait_until

CLI_BIN = os.path.join(BUILD, "sandq")

ADD = "def f(a, b):\n    return a + b\n"
DIVIDE = "def f():\n    print('about to divide')\n    return 1/0\n"
SYNTAX = "def f(:\n    pass\n"
SPIN = "def f():\n    while True:\n        pass\n"

STATUS_EXIT = {"succeeded": 0, "failed": 10, "rejected": 11, "invalid": 12,
               "timeout": 13, "memory_limit": 14, "output_limit": 15,
               "violation": 16, "crashed": 17, "lost": 18, "canceled": 19}


@pytest.fixture
def cli(redis_server, prefix):
    """Run `sandq --redis URL --prefix P ARGS...`; returns CompletedProcess."""

    def run(*args, url=None, stdin=None, timeout=60, use_prefix=True):
        cmd = shlex.split(os.environ.get("CLI_TEST_PREFIX",
                                         os.environ.get("TEST_PREFIX", "")))
        cmd += [CLI_BIN]
        cmd += ["--redis", url or redis_server.url]
        if use_prefix:
            cmd += ["--prefix", prefix]
        cmd += [str(a) for a in args]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                              timeout=timeout)

    return run


@pytest.fixture
def code_file(tmp_path):
    def make(source, name="job.py"):
        path = tmp_path / name
        path.write_text(source)
        return str(path)

    return make


def seed_job(jobs, job_id, status, queue="default", **fields):
    """A job hash written by hand (no worker), in the state a test needs."""
    mapping = {"code": ADD, "function": "f", "status": status, "queue": queue,
               "enqueued_at": int(time.time() * 1000)}
    mapping.update(fields)
    jobs.r.hset(jobs.key("job", job_id), mapping=mapping)


def json_out(proc):
    """The one JSON object a --json command prints."""
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return json.loads(lines[0])


def worker_heartbeats_exist(jobs):
    return wait_until(lambda: jobs.r.keys(jobs.key("worker", "*")), timeout=10)


# --- submit and wait, with a real worker -----------------------------------

def test_submit_wait_succeeded(worker, cli, code_file, jobs):
    p = cli("submit", code_file(ADD), "--function", "f", "--args", "[2, 40]",
            "--wait", "--timeout", "30")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    job_id = lines[0].split()[0]
    assert jobs.job(job_id)["status"] == "succeeded"
    assert any(ln.split()[:2] == ["result", "42"] for ln in lines), p.stdout


def test_submit_wait_failed_shows_traceback(worker, cli, code_file):
    p = cli("submit", code_file(DIVIDE), "--function", "f", "--wait")
    assert p.returncode == 10, p.stdout + p.stderr
    assert "ZeroDivisionError" in p.stdout
    assert "Traceback (most recent call last)" in p.stdout
    assert 'File "<job>", line 3, in f' in p.stdout
    assert "about to divide" in p.stdout  # what it printed


def test_submit_wait_syntax_error_is_rejected(worker, cli, code_file):
    p = cli("submit", code_file(SYNTAX), "--function", "f", "--wait")
    assert p.returncode == 11, p.stdout + p.stderr
    assert "SyntaxError" in p.stdout


def test_submit_wait_json(worker, cli, code_file):
    p = cli("--json", "submit", code_file(ADD), "--function", "f",
            "--kwargs", '{"a": 1, "b": 2}', "--wait")
    assert p.returncode == 0, p.stderr
    out = json_out(p)
    assert out["status"] == "succeeded" and out["found"] is True
    assert out["timed_out"] is False
    assert json.loads(out["job"]["result"]) == 3
    assert 0 < out["ttl"] <= 86400


def test_submit_from_stdin_with_calls(worker, cli):
    p = cli("--json", "submit", "-", "--function", "f", "--calls",
            "[[1, 2], [3, 4]]", "--wait", stdin=ADD)
    assert p.returncode == 0, p.stdout + p.stderr
    out = json_out(p)
    assert json.loads(out["job"]["result"]) == [{"result": 3}, {"result": 7}]
    assert out["job"]["calls"] == "[[1, 2], [3, 4]]"


def test_wait_json_for_a_job_submitted_by_hand(worker, cli, jobs):
    job_id = jobs.submit(ADD, args="[1, 1]")
    p = cli("--json", "wait", job_id, "--timeout", "30")
    assert p.returncode == 0, p.stderr
    out = json_out(p)
    assert out["id"] == job_id and out["status"] == "succeeded"
    assert out["job"]["result"] == "2"


def test_cancel_running_job_with_worker(worker, cli, code_file, jobs):
    p = cli("--json", "submit", code_file(SPIN), "--function", "f",
            "--limit-time-ms", "20000")
    job_id = json_out(p)["id"]
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running",
                      timeout=20)
    stats = json_out(cli("--json", "stats"))
    assert stats["running"] == 1
    c = cli("--json", "cancel", job_id)
    assert c.returncode == 0 and json_out(c)["result"] == "requested"
    w = cli("wait", job_id, "--timeout", "15")
    assert w.returncode == 19, w.stdout + w.stderr
    assert jobs.job(job_id)["status"] == "canceled"


# --- submit: what goes into Redis, and what is refused ---------------------

def test_submit_writes_the_protocol_fields(cli, code_file, jobs):
    p = cli("--json", "submit", code_file(ADD), "--function", "f",
            "--args", "[1, 2]", "--queue", "high", "--id", "my-job.1",
            "--limit-time-ms", "1500", "--limit-memory-mb", "64",
            "--limit-output-kb", "8", "--result-ttl", "600")
    assert p.returncode == 0, p.stderr
    assert json_out(p) == {"id": "my-job.1", "queue": "high", "status": "queued"}
    job = jobs.job("my-job.1")
    assert job["code"] == ADD and job["function"] == "f"
    assert job["args"] == "[1, 2]" and job["status"] == "queued"
    assert job["queue"] == "high"
    assert job["limit_time_ms"] == "1500" and job["limit_memory_mb"] == "64"
    assert job["limit_output_kb"] == "8" and job["result_ttl"] == "600"
    assert abs(int(job["enqueued_at"]) - time.time() * 1000) < 60000
    assert jobs.r.lrange(jobs.key("queue", "high"), 0, -1) == ["my-job.1"]
    assert jobs.r.ttl(jobs.key("job", "my-job.1")) == -1


def test_submit_human_output_is_the_id(cli, code_file, jobs):
    p = cli("submit", code_file(ADD), "--function", "f")
    assert p.returncode == 0, p.stderr
    job_id = p.stdout.split()[0]
    assert len(job_id) == 32 and jobs.job(job_id)["status"] == "queued"
    assert f"HGETALL {jobs.key('job', job_id)}" in p.stdout


def test_submit_refuses_an_existing_id(cli, code_file, jobs):
    assert cli("submit", code_file(ADD), "--function", "f", "--id", "dup").returncode == 0
    p = cli("submit", code_file(ADD), "--function", "f", "--id", "dup")
    assert p.returncode == 1 and "already exists" in p.stderr
    assert jobs.r.llen(jobs.key("queue", "default")) == 1


@pytest.mark.parametrize("extra", [
    ["--args", "[1, 2"],                       # malformed JSON
    ["--args", '{"a": 1}'],                    # not an array
    ["--kwargs", "[1]"],                       # not an object
    ["--calls", "[1, 2]"],                     # items not arrays
    ["--calls", "[[1]]", "--args", "[1]"],     # calls with args
    ["--limit-time-ms", "0"],
    ["--limit-memory-mb", "-5"],
    ["--result-ttl", "soon"],
    ["--id", "bad id!"],
    ["--queue", "no/slash"],
    ["--timeout", "5"],                        # without --wait
])
def test_submit_bad_input_exits_2(cli, code_file, jobs, extra):
    p = cli("submit", code_file(ADD), "--function", "f", *extra)
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.strip()
    assert not jobs.r.keys(jobs.key("*"))


def test_submit_bad_function_and_file(cli, code_file, tmp_path):
    assert cli("submit", code_file(ADD)).returncode == 2            # no --function
    assert cli("submit", code_file(ADD), "--function", "1f").returncode == 2
    assert cli("submit", "/nonexistent/x.py", "--function", "f").returncode == 2
    assert cli("submit", "--function", "f").returncode == 2          # no FILE
    assert cli("submit", code_file(""), "--function", "f").returncode == 2
    binary = tmp_path / "bin.py"
    binary.write_bytes(b"def f():\n    return '\xff'\n")
    p = cli("submit", str(binary), "--function", "f")
    assert p.returncode == 2 and "UTF-8" in p.stderr


# --- status and wait without a worker -------------------------------------

def test_status_human_shows_every_field_and_hints(cli, jobs):
    long_code = "def f():\n" + "    x = 1\n" * 50 + "    return x\n"
    seed_job(jobs, "s1", "failed", code=long_code, error_type="ValueError",
             error="bad value", traceback="Traceback...\n  File \"<job>\"\nValueError",
             stdout="line1\nline2\n")
    p = cli("status", "s1")
    assert p.returncode == 0, p.stderr
    key = jobs.key("job", "s1")
    assert f"HGET {key} status" in p.stdout and "failed" in p.stdout
    assert "(52 lines," in p.stdout          # the code, shortened
    assert "x = 1" not in p.stdout
    for line in p.stdout.splitlines():       # every line names its redis-cli
        assert line.startswith("    ") or "# redis-cli" in line, line


def test_status_json(cli, jobs):
    seed_job(jobs, "s2", "queued")
    out = json_out(cli("--json", "status", "s2"))
    assert out["id"] == "s2" and out["found"] is True
    assert out["status"] == "queued" and out["ttl"] == -1
    assert out["job"]["code"] == ADD


def test_status_missing_exits_5(cli):
    p = cli("status", "nope")
    assert p.returncode == 5 and "no job 'nope'" in p.stderr
    p = cli("--json", "status", "nope")
    assert p.returncode == 5
    assert json_out(p) == {"id": "nope", "found": False, "status": None}


def test_status_escapes_terminal_control(cli, jobs):
    seed_job(jobs, "esc", "failed", error="boom\x1b[2J", stdout="\x1b]0;title\x07x")
    p = cli("status", "esc")
    assert p.returncode == 0
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "\\x1b[2J" in p.stdout


def test_wait_timeout_without_worker_exits_4(cli, code_file):
    t0 = time.monotonic()
    p = cli("submit", code_file(ADD), "--function", "f", "--wait",
            "--timeout", "0.5")
    assert p.returncode == 4, p.stdout + p.stderr
    assert time.monotonic() - t0 < 10
    assert "queued" in p.stdout
    job_id = p.stdout.split()[0]
    p = cli("--json", "wait", job_id, "--timeout", "0.2")
    assert p.returncode == 4
    out = json_out(p)
    assert out["timed_out"] is True and out["status"] == "queued"


def test_wait_missing_exits_5(cli):
    assert cli("wait", "ghost", "--timeout", "1").returncode == 5


@pytest.mark.parametrize("status", sorted(FINAL))
def test_wait_exit_code_per_status(cli, jobs, status):
    seed_job(jobs, "done-" + status, status)
    p = cli("wait", "done-" + status)
    assert p.returncode == STATUS_EXIT[status], p.stdout + p.stderr


def test_wait_wakes_on_the_done_message(cli, jobs, redis_server, prefix):
    seed_job(jobs, "w1", "running")
    proc = subprocess.Popen([CLI_BIN, "--redis", redis_server.url, "--prefix",
                             prefix, "wait", "w1", "--timeout", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The waiter is subscribed once the channel has a subscriber.
    assert wait_until(lambda: jobs.r.pubsub_numsub(jobs.key("done", "w1"))[0][1] == 1)
    jobs.r.hset(jobs.key("job", "w1"), mapping={"status": "timeout",
                                                "error_type": "TimeLimit"})
    t0 = time.monotonic()
    jobs.r.publish(jobs.key("done", "w1"), "timeout")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 13, out + err
    assert time.monotonic() - t0 < 1.5  # woken by the message, not by polling
    assert "TimeLimit" in out


# --- stats and workers ------------------------------------------------------

def test_stats_and_workers_with_a_live_worker(worker, cli, jobs):
    if not worker_heartbeats_exist(jobs):
        pytest.xfail("the worker writes no heartbeat hash P:worker:<id> yet")
    assert cli("submit", "-", "--function", "f", "--args", "[1, 2]", "--wait",
               stdin=ADD).returncode == 0
    stats = json_out(cli("--json", "stats"))
    assert [q["name"] for q in stats["queues"]] == ["default"]
    assert stats["queues"][0] == {"name": "default", "waiting": 0, "paused": False}
    assert stats["running"] == 0 and stats["dead"] == 0
    assert stats["totals"]["succeeded"] == 1
    (w,) = stats["workers"]
    assert w["alive"] is True and w["registered"] is True
    assert w["slots"] == 2 and 0 <= w["busy"] <= 2 and w["queues"] == ["default"]
    assert w["pid"] == worker.proc.pid
    workers = json_out(cli("--json", "workers"))
    assert [x["id"] for x in workers["workers"]] == [w["id"]]
    human = cli("workers").stdout
    assert f"worker {w['id']}: alive" in human and "slots busy" in human
    human = cli("stats").stdout
    for line in human.splitlines():
        assert "# redis-cli" in line, line


def test_stats_dead_and_unregistered_workers(cli, jobs):
    r = jobs.r
    r.sadd(jobs.key("workers"), "ghost:1")                 # registered, no beat
    r.rpush(jobs.key("processing", "ghost:1"), "j1")
    r.rpush(jobs.key("processing", "orphan:2"), "j2", "j3")  # not registered
    r.lpush(jobs.key("queue", "default"), "a", "b", "c")
    r.sadd(jobs.key("paused"), "batch")
    r.lpush(jobs.key("dead"), "x")
    r.hset(jobs.key("stats"), mapping={"succeeded": 5, "failed": 2})
    stats = json_out(cli("--json", "stats"))
    assert stats["queues"] == [{"name": "batch", "waiting": 0, "paused": True},
                               {"name": "default", "waiting": 3, "paused": False}]
    assert stats["running"] == 3 and stats["dead"] == 1
    assert stats["totals"] == {"succeeded": 5, "failed": 2}
    ws = {w["id"]: w for w in stats["workers"]}
    assert ws["ghost:1"]["alive"] is False and ws["ghost:1"]["registered"] is True
    assert ws["orphan:2"]["registered"] is False and ws["orphan:2"]["processing"] == 2
    human = cli("stats").stdout
    assert "worker ghost:1: dead" in human
    assert "worker orphan:2: not registered, 2 job(s)" in human
    assert "queue batch: 0 waiting, PAUSED" in human


def test_workers_empty(cli):
    p = cli("workers")
    assert p.returncode == 0 and "no workers" in p.stdout
    assert json_out(cli("--json", "workers")) == {"workers": []}


# --- requeue-dead -----------------------------------------------------------

def seed_lost(jobs, job_id, queue="default"):
    seed_job(jobs, job_id, "lost", queue=queue, attempts=3, error_type="Lost",
             error="workers died while running it 3 times",
             finished_at=int(time.time() * 1000))
    jobs.r.expire(jobs.key("job", job_id), 3600)
    jobs.r.lpush(jobs.key("dead"), job_id)


def test_requeue_dead_all(cli, jobs):
    r = jobs.r
    r.rpush(jobs.key("queue", "q1"), "older")
    seed_lost(jobs, "lost1", queue="q1")
    seed_lost(jobs, "lost2")
    seed_job(jobs, "notlost", "succeeded")
    r.lpush(jobs.key("dead"), "notlost", "expired")
    p = cli("requeue-dead")
    assert p.returncode == 0, p.stderr
    assert "requeued 2 job(s)" in p.stdout
    for job_id in ("lost1", "lost2"):
        job = jobs.job(job_id)
        assert job["status"] == "queued" and job["attempts"] == "0"
        assert not {"error", "error_type", "finished_at"} & set(job)
        assert r.ttl(jobs.key("job", job_id)) == -1
    # the consuming (right) end: the requeued job runs next
    assert r.lindex(jobs.key("queue", "q1"), -1) == "lost1"
    assert r.lrange(jobs.key("queue", "default"), 0, -1) == ["lost2"]
    assert r.lrange(jobs.key("dead"), 0, -1) == ["notlost"]
    assert jobs.job("notlost")["status"] == "succeeded"


def test_requeue_dead_given_ids_json(cli, jobs):
    seed_lost(jobs, "l1")
    seed_lost(jobs, "l2")
    out = json_out(cli("--json", "requeue-dead", "l2"))
    assert out["count"] == 1 and out["requeued"] == ["l2"]
    assert jobs.job("l1")["status"] == "lost"
    assert jobs.r.lrange(jobs.key("dead"), 0, -1) == ["l1"]


# --- cancel and purge -------------------------------------------------------

def test_cancel_queued_without_worker(cli, code_file, jobs):
    job_id = json_out(cli("--json", "submit", code_file(ADD), "--function", "f",
                          "--result-ttl", "300"))["id"]
    ps = jobs.r.pubsub()
    ps.subscribe(jobs.key("done", job_id))
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    p = cli("cancel", job_id)
    assert p.returncode == 0, p.stderr
    assert f"job {job_id}: canceled" in p.stdout
    job = jobs.job(job_id)
    assert job["status"] == "canceled" and job["error_type"] == "Canceled"
    assert job["error"] == "canceled before it ran" and "finished_at" in job
    assert jobs.r.llen(jobs.key("queue", "default")) == 0
    assert 0 < jobs.r.ttl(jobs.key("job", job_id)) <= 300
    assert jobs.r.hget(jobs.key("stats"), "canceled") == "1"
    msg = ps.get_message(timeout=2)
    assert msg and msg["data"] == "canceled"
    ps.close()
    assert cli("wait", job_id).returncode == 19


def test_cancel_running_is_requested(cli, jobs):
    seed_job(jobs, "run1", "running")
    ps = jobs.r.pubsub()
    ps.subscribe(jobs.key("cancel"))
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    out = json_out(cli("--json", "cancel", "run1"))
    assert out == {"id": "run1", "result": "requested"}
    assert int(jobs.job("run1")["cancel_requested"]) > 0
    assert jobs.job("run1")["status"] == "running"
    msg = ps.get_message(timeout=2)
    assert msg and msg["data"] == "run1"
    ps.close()


def test_cancel_final_job_is_left_alone(cli, jobs):
    seed_job(jobs, "fin", "succeeded", result="1")
    p = cli("cancel", "fin")
    assert p.returncode == 0 and "already succeeded" in p.stdout
    assert jobs.job("fin")["status"] == "succeeded"


def test_cancel_missing_exits_5(cli):
    p = cli("cancel", "nosuchjob")
    assert p.returncode == 5 and "no job" in p.stderr
    p = cli("--json", "cancel", "nosuchjob")
    assert p.returncode == 5 and json_out(p)["result"] == "missing"


def test_purge(cli, code_file, jobs):
    ids = [json_out(cli("--json", "submit", code_file(ADD), "--function", "f",
                        "--queue", "bulk"))["id"] for _ in range(3)]
    jobs.r.lpush(jobs.key("queue", "bulk"), "hashgone")
    seed_job(jobs, "other", "running", queue="bulk")
    jobs.r.lpush(jobs.key("queue", "bulk"), "other")
    ps = jobs.r.pubsub()
    ps.subscribe(*[jobs.key("done", i) for i in ids])
    p = cli("purge", "bulk")
    assert p.returncode == 0, p.stderr
    assert "3 job(s) canceled, 5 id(s) taken off" in p.stdout
    assert jobs.r.exists(jobs.key("queue", "bulk")) == 0
    for i in ids:
        job = jobs.job(i)
        assert job["status"] == "canceled" and job["error"] == "purged from queue"
        assert jobs.r.ttl(jobs.key("job", i)) > 0
    assert jobs.job("other")["status"] == "running"
    assert jobs.r.hget(jobs.key("stats"), "canceled") == "3"
    got = set()
    wait_until(lambda: (got.update(m["channel"] for m in iter(ps.get_message, None)
                                   if m["type"] == "message") or len(got) == 3),
               timeout=3)
    assert got == {jobs.key("done", i) for i in ids}
    ps.close()
    out = json_out(cli("--json", "purge", "bulk"))
    assert out == {"queue": "bulk", "canceled": 0, "removed": 0}


# --- pause and resume -------------------------------------------------------

def test_pause_resume(cli, jobs):
    ps = jobs.r.pubsub()
    ps.subscribe(jobs.key("control"))
    assert ps.get_message(timeout=2)["type"] == "subscribe"
    p = cli("pause", "batch")
    assert p.returncode == 0, p.stderr
    assert jobs.r.sismember(jobs.key("paused"), "batch")
    assert ps.get_message(timeout=2)["data"] == "pause batch"
    out = json_out(cli("--json", "resume", "batch"))
    assert out == {"queue": "batch", "paused": False, "notified": 1}
    assert not jobs.r.sismember(jobs.key("paused"), "batch")
    assert ps.get_message(timeout=2)["data"] == "resume batch"
    ps.close()


def test_paused_queue_is_not_taken(worker, cli, code_file, jobs):
    assert cli("pause", "default").returncode == 0
    time.sleep(0.3)  # the worker hears it on P:control
    p = cli("submit", code_file(ADD), "--function", "f", "--args", "[1, 2]",
            "--wait", "--timeout", "1.5")
    assert p.returncode == 4, p.stdout + p.stderr
    assert cli("resume", "default").returncode == 0
    job_id = p.stdout.split()[0]
    assert cli("wait", job_id, "--timeout", "20").returncode == 0


# --- usage, connection, help -----------------------------------------------

@pytest.mark.parametrize("args", [
    [], ["nosuch"], ["status"], ["status", "a", "b"], ["status", "bad id"],
    ["wait", "x", "--timeout", "abc"], ["wait", "x", "--timeout", "1.2345"],
    ["stats", "--bogus"], ["stats", "extra"], ["--bogus", "stats"],
    ["cancel"], ["cancel", "a", "b"], ["purge"], ["pause", "bad queue"],
    ["resume"], ["requeue-dead", "ok", "not ok"], ["wait", "x", "--timeout"],
])
def test_bad_usage_exits_2(cli, args):
    p = cli(*args)
    assert p.returncode == 2, (args, p.stdout, p.stderr)
    assert p.stderr.strip()


def test_bad_global_flags_exit_2(cli):
    assert cli("stats", url="http://localhost").returncode == 2
    assert cli("--prefix", "has space", "stats").returncode == 2
    assert cli("stats", url="redis://127.0.0.1:99999").returncode == 2


def test_unreachable_redis_exits_3(cli, code_file):
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["stats"], ["status", "x"], ["cancel", "x"], ["pause", "q"],
                 ["submit", code_file(ADD), "--function", "f"]):
        p = cli(*args, url=url)
        assert p.returncode == 3, (args, p.stderr)
        assert "cannot connect to Redis" in p.stderr
    p = cli("stats", url="unix:///nonexistent/redis.sock")
    assert p.returncode == 3
    p = cli("--json", "workers", url=url)
    assert p.returncode == 3 and json_out(p)["exit_code"] == 3


def test_redis_url_from_environment_and_unix_socket(redis_server, prefix, jobs):
    env = dict(os.environ, SANDQ_REDIS_URL=f"unix://{redis_server.sock}")
    seed_job(jobs, "u1", "queued")
    p = subprocess.run([CLI_BIN, "--prefix", prefix, "status", "u1"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    assert f"redis-cli -s {redis_server.sock} HGET" in p.stdout


def test_global_flags_after_the_command(cli, redis_server, prefix, jobs):
    seed_job(jobs, "g1", "queued")
    p = subprocess.run([CLI_BIN, "status", "g1", "--json", "--prefix", prefix,
                        "--redis", redis_server.url], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and json_out(p)["status"] == "queued"


@pytest.mark.parametrize("command", ["submit", "status", "wait", "stats", "workers",
                                     "requeue-dead", "cancel", "purge", "pause",
                                     "resume"])
def test_help_per_command(command):
    p = subprocess.run([CLI_BIN, command, "--help"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("usage: sandq")
    assert command in p.stdout.split("\n")[0] or command == "resume"


def test_top_level_help():
    p = subprocess.run([CLI_BIN, "--help"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and "requeue-dead" in p.stdout


def test_cancel_script_is_the_python_clients():
    """docs/protocol.md: one cancel script, the same in the CLI and the
    Python client. Compare the C string with CANCEL_LUA byte for byte."""
    import re
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.path.insert(0, os.path.join(repo, "tools", "python"))
    try:
        from sandq._protocol import CANCEL_LUA
    except ImportError as e:
        pytest.skip(f"Python client not importable: {e}")
    src = open(os.path.join(repo, "tools", "cli", "admin_scripts.c")).read()
    body = re.search(r"script_cancel\[\] =\n(.*?);\n", src, re.S).group(1)
    c_text = "".join(s.encode().decode("unicode_escape")
                     for s in re.findall(r'"((?:[^"\\]|\\.)*)"', body))
    assert c_text == CANCEL_LUA


def test_cancel_with_zero_result_ttl_keeps_the_hash(redis_server, prefix):
    # A producer's result_ttl of 0 must not make cancel delete the job hash
    # on the spot: the canceled status has to stay readable.
    r = redis_server.client()
    r.hset(f"{prefix}:job:z1", mapping={"code": "def f():\n    return 1\n",
                                        "function": "f", "status": "queued",
                                        "result_ttl": "0"})
    r.lpush(f"{prefix}:queue:default", "z1")
    p = subprocess.run([CLI_BIN, "--redis", redis_server.url, "--prefix", prefix,
                        "cancel", "z1"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert r.hget(f"{prefix}:job:z1", "status") == "canceled"
    assert r.ttl(f"{prefix}:job:z1") > 0
