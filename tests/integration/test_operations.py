"""Reliability and operations (issue 4): heartbeats, the reaper after
kill -9, max_attempts, Redis outages, cancel, pause, metrics, systemd."""
import json
import socket
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO, BUILD, Jobs, RedisServer, Worker, free_port, wait_until

FAST = ("--heartbeat-ms", "200", "--heartbeat-ttl-ms", "600", "--reap-ms", "200")
SLEEPY = "import time\ndef f(x):\n    time.sleep(x)\n    return x\n"


def test_heartbeat_hash(start_worker, jobs):
    w = start_worker("--slots", "3", "--worker-id", "hb-1", "--queue", "a", "--queue", "b")
    key = jobs.key("worker", "hb-1")
    assert wait_until(lambda: jobs.r.exists(key))
    h = jobs.r.hgetall(key)
    assert h["pid"] == str(w.proc.pid) and h["slots"] == "3" and h["queues"] == "a,b"
    assert h["busy"] == "0" and h["version"] and int(h["started_at"]) > 0
    assert "done_succeeded" in h
    assert 0 < jobs.r.pttl(key) <= 15000
    assert "hb-1" in jobs.r.smembers(jobs.key("workers"))
    assert w.stop() == 0
    assert not jobs.r.exists(key)
    assert "hb-1" not in jobs.r.smembers(jobs.key("workers"))


def test_kill9_jobs_run_elsewhere(start_worker, jobs):
    a = start_worker("--slots", "2", "--worker-id", "victim", *FAST)
    b = start_worker("--slots", "2", "--worker-id", "survivor", *FAST)
    code = "import time\ndef f(i):\n    time.sleep(0.01)\n    return i\n"
    ids = [jobs.submit(code, args=json.dumps([i])) for i in range(300)]
    assert wait_until(lambda: int(jobs.r.hget(jobs.key("stats"), "succeeded") or 0) >= 60)
    os.killpg(a.proc.pid, signal.SIGKILL)
    t_kill = time.time()
    a.proc.wait()
    done = [jobs.wait(i, timeout=60) for i in ids]
    assert all(j["status"] == "succeeded" for j in done), [j["status"] for j in done if j["status"] != "succeeded"]
    assert [json.loads(j["result"]) for j in done] == list(range(300))
    reaped = [j for j in done if j["attempts"] == "2"]
    assert all(j["worker"] == "survivor" for j in reaped)
    assert all(j["attempts"] in ("1", "2") for j in done)
    if reaped:
        first_restart = min(int(j["started_at"]) for j in reaped) / 1000
        print(f"kill -9 to reaped job running elsewhere: {first_restart - t_kill:.2f} s, "
              f"{len(reaped)} job(s) reaped")
    assert "victim" not in jobs.r.smembers(jobs.key("workers"))
    assert b.alive()


def test_max_attempts_gives_lost(start_worker, jobs):
    a = start_worker("--slots", "1", "--worker-id", "doomed", *FAST)
    job_id = jobs.submit(SLEEPY, args="[30]", max_attempts="1")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    os.killpg(a.proc.pid, signal.SIGKILL)
    a.proc.wait()
    start_worker("--slots", "1", "--worker-id", "reaper", *FAST)
    job = jobs.wait(job_id, timeout=20)
    assert job["status"] == "lost", job
    assert "1 times" in job["error"]
    assert jobs.r.lrange(jobs.key("dead"), 0, -1) == [job_id]
    assert jobs.r.hget(jobs.key("stats"), "lost") == "1"


def test_restart_with_same_id_recovers_own_list(start_worker, jobs):
    a = start_worker("--slots", "1", "--worker-id", "phoenix")
    job_id = jobs.submit(SLEEPY, args="[30]")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    os.killpg(a.proc.pid, signal.SIGKILL)
    a.proc.wait()
    jobs.r.hset(jobs.key("job", job_id), "args", "[0.01]")
    w = start_worker("--slots", "1", "--worker-id", "phoenix")
    job = jobs.wait(job_id, timeout=20)
    assert job["status"] == "succeeded" and job["attempts"] == "2"
    assert "recovered our processing list: 1 requeued" in w.output()


def test_reaper_lock_two_workers_race(start_worker, jobs):
    # A dead worker (registered, no heartbeat) holding 40 ids: two live
    # reapers racing every 100 ms must requeue each id exactly once.
    ids = []
    for i in range(40):
        job_id = f"race-{i}"
        jobs.r.hset(jobs.key("job", job_id), mapping={
            "code": "def f(i):\n    return i\n", "function": "f", "args": f"[{i}]",
            "status": "running", "attempts": "1", "worker": "ghost", "queue": "default"})
        jobs.r.rpush(jobs.key("processing", "ghost"), job_id)
        ids.append(job_id)
    jobs.r.sadd(jobs.key("workers"), "ghost")
    for name in ("r1", "r2"):
        start_worker("--slots", "2", "--worker-id", name, "--reap-ms", "100",
                     "--heartbeat-ms", "200", "--heartbeat-ttl-ms", "600")
    done = [jobs.wait(i, timeout=30) for i in ids]
    assert all(j["status"] == "succeeded" and j["attempts"] == "2" for j in done)
    assert int(jobs.r.hget(jobs.key("stats"), "succeeded")) == 40
    assert not jobs.r.exists(jobs.key("processing", "ghost"))
    assert "ghost" not in jobs.r.smembers(jobs.key("workers"))


def test_redis_outage_nothing_lost(tmp_path):
    server = RedisServer()
    workers = []
    try:
        server.stop()
        server.start(appendonly=True)
        prefix = "outage"
        jobs = Jobs(server.client(), prefix)
        w = Worker(server, prefix, ["--slots", "2", "--worker-id", "steady"])
        workers.append(w)
        assert wait_until(lambda: "taking from" in w.output(), timeout=30)
        ids = [jobs.submit(SLEEPY, args="[0.3]") for _ in range(12)]
        assert wait_until(lambda: jobs.r.hget(jobs.key("job", ids[1]), "status") == "running")
        server.stop()
        time.sleep(3)
        server.start(appendonly=True)
        jobs = Jobs(server.client(), prefix)
        done = [jobs.wait(i, timeout=60) for i in ids]
        assert all(j["status"] == "succeeded" for j in done), (
            [(j["status"], j.get("error")) for j in done], w.output()[-4000:])
        assert int(jobs.r.hget(jobs.key("stats"), "succeeded")) == 12
        out = w.output()
        assert "connection lost" in out and w.alive()
        assert w.stop() == 0
    finally:
        for w in workers:
            if w.alive():
                w.stop(signal.SIGKILL)
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


CANCEL_LUA = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 'missing' end
if st == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'canceled', 'error_type', 'Canceled',
    'error', 'canceled before it ran', 'finished_at', ARGV[3])
  local q = redis.call('HGET', KEYS[1], 'queue') or 'default'
  redis.call('LREM', ARGV[1] .. ':queue:' .. q, 0, ARGV[2])
  redis.call('EXPIRE', KEYS[1], tonumber(redis.call('HGET', KEYS[1], 'result_ttl') or '86400'))
  redis.call('HINCRBY', ARGV[1] .. ':stats', 'canceled', 1)
  redis.call('PUBLISH', ARGV[1] .. ':done:' .. ARGV[2], 'canceled')
  return 'canceled'
elseif st == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_requested', ARGV[3])
  redis.call('PUBLISH', ARGV[1] .. ':cancel', ARGV[2])
  return 'requested'
end
return st
"""


def cancel(jobs, job_id):
    return jobs.r.eval(CANCEL_LUA, 1, jobs.key("job", job_id), jobs.prefix, job_id,
                       int(time.time() * 1000))


def test_cancel_queued_job_is_skipped(start_worker, jobs):
    job_id = jobs.submit("def f():\n    return 1\n")
    assert cancel(jobs, job_id) == "canceled"
    start_worker()
    time.sleep(0.3)
    job = jobs.job(job_id)
    assert job["status"] == "canceled" and "attempts" not in job
    assert jobs.r.llen(jobs.key("queue", "default")) == 0


def test_cancel_running_job(worker, jobs):
    job_id = jobs.submit(SLEEPY, args="[30]")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    time.sleep(0.1)
    t0 = time.monotonic()
    assert cancel(jobs, job_id) == "requested"
    job = jobs.wait(job_id, timeout=5)
    elapsed = time.monotonic() - t0
    assert job["status"] == "canceled" and job["error_type"] == "Canceled", job
    assert elapsed < 1.0, elapsed
    assert jobs.r.hget(jobs.key("stats"), "canceled") == "1"


def test_pause_and_resume(start_worker, jobs):
    w = start_worker("--slots", "1")
    jobs.r.sadd(jobs.key("paused"), "default")
    jobs.r.publish(jobs.key("control"), "pause default")
    assert wait_until(lambda: "queue 'default' paused" in w.output())
    job_id = jobs.submit("def f():\n    return 1\n")
    time.sleep(0.5)
    assert jobs.job(job_id)["status"] == "queued"
    jobs.r.srem(jobs.key("paused"), "default")
    jobs.r.publish(jobs.key("control"), "resume default")
    assert jobs.wait(job_id)["status"] == "succeeded"


def test_paused_at_start_is_respected(start_worker, jobs):
    jobs.r.sadd(jobs.key("paused"), "default")
    job_id = jobs.submit("def f():\n    return 1\n")
    w = start_worker("--slots", "1")
    time.sleep(0.5)
    assert jobs.job(job_id)["status"] == "queued"
    jobs.r.srem(jobs.key("paused"), "default")
    jobs.r.publish(jobs.key("control"), "resume default")
    assert jobs.wait(job_id)["status"] == "succeeded"
    assert w.alive()


def parse_prometheus(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        assert m, f"bad exposition line: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def test_metrics_and_healthz(start_worker, jobs):
    port = free_port()
    start_worker("--metrics", f"127.0.0.1:{port}")
    jobs.run("def f():\n    return 1\n")
    jobs.run("def f():\n    return 1/0\n")
    def scrape():
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        return parse_prometheus(body.decode())
    # a slot stays busy until its child is reaped, just after the outcome
    assert wait_until(lambda: scrape()["sandq_slots_busy"] == 0, timeout=5)
    m = scrape()
    assert m['sandq_jobs_total{status="succeeded"}'] == 1
    assert m['sandq_jobs_total{status="failed"}'] == 1
    assert m["sandq_job_duration_seconds_count"] == 2
    assert m['sandq_job_duration_seconds_bucket{le="+Inf"}'] == 2
    assert m["sandq_queue_wait_seconds_count"] == 2
    assert m["sandq_slots"] == 2 and m["sandq_slots_busy"] == 0
    assert m["sandq_redis_up"] == 1 and m["sandq_zygote_up"] == 1
    health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert health.status == 200 and b"zygote up" in health.read()


def test_systemd_unit_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    dest = tmp_path / "root"
    subprocess.run(["make", "-s", "-C", REPO, "install", f"DESTDIR={dest}",
                    "PREFIX=/usr/local", f"BUILD={BUILD}"], check=True,
                   capture_output=True)
    unit = (dest / "usr/local/lib/systemd/system/sandq-worker@.service").read_text()
    assert "Type=notify" in unit and "Delegate=yes" in unit and "KillMode=mixed" in unit
    unit = unit.replace("/usr/local/bin/sandq-worker", os.path.join(BUILD, "sandq-worker"))
    path = tmp_path / "sandq-worker@default.service"
    path.write_text(unit)
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "sandq-worker" not in p.stderr, p.stderr


def test_sd_notify_ready_and_watchdog(redis_server, prefix, tmp_path):
    import socket
    sock_path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(20)
    w = Worker(redis_server, prefix, ["--slots", "1"],
               env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
    try:
        msgs = []
        deadline = time.time() + 20
        while time.time() < deadline and not (any("READY=1" in m for m in msgs)
                                              and any("WATCHDOG=1" in m for m in msgs)):
            msgs.append(s.recv(4096).decode())
        assert any("READY=1" in m for m in msgs), msgs
        assert any("WATCHDOG=1" in m for m in msgs), msgs
        w.proc.send_signal(signal.SIGTERM)
        while True:
            m = s.recv(4096).decode()
            if "STOPPING=1" in m:
                break
    finally:
        w.stop()
        s.close()


def test_slow_worker_cannot_overwrite_reaped_job(start_worker, jobs):
    # Worker "slow" stalls (SIGSTOP of its supervisor only) long enough for
    # its heartbeat to expire; "fast" reaps and reruns the job. When "slow"
    # wakes up, its child's outcome must not overwrite the new attempt.
    slow = start_worker("--slots", "1", "--worker-id", "slow", *FAST)
    job_id = jobs.submit("import time\ndef f():\n    time.sleep(0.5)\n    return 'first'\n")
    assert wait_until(lambda: jobs.job(job_id).get("status") == "running")
    os.kill(slow.proc.pid, signal.SIGSTOP)
    try:
        jobs.r.hset(jobs.key("job", job_id), "code",
                    "import time\ndef f():\n    time.sleep(1.5)\n    return 'second'\n")
        start_worker("--slots", "1", "--worker-id", "fast", *FAST)
        assert wait_until(lambda: jobs.job(job_id).get("worker") == "fast", timeout=15)
    finally:
        os.kill(slow.proc.pid, signal.SIGCONT)
    assert wait_until(lambda: "now belongs to another worker" in slow.output(), timeout=10)
    job = jobs.wait(job_id)
    assert job["status"] == "succeeded" and json.loads(job["result"]) == "second"
    assert job["attempts"] == "2" and job["worker"] == "fast"
    assert jobs.r.hget(jobs.key("stats"), "succeeded") == "1"


def test_cgroups_of_crashed_default_id_workers_are_removed(start_worker):
    import glob
    import re as _re
    if not os.path.isdir("/sys/fs/cgroup/pids") or not os.access("/sys/fs/cgroup/pids", os.W_OK):
        pytest.skip("no writable cgroup v1 pids hierarchy here")
    host = _re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that is gone
    orphan = f"/sys/fs/cgroup/pids/sandq-{host}_{dead.pid}"
    alive = f"/sys/fs/cgroup/pids/sandq-{host}_{os.getpid()}"
    for d in (orphan + "/slot-0", alive + "/slot-0"):
        os.makedirs(d, exist_ok=True)
    try:
        w = start_worker("--slots", "1")
        assert "removed the cgroups of" in w.output()
        assert not os.path.exists(orphan)
        assert os.path.exists(alive)  # its worker may still run
    finally:
        for d in (orphan, alive):
            for sub in glob.glob(d + "/*/"):
                os.rmdir(sub)
            if os.path.exists(d):
                os.rmdir(d)
