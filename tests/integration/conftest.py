"""Fixtures for sandq's integration tests: a real redis-server on a free
port (own temp dir, stopped by pid) and the real sandq-worker binary.

Environment:
  SANDQ_BUILD   build directory holding sandq-worker and sandq-zygote
  TEST_PREFIX   command prefix for the worker (e.g. "valgrind -q")
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import redis

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SANDQ_BUILD", os.path.join(REPO, "build"))
WORKER_BIN = os.path.join(BUILD, "sandq-worker")
FINAL = {"succeeded", "failed", "rejected", "invalid", "timeout", "memory_limit",
         "output_limit", "violation", "crashed", "lost", "canceled"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


class RedisServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sandq-redis-")
        self.port = free_port()
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = None
        self.start()

    def start(self, appendonly=False):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", self.sock, "--dir", self.dir, "--save", "",
                "--appendonly", "yes" if appendonly else "no",
                "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        ok = wait_until(lambda: self._ping(client), timeout=10)
        assert ok, "redis-server did not answer PING"

    @staticmethod
    def _ping(client):
        try:
            return client.ping()
        except redis.exceptions.ConnectionError:
            return False

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        return redis.Redis(port=self.port, decode_responses=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="session")
def redis_server():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed (run scripts/install-deps.sh)")
    server = RedisServer()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


_missing_layers = None


def missing_layers():
    """Layers this host cannot provide, from `sandq-worker --self-test`
    (run once). Workers in tests accept exactly those with --allow-missing,
    and say so: a weaker sandbox is never silent."""
    global _missing_layers
    if _missing_layers is None:
        p = subprocess.run([WORKER_BIN, "--self-test"], capture_output=True,
                           text=True, timeout=120)
        _missing_layers = {}
        for line in p.stdout.splitlines():
            m = re.match(r"^(\w+)\s+MISSING\s+(.*)$", line)
            if m:
                _missing_layers[m.group(1)] = m.group(2)
        for name, why in _missing_layers.items():
            print(f"NOTE: sandbox layer {name} missing on this host ({why}); "
                  f"tests run workers with --allow-missing {name}")
    return _missing_layers


class Worker:
    """One sandq-worker process; stderr captured to a file for assertions."""

    def __init__(self, server, prefix, args=(), env=None):
        self.prefix = prefix
        missing = missing_layers()
        if missing and "--allow-missing" not in args:
            args = list(args) + ["--allow-missing", ",".join(sorted(missing))]
        self.log_path = os.path.join(server.dir, f"worker-{prefix}-{uuid.uuid4().hex[:6]}.log")
        cmd = shlex.split(os.environ.get("TEST_PREFIX", "")) + [
            WORKER_BIN, "--redis", server.url, "--prefix", prefix] + list(args)
        self.log = open(self.log_path, "w")
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full_env[k] = os.environ[k]
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env, start_new_session=True)
        args = list(args)
        self.worker_id = (args[args.index("--worker-id") + 1] if "--worker-id" in args
                          else f"{socket.gethostname()}:{self.proc.pid}")
        _STARTED_WORKERS.append(self)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Jobs:
    """Producer side of PROTOCOL.md for one key prefix."""

    def __init__(self, client, prefix, queue="default"):
        self.r = client
        self.prefix = prefix
        self.queue = queue

    def key(self, *parts):
        return ":".join((self.prefix,) + parts)

    def submit(self, code, function="f", job_id=None, queue=None, **fields):
        job_id = job_id or uuid.uuid4().hex
        queue = queue or self.queue
        mapping = {"code": code, "function": function, "status": "queued",
                   "enqueued_at": int(time.time() * 1000)}
        for k, v in fields.items():
            if v is not None:
                mapping[k] = v
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key("job", job_id), mapping=mapping)
        pipe.lpush(self.key("queue", queue), job_id)
        pipe.execute()
        return job_id

    def job(self, job_id):
        return self.r.hgetall(self.key("job", job_id))

    def wait(self, job_id, timeout=20):
        got = wait_until(lambda: self.r.hget(self.key("job", job_id), "status") in FINAL,
                         timeout=timeout)
        job = self.job(job_id)
        assert got, f"job {job_id} not final after {timeout}s: {job}"
        return job

    def run(self, code, function="f", timeout=20, **fields):
        return self.wait(self.submit(code, function, **fields), timeout)


@pytest.fixture
def prefix():
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def jobs(redis_server, prefix):
    return Jobs(redis_server.client(), prefix)


@pytest.fixture
def start_worker(redis_server, prefix):
    started = []

    def start(*args, prefix_override=None, env=None, wait_ready=True):
        w = Worker(redis_server, prefix_override or prefix, args, env)
        started.append(w)
        if wait_ready:
            ok = wait_until(lambda: "taking from" in w.output() or not w.alive(),
                            timeout=30)
            assert ok and w.alive(), "worker did not start:\n" + w.output()
        return w

    yield start
    for w in started:
        if w.alive():
            w.stop()
        out = w.output()
        assert not re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:", out), out
        # under TEST_PREFIX="valgrind ...": any error or leak fails the test
        assert not re.search(r"ERROR SUMMARY: [1-9]|definitely lost: [1-9]", out), out


@pytest.fixture
def worker(start_worker):
    return start_worker("--slots", "2")


_STARTED_WORKERS = []  # (Worker) of this session, for cgroup cleanup


def _remove_empty_cgroup_tree(path):
    for name in os.listdir(path):
        sub = os.path.join(path, name)
        if os.path.isdir(sub):
            _remove_empty_cgroup_tree(sub)
    os.rmdir(path)  # fails (and is skipped) while any process is inside


def pytest_sessionfinish(session, exitstatus):
    """Workers killed with -9 by the tests cannot remove their per-slot
    cgroups (a restart with the same id would). Remove those of this
    session's dead workers only: never another worker's."""
    import glob
    for w in _STARTED_WORKERS:
        if w.alive():
            continue
        name = re.sub(r"[^A-Za-z0-9._-]", "_", w.worker_id)
        for d in glob.glob(f"/sys/fs/cgroup/*/sandq-{name}") + \
                glob.glob(f"/sys/fs/cgroup/unified/sandq-{name}"):
            try:
                _remove_empty_cgroup_tree(d)
            except OSError:
                pass
