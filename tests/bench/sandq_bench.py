"""sandq_bench - throughput, latency, memory and CPU of sandq (issue 6).

Started by tests/bench/run.sh (`make bench`). Starts its own redis-server
(free port, temp dir, stopped by pid) and its own workers, measures, and
prints a human report followed by one JSON line per figure:

  {"bench": "...", "metric": "...", "value": ..., "unit": "...",
   "baseline": ..., "ratio": ...}

It never asserts anything about a number: benchmarks only report. It exits
1 when some part could not be measured at all (listed at the end), 0
otherwise. docs/benchmarks.md says what each figure means.

Environment:
  SANDQ_BUILD   build directory with sandq-worker and sandq-zygote
  BENCH_QUICK=1 a ~30 s smoke run (fewer jobs, no strace/perf phases)
  BENCH_JSON    also append the JSON lines to this file
  BENCH_PERF=0  skip the perf-record phase (default: on when perf works)
  BENCH_STRACE=0 skip the strace phase (default: on when strace exists)
  BENCH_COMMIT  what to report as the commit (default: git HEAD of the repo,
                "+dirty" when tracked files differ from it)
  BENCH_WORKER_ARGS  extra sandq-worker flags, e.g. "--allow-missing cgroup"
                (when the worker refuses to start because the host lacks a
                sandbox layer, the bench retries once with the --allow-missing
                it names, and says so in the report and the meta line)
"""

import glob
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("SANDQ_BUILD", os.path.join(REPO, "build"))
WORKER_BIN = os.path.join(BUILD, "sandq-worker")
ZYGOTE_BIN = os.path.join(BUILD, "sandq-zygote")
PYTHON = "/usr/bin/python3"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
CLK_TCK = os.sysconf("SC_CLK_TCK")
FINAL = {"succeeded", "failed", "rejected", "invalid", "timeout", "memory_limit",
         "output_limit", "violation", "crashed", "lost", "canceled"}

# Sizes of the runs: (full, quick).
def _pick(full, quick):
    return quick if QUICK else full

N_BURST = _pick(2000, 300)        # jobs per throughput run
REPEATS = _pick(3, 1)             # warm throughput runs per config
N_LAT = _pick(500, 200)           # sequential jobs for latency percentiles
N_LAT_WARMUP = 20
N_MONITOR_SEQ = _pick(200, 50)    # sequential jobs traced with MONITOR
N_MONITOR_BURST = _pick(500, 100)
N_BASE = _pick(300, 40)           # jobs per baseline throughput run
N_BASE_LAT = _pick(60, 15)
N_BATCH = 1000                    # calls in the batch job / separate jobs
BATCH_REPS = _pick(5, 2)
N_CPU = _pick(10, 3)              # CPU-bound jobs
CPU_TARGET_S = 0.050
N_BIG_LAT = _pick(15, 4)
N_BIG_BURST = _pick(60, 10)
N_BIG_BASE = _pick(40, 8)
N_ZYGOTE = _pick(500, 100)        # jobs driven straight through the zygote
N_STRACE = 300
N_PERF = 2000
IDLE_S = _pick(5.0, 2.0)

MEAN_CODE = "def f(xs):\n    return sum(xs) / len(xs)\n"
MEAN_ARGS = "[[1,2,3]]"
SLEEP_CODE = ("import time\n\ndef f(xs):\n    time.sleep(0.5)\n"
              "    return sum(xs) / len(xs)\n")
CPU_CODE = ("def f(n):\n    s = 0\n    for i in range(n):\n"
            "        s += i * i % 7\n    return s\n")


# --- figures ------------------------------------------------------------------

class Report:
    def __init__(self):
        self.figures = []
        self.sections = []  # (title, [lines])
        self.json_path = os.environ.get("BENCH_JSON")

    def fig(self, bench, metric, value, unit, baseline=None, ratio=None, note=None):
        if isinstance(value, float):
            value = round(value, 3)
        if isinstance(baseline, float):
            baseline = round(baseline, 3)
        if ratio is None and baseline not in (None, 0) and value is not None:
            ratio = value / baseline
        if isinstance(ratio, float):
            ratio = round(ratio, 3)
        d = {"bench": bench, "metric": metric, "value": value, "unit": unit,
             "baseline": baseline, "ratio": ratio}
        self.figures.append((d, note))
        return value

    def section(self, title, lines):
        self.sections.append((title, list(lines)))
        log(f"\n## {title}\n" + "\n".join(lines))

    def table(self):
        rows = [("bench", "metric", "value", "unit", "baseline", "ratio")]
        for d, note in self.figures:
            rows.append((d["bench"], d["metric"], _fmt(d["value"]), d["unit"] or "",
                         _fmt(d["baseline"]), _fmt(d["ratio"], ratio=True)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = []
        for k, r in enumerate(rows):
            cells = [r[i].ljust(widths[i]) if i < 2 or i == 3 else r[i].rjust(widths[i])
                     for i in range(len(r))]
            out.append("  ".join(cells).rstrip())
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        return out

    def json_lines(self):
        return [json.dumps(d) for d, _ in self.figures]


def _fmt(v, ratio=False):
    if v is None:
        return "-"
    if isinstance(v, float):
        if ratio:
            return f"{v:.2f}x"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def pct(values, p):
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def mean(values):
    return statistics.fmean(values) if values else None


# --- /proc ------------------------------------------------------------------

def proc_times(pid):
    """(utime, stime, cutime, cstime) in seconds, or zeros if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return (0.0, 0.0, 0.0, 0.0)
    fields = data.rsplit(")", 1)[1].split()
    return tuple(int(x) / CLK_TCK for x in fields[11:15])


def proc_runtime_ns(pid):
    """Sum of on-CPU time of all threads (schedstat, ns precision)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_children(pid):
    out = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def proc_descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in proc_children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_kv(pid, name):
    """kB fields of /proc/<pid>/status or smaps_rollup as a dict."""
    out = {}
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    out[parts[0][:-1]] = int(parts[1])
    except OSError:
        pass
    return out


def mem_of(pid):
    st = proc_kv(pid, "status")
    sm = proc_kv(pid, "smaps_rollup")
    return {"rss_kb": st.get("VmRSS"), "pss_kb": sm.get("Pss"),
            "private_kb": (sm.get("Private_Clean", 0) + sm.get("Private_Dirty", 0)) if sm else None,
            "private_dirty_kb": sm.get("Private_Dirty")}


# --- processes ------------------------------------------------------------------

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


def stop_pid(proc, sig=signal.SIGTERM, timeout=15):
    """Stop one process we started, by its pid."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    def __init__(self, tmp):
        self.dir = tmp
        self.port = free_port()
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        c = self.client()
        if not wait_until(lambda: self._ping(c), timeout=10):
            raise RuntimeError("redis-server did not answer PING")

    @staticmethod
    def _ping(c):
        try:
            return c.ping()
        except redis.exceptions.ConnectionError:
            return False

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, name="bench"):
        return redis.Redis(port=self.port, decode_responses=True, client_name=name)

    def stop(self):
        stop_pid(self.proc)


class SandqWorker:
    extra_args = []  # BENCH_WORKER_ARGS, and --allow-missing when needed

    def __init__(self, server, prefix, slots, tmp, extra=()):
        self.prefix = prefix
        self.worker_id = f"bench-{prefix}"
        self.r = server.client("bench-ctl")
        self.log_path = os.path.join(tmp, f"worker-{prefix}.log")
        self.log = open(self.log_path, "w")
        cmd = [WORKER_BIN, "--redis", server.url, "--prefix", prefix,
               "--slots", str(slots), "--worker-id", self.worker_id] + \
            SandqWorker.extra_args + list(extra)
        self.started_at = time.perf_counter()
        self.started_wall = time.time()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={"PATH": "/usr/bin:/bin"}, start_new_session=True)
        self.pid = self.proc.pid

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_ready(self, timeout=30):
        ok = wait_until(lambda: "taking from" in self.output() or self.proc.poll() is not None
                        or self.r.sismember(f"{self.prefix}:workers", self.worker_id),
                        timeout=timeout)
        if not ok or self.proc.poll() is not None:
            raise RuntimeError("worker did not start:\n" + self.output())
        return time.perf_counter() - self.started_at

    def zygote_pids(self):
        """The worker's long-lived descendants (the zygote, and whatever
        launcher or namespace init sits between it and the job children).
        Call while no job runs. Job children are reaped by one of them, so
        their CPU shows in these processes' cutime/cstime."""
        return proc_descendants(self.pid)

    def stop(self):
        stop_pid(self.proc, timeout=40)
        self.log.close()


class BaselineWorkers:
    def __init__(self, server, prefix, count):
        self.procs = []
        for i in range(count):
            p = subprocess.Popen([PYTHON, os.path.join(HERE, "baseline_worker.py"),
                                  "--port", str(server.port), "--prefix", prefix,
                                  "--id", f"baseline-{prefix}-{i}"],
                                 stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
            self.procs.append(p)
        for p in self.procs:
            p.stdout.readline()  # "ready"

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:
            stop_pid(p, signal.SIGTERM, timeout=5)


# --- producing and waiting ---------------------------------------------------

def new_id():
    return uuid.uuid4().hex


def job_fields(code, args=None, calls=None, function="f", extra=None):
    m = {"code": code, "function": function, "status": "queued",
         "enqueued_at": int(time.time() * 1000)}
    if calls is not None:
        m["calls"] = calls
    elif args is not None:
        m["args"] = args
    if extra:
        m.update(extra)
    return m


def enqueue_pipelined(r, prefix, n, code, args=None, calls=None, chunk=500):
    """PROTOCOL.md enqueue, HSET then LPUSH per job, pipelined."""
    ids = [new_id() for _ in range(n)]
    for i in range(0, n, chunk):
        p = r.pipeline(transaction=False)
        for jid in ids[i:i + chunk]:
            p.hset(f"{prefix}:job:{jid}", mapping=job_fields(code, args, calls))
            p.lpush(f"{prefix}:queue:default", jid)
        p.execute()
    return ids


def stage_hashes(r, prefix, n, code, args=None, calls=None, chunk=500):
    """Write the job hashes only (the ids are pushed later, all at once)."""
    ids = [new_id() for _ in range(n)]
    for i in range(0, n, chunk):
        p = r.pipeline(transaction=False)
        for jid in ids[i:i + chunk]:
            p.hset(f"{prefix}:job:{jid}", mapping=job_fields(code, args, calls))
        p.execute()
    return ids


def release(r, prefix, ids):
    """One LPUSH of every id: the queue goes from empty to full at once."""
    r.lpush(f"{prefix}:queue:default", *ids)


def stats_total(r, prefix):
    return sum(int(v) for v in r.hvals(f"{prefix}:stats"))


def wait_total(r, prefix, target, timeout=600, interval=0.002, stall=60, alive=None):
    """Poll P:stats until `target` jobs are final; give up after `timeout`
    s, or `stall` s without progress, or when alive() turns false."""
    start = time.monotonic()
    last, last_change, k = -1, start, 0
    while True:
        n = stats_total(r, prefix)
        if n >= target:
            return time.perf_counter()
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        k += 1
        if now - start > timeout or now - last_change > stall or \
                (alive is not None and k % 50 == 0 and not alive()):
            raise TimeoutError(f"{prefix}: {n}/{target} jobs final after {now - start:.0f} s"
                               + ("" if alive is None or alive() else " (the worker exited)"))
        time.sleep(interval)


def statuses(r, prefix, ids):
    p = r.pipeline(transaction=False)
    for jid in ids:
        p.hget(f"{prefix}:job:{jid}", "status")
    out = {}
    for s in p.execute():
        out[s] = out.get(s, 0) + 1
    return out


def hash_fields(r, prefix, ids, names):
    p = r.pipeline(transaction=False)
    for jid in ids:
        p.hmget(f"{prefix}:job:{jid}", names)
    return [dict(zip(names, vals)) for vals in p.execute()]


def delete_jobs(r, prefix, ids):
    for i in range(0, len(ids), 1000):
        r.unlink(*[f"{prefix}:job:{jid}" for jid in ids[i:i + 1000]])


def machine_ticks():
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return (0, 0, 0)
    v += [0] * (8 - len(v))
    idle = v[3] + v[4]
    total = sum(v[:8])
    return (total - idle - v[7], v[7], total)


class CpuMeter:
    """utime+stime deltas of named roles: role -> (pid, which) with which in
    'self' (the process), 'children' (its reaped children) or 'all'. Also
    how busy the whole machine was (busy CPUs, steal)."""

    def __init__(self, roles):
        self.roles = roles
        self.start = self._read()
        self.m0 = machine_ticks()
        self.t0 = time.perf_counter()

    def machine(self):
        m1 = machine_ticks()
        wall = time.perf_counter() - self.t0
        busy = (m1[0] - self.m0[0]) / CLK_TCK / wall
        steal = (m1[1] - self.m0[1]) / CLK_TCK / wall
        return busy, steal

    def _read(self):
        out = {}
        for role, (pids, which) in self.roles.items():
            u = s = 0.0
            for pid in pids:
                ut, st, cut, cst = proc_times(pid)
                if which in ("self", "all"):
                    u += ut
                    s += st
                if which in ("children", "all"):
                    u += cut
                    s += cst
            out[role] = (u, s)
        return out

    def stop(self):
        end = self._read()
        return {role: (end[role][0] - self.start[role][0], end[role][1] - self.start[role][1])
                for role in self.roles}


def sandq_roles(server, worker):
    zs = worker.zygote_pids()
    return {"supervisor": ([worker.pid], "self"),
            "zygote": (zs, "self"),
            "job children": (zs, "children"),
            "redis-server": ([server.pid], "self"),
            "bench client": ([os.getpid()], "self")}


def burst(r, prefix, n, code, args=None, calls=None, roles=None):
    """Warm throughput: hashes first, then one LPUSH of all ids; from the
    LPUSH to the last final status (P:stats)."""
    ids = stage_hashes(r, prefix, n, code, args, calls)
    before = stats_total(r, prefix)
    meter = CpuMeter(roles) if roles else None
    t0 = time.perf_counter()
    release(r, prefix, ids)
    t1 = wait_total(r, prefix, before + n)
    cpu = meter.stop() if meter else None
    busy = meter.machine() if meter else (None, None)
    return {"ids": ids, "wall": t1 - t0, "jobs_s": n / (t1 - t0), "cpu": cpu,
            "busy_cpus": busy[0], "steal_cpus": busy[1],
            "statuses": statuses(r, prefix, ids)}


class Latency:
    """Sequential jobs: PSUBSCRIBE P:done:* once, then per job enqueue
    (MULTI HSET+LPUSH) and wait for its message."""

    def __init__(self, server, prefix):
        self.r = server.client("bench-lat")
        self.prefix = prefix
        self.ps = server.client("bench-sub").pubsub(ignore_subscribe_messages=True)
        self.ps.psubscribe(f"{prefix}:done:*")
        wait_until(lambda: self.r.execute_command("PUBSUB", "NUMPAT") >= 1, timeout=5)
        self.ps.get_message(timeout=0.05)

    def one(self, code, args=None, calls=None, self_publish=False, timeout=120):
        jid = new_id()
        key = f"{self.prefix}:job:{jid}"
        chan = f"{self.prefix}:done:{jid}"
        w0 = time.time()
        t0 = time.perf_counter()
        p = self.r.pipeline(transaction=True)
        p.hset(key, mapping=job_fields(code, args, calls))
        p.lpush(f"{self.prefix}:queue:default", jid)
        p.execute()
        if self_publish:  # measurement floor: nobody runs it, we announce it
            self.r.publish(chan, "succeeded")
        deadline = time.monotonic() + timeout
        while True:
            m = self.ps.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if m and m.get("type") == "pmessage" and m["channel"] == chan:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {jid} not final after {timeout}s")
        t1 = time.perf_counter()
        w1 = time.time()
        return jid, t1 - t0, w0, w1

    def run(self, n, code, args=None, calls=None, warmup=N_LAT_WARMUP, self_publish=False):
        for _ in range(warmup):
            self.one(code, args, calls, self_publish)
        out = [self.one(code, args, calls, self_publish) for _ in range(n)]
        return out

    def close(self):
        self.ps.close()


def lat_summary(samples):
    ms = [s[1] * 1000 for s in samples]
    return {"p50": pct(ms, 50), "p90": pct(ms, 90), "p99": pct(ms, 99),
            "mean": mean(ms), "max": max(ms), "min": min(ms), "n": len(ms)}


# --- MONITOR ----------------------------------------------------------------------

MONITOR_RE = re.compile(r'^(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$')
ARG_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Monitor:
    def __init__(self, server, tmp):
        self.path = os.path.join(tmp, f"monitor-{uuid.uuid4().hex[:6]}.txt")
        self.f = open(self.path, "w")
        self.proc = subprocess.Popen(["redis-cli", "-p", str(server.port), "monitor"],
                                     stdout=self.f, stderr=subprocess.DEVNULL)
        wait_until(lambda: os.path.getsize(self.path) > 0, timeout=5)

    def stop(self):
        stop_pid(self.proc, timeout=5)
        self.f.close()

    def lines(self):
        with open(self.path, errors="replace") as f:
            for line in f:
                m = MONITOR_RE.match(line.rstrip("\n"))
                if m:
                    yield float(m.group(1)), m.group(3), ARG_RE.findall(m.group(4))


def bench_client_addrs(r):
    return {c["addr"] for c in r.client_list() if (c.get("name") or "").startswith("bench")}


# --- zygote, driven directly ---------------------------------------------------------

def zygote_direct(n, code, args=None, calls=None):
    """Spawn n children one after another straight through sandq-zygote
    (no Redis, no supervisor): per-stage times in microseconds, or
    {"error": text} when the zygote cannot be driven."""
    try:
        return _zygote_direct(n, code, args, calls)
    except Exception as exc:  # reported by the caller
        return {"error": f"{type(exc).__name__}: {exc}"}


def _zygote_direct(n, code, args, calls):
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    try:
        import zygote_proto as zp
    except Exception as exc:  # another engineer's file; report, do not fail
        return {"error": f"zygote_proto unavailable: {exc}"}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        z = zp.Zygote(binary=ZYGOTE_BIN, stderr=devnull)
    finally:
        os.close(devnull)
    try:
        ready = z.wait_ready()
        job = zp.job_frames(code, "f", args, None, calls, 1 << 20)
        rows = []
        for _ in range(n):
            job_r, job_w = os.pipe()
            res_r, res_w = os.pipe()
            t0 = time.perf_counter()
            token, spawned, pidfd = z.spawn(job_r, res_w)
            t1 = time.perf_counter()
            os.close(job_r)
            os.close(res_w)
            view = memoryview(job)
            while view:
                view = view[os.write(job_w, view):]
            os.close(job_w)
            chunks = []
            while True:
                c = os.read(res_r, 1 << 16)
                if not c:
                    break
                chunks.append(c)
            t2 = time.perf_counter()
            os.close(res_r)
            if pidfd is not None:
                os.close(pidfd)
            data, _ = z.recv_type(zp.ZMSG_EXITED, token)
            t3 = time.perf_counter()
            exited = zp.unpack_exited(data)
            frames = dict(zp.parse_frames(b"".join(chunks)))
            timing = {}
            for part in frames.get("T", b"").decode().split():
                k, _, v = part.partition("=")
                if v.isdigit():
                    timing[k] = int(v)
            rows.append({"spawn_us": (t1 - t0) * 1e6, "child_us": (t2 - t1) * 1e6,
                         "exit_us": (t3 - t2) * 1e6, "total_us": (t3 - t0) * 1e6,
                         "utime_us": exited["utime_us"], "stime_us": exited["stime_us"],
                         "maxrss_kb": exited["maxrss_kb"], "status": frames.get("s", b"").decode(),
                         **{f"T_{k}": v for k, v in timing.items()}})
        return {"ready": ready, "rows": rows}
    finally:
        z.close()


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else None


# --- plain Python for the CPU-bound comparison -------------------------------------

TIMING_SCRIPT = r"""
import json, sys, time
ns = {}
exec(compile(CODE, "<job>", "exec"), ns)
f = ns["f"]
n = N
f(n)
out = []
for _ in range(REPS):
    t = time.perf_counter_ns()
    f(n)
    out.append((time.perf_counter_ns() - t) // 1000)
sys.stdout.write(json.dumps(out))
"""

FORK_FLOOR = r"""
import gc, json, os, resource, sys, time
for m in ("math", "cmath", "statistics", "decimal", "fractions", "random", "itertools",
          "functools", "operator", "collections", "heapq", "bisect", "json", "re", "string",
          "datetime", "time", "array", "copy", "dataclasses", "enum", "typing", "numbers",
          "_strptime", "ast"):
    __import__(m)
gc.collect()
gc.freeze()
n = N_FORKS
c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
s0 = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
wall = (time.perf_counter() - t) / n * 1e6
c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
s1 = resource.getrusage(resource.RUSAGE_SELF)
with open("/proc/self/status") as f:
    rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS")][0]
print(json.dumps({"wall_us": wall, "rss_kb": rss,
    "child_cpu_us": (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) / n * 1e6,
    "parent_cpu_us": (s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime) / n * 1e6}))
"""

EMBED_C = r"""
#include <Python.h>
int main(int argc, char **argv)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    PyStatus st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return 2;
    int rc = PyRun_SimpleString(argv[1]);
    Py_Finalize();
    return rc ? 1 : 0;
}
"""


def timing_script(n, reps):
    return (TIMING_SCRIPT.replace("CODE", repr(CPU_CODE)).replace("REPS", str(reps))
            .replace("n = N", f"n = {n}"))


def plain_call_us(n, reps, runner=None):
    cmd = (runner or [PYTHON, "-I", "-S", "-c"]) + [timing_script(n, reps)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-500:])
    return json.loads(out.stdout)


def build_embed(tmp):
    """Minimal programs embedding libpython3.11 like the zygote does:
    {"shared": exe linked with -lpython3.11 (as sandq-zygote is),
     "static": exe linked with libpython3.11.a, non-PIE (like /usr/bin/python3)}."""
    out = {}
    if not shutil.which("gcc") or not shutil.which("pkg-config"):
        return out
    src = os.path.join(tmp, "embed.c")
    with open(src, "w") as f:
        f.write(EMBED_C)
    def pc(*a):
        r = subprocess.run(["pkg-config"] + list(a), capture_output=True, text=True)
        return r.stdout.split() if r.returncode == 0 else None
    cflags, libs = pc("--cflags", "python3-embed"), pc("--libs", "python3-embed")
    if cflags is None or libs is None:
        return out
    exe = os.path.join(tmp, "embed-shared")
    if subprocess.run(["gcc", "-O2", "-o", exe, src] + cflags + libs,
                      capture_output=True).returncode == 0:
        out["shared"] = exe
    cfg = subprocess.run([PYTHON, "-I", "-S", "-c",
                          "import sysconfig as s; print(s.get_config_var('LIBPL')); "
                          "print(s.get_config_var('LIBS'), s.get_config_var('SYSLIBS'), "
                          "s.get_config_var('MODLIBS'))"],
                         capture_output=True, text=True).stdout.splitlines()
    if len(cfg) == 2:
        static = os.path.join(cfg[0], "libpython3.11.a")
        exe = os.path.join(tmp, "embed-static")
        if os.path.exists(static) and subprocess.run(
                ["gcc", "-O2", "-no-pie", "-o", exe, src] + cflags + [static] + cfg[1].split(),
                capture_output=True).returncode == 0:
            out["static"] = exe
    return out


# --- strace / perf --------------------------------------------------------------

STRACE_LINE = re.compile(r"^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\S+)\s*$")


def parse_strace_c(path):
    calls = {}
    try:
        with open(path) as f:
            for line in f:
                m = STRACE_LINE.match(line)
                if m and m.group(6) != "total":
                    calls[m.group(6)] = calls.get(m.group(6), 0) + int(m.group(4))
    except OSError:
        pass
    return calls


def perf_works():
    if not shutil.which("perf"):
        return False
    try:
        r = subprocess.run(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                           capture_output=True, timeout=20)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def perf_hw_works():
    if not shutil.which("perf"):
        return False
    try:
        r = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and "not supported" not in r.stderr and "<not" not in r.stderr


# --- the benchmark --------------------------------------------------------------------

class Bench:
    def __init__(self):
        self.rep = Report()
        self.tmp = tempfile.mkdtemp(prefix="sandq-bench-")
        self.server = None
        self.live = []  # workers to stop on the way out
        self.aux = []   # strace, perf, redis-cli: stopped on the way out
        self.results = {}

    def fig(self, *a, **k):
        return self.rep.fig(*a, **k)

    # ---- environment
    def environment(self):
        def sh(cmd):
            try:
                return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                                      timeout=10).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return ""
        model = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        commit = sh(["git", "rev-parse", "--short", "HEAD"])
        dirty = bool(sh(["git", "status", "--porcelain", "--untracked-files=no"]))
        try:
            with open("/proc/meminfo") as f:
                memtotal = int(f.readline().split()[1]) // 1024
        except (OSError, ValueError, IndexError):
            memtotal = None
        self.meta = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "commit": os.environ.get("BENCH_COMMIT") or commit + ("+dirty" if dirty else ""),
            "build": BUILD,
            "cpus": os.cpu_count(), "cpu_model": model, "mem_mb": memtotal,
            "kernel": os.uname().release,
            "redis": sh(["redis-server", "--version"]).split(" sha=")[0],
            "python": sh([PYTHON, "--version"]),
            "quick": QUICK,
        }
        self.rep.section("environment", [f"{k}: {v}" for k, v in self.meta.items()])

    def start_redis(self):
        self.server = RedisServer(self.tmp)
        self.r = self.server.client()

    def start_worker(self, prefix, slots, wait=True):
        w = SandqWorker(self.server, prefix, slots, self.tmp)
        self.live.append(w)
        if wait:
            w.ready_s = w.wait_ready()
        return w

    def stop_worker(self, w):
        w.stop()
        if w in self.live:
            self.live.remove(w)

    def spawn_aux(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.aux.append(p)
        return p

    def cleanup(self):
        for p in self.aux:
            stop_pid(p, signal.SIGINT, timeout=10)
        for w in list(self.live):
            try:
                w.stop()
            except Exception:
                pass
        if self.server:
            self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- 1. throughput, latency, CPU, memory per worker config
    def sandq_config(self, slots, headline):
        tag = f"sandq/{slots}slot{'s' if slots > 1 else ''}"
        prefix = f"b{slots}{uuid.uuid4().hex[:6]}"
        log(f"\n# {tag}: cold start, {N_BURST} jobs queued before the worker starts")
        ids = enqueue_pipelined(self.r, prefix, N_BURST, MEAN_CODE, MEAN_ARGS)
        w = self.start_worker(prefix, slots, wait=False)
        t0 = w.started_at
        t1 = wait_total(self.r, prefix, N_BURST, alive=lambda: w.proc.poll() is None)
        cold = N_BURST / (t1 - t0)
        first = min(int(f["started_at"]) for f in hash_fields(self.r, prefix, ids, ["started_at"])
                    if f["started_at"])
        to_first = first / 1000.0 - w.started_wall
        w.wait_ready()
        self.fig(tag, "throughput_cold_trivial", cold, "jobs/s")
        self.fig(tag, "time_to_first_job", to_first * 1000, "ms")
        log(f"  {cold:.0f} jobs/s including startup; first job started {to_first*1000:.0f} ms "
            f"after exec")

        log(f"# {tag}: warm, {REPEATS} x {N_BURST} jobs pushed at once to the idle worker")
        time.sleep(0.3)
        rates, cpu_tot, walls, bad, busy = [], {}, 0.0, {}, []
        for _ in range(REPEATS):
            b = burst(self.r, prefix, N_BURST, MEAN_CODE, MEAN_ARGS, roles=sandq_roles(self.server, w))
            rates.append(b["jobs_s"])
            busy.append((b["busy_cpus"], b["steal_cpus"]))
            walls += b["wall"]
            for role, (u, s) in b["cpu"].items():
                cu, cs = cpu_tot.get(role, (0.0, 0.0))
                cpu_tot[role] = (cu + u, cs + s)
            for k, v in b["statuses"].items():
                if k != "succeeded":
                    bad[k] = bad.get(k, 0) + v
            log(f"  {b['jobs_s']:.0f} jobs/s  ({b['wall']:.2f} s, machine busy {b['busy_cpus']:.2f} "
                f"of {os.cpu_count()} cpus) statuses={b['statuses']}")
            delete_jobs(self.r, prefix, b["ids"])
        warm = statistics.median(rates)
        self.results[f"{slots}_warm"] = warm
        self.results[f"{slots}_warm_wall_per_job"] = walls / (REPEATS * N_BURST)
        self.fig(tag, "throughput_warm_trivial", warm, "jobs/s")
        self.fig(tag, "machine_busy_cpus_during_burst", mean([x[0] for x in busy]), "cpus")
        self.results[f"{slots}_busy"] = mean([x[0] for x in busy])
        ours = sum(u + s for u, s in cpu_tot.values()) / walls  # incl. the bench client
        self.fig(tag, "other_processes_cpus_during_burst", max(0.0, mean([x[0] for x in busy]) - ours),
                 "cpus")
        if len(rates) > 1:
            self.fig(tag, "throughput_warm_trivial_min", min(rates), "jobs/s")
            self.fig(tag, "throughput_warm_trivial_max", max(rates), "jobs/s")
        if bad:
            self.fig(tag, "jobs_not_succeeded", sum(bad.values()), "jobs")
        n_all = REPEATS * N_BURST
        total_us = 0.0
        cpu_lines = []
        for role, (u, s) in cpu_tot.items():
            us = (u + s) / n_all * 1e6
            if role != "bench client":
                total_us += us
            self.fig(tag, f"cpu_per_job_{role.replace(' ', '_').replace('-', '_')}", us, "us")
            cpu_lines.append(f"  {role:<14} {us:8.0f} us/job  (user {u/n_all*1e6:6.0f}, sys {s/n_all*1e6:6.0f})")
        self.fig(tag, "cpu_per_job_total", total_us, "us")
        self.results[f"{slots}_cpu"] = {k: (u / n_all * 1e6, s / n_all * 1e6) for k, (u, s) in cpu_tot.items()}
        self.rep.section(f"{tag}: CPU per job during the warm runs (utime+stime deltas from /proc)",
                         cpu_lines + [f"  {'total (sans client)':<14} {total_us:8.0f} us/job; "
                                      f"wall per job {walls/n_all*1e6:.0f} us x {os.cpu_count()} cpus"])

        zs = w.zygote_pids()
        mw = mem_of(w.pid)
        mz = [mem_of(z) for z in zs]
        rss_z = sum(m["rss_kb"] or 0 for m in mz)
        self.fig(tag, "rss_supervisor", (mw["rss_kb"] or 0) / 1024, "MB")
        self.fig(tag, "rss_zygote", rss_z / 1024, "MB")
        if len(zs) > 1:
            self.fig(tag, "zygote_processes", len(zs), "processes")
        self.fig(tag, "rss_supervisor_plus_zygote", ((mw["rss_kb"] or 0) + rss_z) / 1024, "MB")
        self.fig(tag, "pss_supervisor_plus_zygote",
                 ((mw["pss_kb"] or 0) + sum(m["pss_kb"] or 0 for m in mz)) / 1024, "MB")
        self.fig(tag, "private_supervisor_plus_zygote",
                 ((mw["private_kb"] or 0) + sum(m["private_kb"] or 0 for m in mz)) / 1024, "MB")

        log(f"# {tag}: latency, {N_LAT} jobs one at a time")
        lat = Latency(self.server, prefix)
        samples = lat.run(N_LAT, MEAN_CODE, MEAN_ARGS)
        s = lat_summary(samples)
        for p in ("p50", "p90", "p99"):
            self.fig(tag, f"latency_{p}_trivial", s[p], "ms")
        self.fig(tag, "latency_max_trivial", s["max"], "ms")
        log(f"  p50 {s['p50']:.2f}  p90 {s['p90']:.2f}  p99 {s['p99']:.2f}  max {s['max']:.2f} ms")
        self.results[f"{slots}_lat"] = s
        self.hash_stages(tag, prefix, [x[0] for x in samples], samples)
        lat.close()
        if not headline:
            self.stop_worker(w)
            return None
        return w, prefix

    def hash_stages(self, tag, prefix, ids, samples):
        """What the job hashes say (ms resolution): queue wait, run, finish write."""
        f = hash_fields(self.r, prefix, ids, ["enqueued_at", "started_at", "finished_at",
                                               "time_ms", "cpu_ms", "memory_kb"])
        qw, run, fin, cpu, mem = [], [], [], [], []
        for x in f:
            try:
                e, s, fi, t = (int(x[k]) for k in ("enqueued_at", "started_at", "finished_at", "time_ms"))
            except (TypeError, ValueError):
                continue
            qw.append(s - e)
            run.append(t)
            fin.append(fi - (s + t))
            cpu.append(int(x["cpu_ms"] or 0))
            mem.append(int(x["memory_kb"] or 0))
        self.results[f"{tag}_hash"] = {"queue_wait": mean(qw), "time_ms": mean(run),
                                       "outside": mean(fin), "cpu_ms": mean(cpu),
                                       "memory_kb": statistics.median(mem) if mem else None}
        self.fig(tag, "hash_queue_wait_mean", mean(qw), "ms")
        self.fig(tag, "hash_time_ms_mean", mean(run), "ms")
        # finished_at - (started_at + time_ms): the start script's round trip,
        # validation, pipes and the finish script (time_ms runs from the spawn).
        self.fig(tag, "hash_outside_child_mean", mean(fin), "ms")
        self.fig(tag, "hash_memory_kb_median", statistics.median(mem) if mem else None, "kB")

    # ---- latency floor of the measuring client
    def client_floor(self):
        lat = Latency(self.server, "floor" + uuid.uuid4().hex[:6])
        s = lat_summary(lat.run(_pick(300, 100), MEAN_CODE, MEAN_ARGS, self_publish=True))
        lat.close()
        self.fig("client", "latency_floor_p50", s["p50"], "ms")
        self.fig("client", "latency_floor_p99", s["p99"], "ms")
        self.results["floor"] = s
        log(f"# client floor (enqueue + our own PUBLISH, no worker): p50 {s['p50']:.3f} ms")

    # ---- headline extras (on the 2-slot worker)
    def child_memory(self, w, prefix):
        log("# child memory: a job that sleeps 0.5 s")
        persistent = set(w.zygote_pids())
        vals = []
        for _ in range(3):
            jid = new_id()
            self.r.hset(f"{prefix}:job:{jid}", mapping=job_fields(SLEEP_CODE, MEAN_ARGS))
            self.r.lpush(f"{prefix}:queue:default", jid)
            time.sleep(0.25)
            leaves = [p for p in proc_descendants(w.pid)
                      if p not in persistent and not proc_children(p)]
            for p in leaves:
                m = mem_of(p)
                if m["private_kb"] is not None:
                    vals.append(m)
            wait_until(lambda: self.r.hget(f"{prefix}:job:{jid}", "status") in FINAL, timeout=10)
        if vals:
            pv = statistics.median(v["private_kb"] for v in vals)
            self.fig("sandq/child", "child_private_memory", pv / 1024, "MB")
            self.fig("sandq/child", "child_private_dirty", statistics.median(v["private_dirty_kb"] or 0 for v in vals) / 1024, "MB")
            self.fig("sandq/child", "child_pss", statistics.median(v["pss_kb"] or 0 for v in vals) / 1024, "MB")
            self.fig("sandq/child", "child_rss", statistics.median(v["rss_kb"] or 0 for v in vals) / 1024, "MB")
        else:
            log("  (no child found under the zygote)")

    def batch(self, w, prefix):
        log(f"# batch: one job with {N_BATCH} calls vs {N_BATCH} jobs")
        calls = json.dumps([[[1, 2, 3]]] * N_BATCH)
        lat = Latency(self.server, prefix)
        samples = lat.run(BATCH_REPS, MEAN_CODE, calls=calls, warmup=1)
        lat.close()
        t_batch = statistics.median(s[1] for s in samples)
        st = statuses(self.r, prefix, [s[0] for s in samples])
        b = burst(self.r, prefix, N_BATCH, MEAN_CODE, MEAN_ARGS)
        delete_jobs(self.r, prefix, b["ids"])
        self.fig("sandq/batch", f"batch_{N_BATCH}_calls_one_job", t_batch * 1000, "ms")
        self.fig("sandq/batch", f"separate_{N_BATCH}_jobs", b["wall"] * 1000, "ms")
        self.fig("sandq/batch", "speedup_batch_vs_jobs", b["wall"] / t_batch, "x")
        log(f"  batch {t_batch*1000:.1f} ms ({st}), {N_BATCH} jobs {b['wall']*1000:.0f} ms")

    def cpu_bound(self, w, prefix):
        log("# CPU-bound: a ~50 ms pure-Python loop")
        probe = 200000
        t = statistics.median(plain_call_us(probe, 3))
        n = max(1000, int(probe * CPU_TARGET_S * 1e6 / t))
        self.results["cpu_n"] = n
        exes = build_embed(self.tmp)
        # Interleaved rounds, so that a change of CPU speed on a shared host
        # hits every variant alike; medians over all calls.
        runs = {"plain": [], "sandq": [], **{k: [] for k in exes}}
        zygote_ok = True
        for _ in range(_pick(4, 2)):
            runs["plain"] += plain_call_us(n, 3)
            for k, exe in exes.items():
                runs[k] += plain_call_us(n, 3, [exe])
            if not zygote_ok:
                continue
            zd = zygote_direct(3, CPU_CODE, json.dumps([n]))
            if "error" in zd:
                self.failures.append(f"CPU-bound, zygote-only call stage: {zd['error']}")
                zygote_ok = False
            runs["sandq"] += [r["T_call"] for r in zd.get("rows", []) if "T_call" in r]
        plain = statistics.median(runs["plain"])
        embed = {k: statistics.median(runs[k]) for k in exes if runs[k]}
        call = statistics.median(runs["sandq"]) if runs["sandq"] else None
        lat = Latency(self.server, prefix)
        samples = lat.run(N_CPU, CPU_CODE, json.dumps([n]), warmup=1)
        lat.close()
        e2e = statistics.median(s[1] for s in samples) * 1e6
        hf = hash_fields(self.r, prefix, [s[0] for s in samples], ["time_ms", "cpu_ms", "status"])
        cpu_ms = statistics.median(int(x["cpu_ms"]) for x in hf if x["cpu_ms"])
        self.fig("cpu_bound", "plain_python3_call", plain / 1000, "ms")
        if "shared" in embed:
            self.fig("cpu_bound", "embedded_shared_libpython_call", embed["shared"] / 1000, "ms",
                     baseline=plain / 1000)
        if "static" in embed:
            self.fig("cpu_bound", "embedded_static_libpython_call", embed["static"] / 1000, "ms",
                     baseline=plain / 1000)
        if call:
            self.fig("cpu_bound", "sandq_child_call_stage", call / 1000, "ms", baseline=plain / 1000)
        self.fig("cpu_bound", "sandq_job_end_to_end", e2e / 1000, "ms", baseline=plain / 1000)
        self.fig("cpu_bound", "sandq_job_cpu_ms", cpu_ms, "ms", baseline=plain / 1000)
        log(f"  n={n}: plain {plain/1000:.1f} ms, embedded "
            + ", ".join(f"{k} {v/1000:.1f} ms" for k, v in embed.items())
            + f", sandq call stage {(call or 0)/1000:.1f} ms, end-to-end {e2e/1000:.1f} ms")

    def big_args(self, w, prefix):
        log("# 1 MB args")
        rnd = random.Random(6)
        nums = []
        size = 4
        while size < 1_000_000:
            x = round(rnd.random(), 9)
            nums.append(x)
            size += len(repr(x)) + 2
        args = json.dumps([nums], separators=(", ", ": "))
        self.results["big_args_bytes"] = len(args)
        lat = Latency(self.server, prefix)
        samples = lat.run(N_BIG_LAT, MEAN_CODE, args, warmup=1)
        lat.close()
        t_lat = statistics.median(s[1] for s in samples) * 1000
        st = statuses(self.r, prefix, [s[0] for s in samples])
        self.hash_stages("sandq/1MB_args", prefix, [s[0] for s in samples], samples)
        delete_jobs(self.r, prefix, [s[0] for s in samples])
        zd = zygote_direct(_pick(10, 3), MEAN_CODE, args)
        if "error" in zd:
            self.failures.append(f"1 MB args, zygote-only stages: {zd['error']}")
        rows = zd.get("rows", [])
        b = burst(self.r, prefix, N_BIG_BURST, MEAN_CODE, args, roles=sandq_roles(self.server, w))
        delete_jobs(self.r, prefix, b["ids"])
        for role, (u, s_) in b["cpu"].items():
            self.fig("sandq/1MB_args", f"cpu_per_job_{role.replace(' ', '_').replace('-', '_')}",
                     (u + s_) / N_BIG_BURST * 1000, "ms")
        self.results["big"] = {"lat": t_lat, "jobs_s": b["jobs_s"], "st": st,
                               "zygote": {k: med(rows, k) for k in ("total_us", "T_compile", "T_load", "T_call", "T_encode", "child_us")}}
        self.fig("sandq/1MB_args", "latency_p50", t_lat, "ms")
        self.fig("sandq/1MB_args", "throughput_2slots", b["jobs_s"], "jobs/s")
        zb = self.results["big"]["zygote"]
        for k in ("total_us", "child_us", "T_compile", "T_call"):
            if zb.get(k) is not None:
                self.fig("sandq/1MB_args", f"zygote_only_{k.replace('T_', '')}", zb[k] / 1000, "ms")
        log(f"  {len(args)} bytes: latency p50 {t_lat:.1f} ms, {b['jobs_s']:.0f} jobs/s, {st}")

    def round_trips(self, w, prefix):
        log("# Redis round trips per job (MONITOR) and commandstats")
        info0 = self.r.info("commandstats")
        b = burst(self.r, prefix, N_BURST if not QUICK else 200, MEAN_CODE, MEAN_ARGS)
        info1 = self.r.info("commandstats")
        n_cs = len(b["ids"])
        delete_jobs(self.r, prefix, b["ids"])
        cs = {}
        for k, v in info1.items():
            d = v["calls"] - info0.get(k, {}).get("calls", 0)
            if d > 0:
                cs[k.replace("cmdstat_", "")] = d
        mon = Monitor(self.server, self.tmp)
        self.aux.append(mon.proc)
        lat = Latency(self.server, prefix)
        seq = lat.run(N_MONITOR_SEQ, MEAN_CODE, MEAN_ARGS, warmup=3)
        lat.close()
        time.sleep(0.05)
        mb = burst(self.r, prefix, N_MONITOR_BURST, MEAN_CODE, MEAN_ARGS)
        time.sleep(0.05)
        mon.stop()
        mine = bench_client_addrs(self.r)
        job_key = f"{prefix}:job:"
        seq_ids = {s[0]: s for s in seq}
        burst_ids = set(mb["ids"])
        per_job = {}          # id -> [(ts, cmd)] of worker commands naming its hash
        enq = {}              # id -> ts of the producer's LPUSH
        worker_cmds_seq, worker_cmds_burst = {}, {}
        seq_w0 = min(s[2] for s in seq)
        seq_w1 = max(s[3] for s in seq)
        burst_t0 = None
        lines = list(mon.lines())
        for ts, addr, args in lines:
            if addr in mine and args and args[0].upper() == "LPUSH" and len(args) > 2:
                if len(args) > 3 and args[2] in burst_ids and burst_t0 is None:
                    burst_t0 = ts
                if args[2] in seq_ids:
                    enq[args[2]] = ts
        burst_t1 = max((ts for ts, addr, a in lines), default=0)
        for ts, addr, args in lines:
            if addr == "lua" or addr in mine or not args:
                continue
            cmd = args[0].upper()
            if seq_w0 <= ts <= seq_w1 + 0.001:
                worker_cmds_seq[cmd] = worker_cmds_seq.get(cmd, 0) + 1
            if burst_t0 is not None and burst_t0 <= ts <= burst_t1:
                worker_cmds_burst[cmd] = worker_cmds_burst.get(cmd, 0) + 1
            for a in args[1:6]:
                if a.startswith(job_key):
                    jid = a[len(job_key):]
                    if jid in seq_ids:
                        per_job.setdefault(jid, []).append((ts, cmd))
                    break
        rt_seq = sum(worker_cmds_seq.values()) / max(1, len(seq))
        rt_burst = sum(worker_cmds_burst.values()) / max(1, N_MONITOR_BURST)
        self.fig("sandq/2slots", "redis_round_trips_per_job_sequential", rt_seq, "commands")
        self.fig("sandq/2slots", "redis_round_trips_per_job_burst", rt_burst, "commands")
        self.fig("sandq/2slots", "redis_commands_per_job_incl_scripts",
                 sum(cs.values()) / n_cs, "commands")
        lines_out = [f"  worker commands per job, sequential ({len(seq)} jobs): {rt_seq:.2f}  "
                     + ", ".join(f"{k} {v/len(seq):.2f}" for k, v in sorted(worker_cmds_seq.items())),
                     f"  worker commands per job, burst ({N_MONITOR_BURST} jobs): {rt_burst:.2f}  "
                     + ", ".join(f"{k} {v/N_MONITOR_BURST:.2f}" for k, v in sorted(worker_cmds_burst.items())),
                     "  INFO commandstats per job (all clients, incl. commands inside scripts): "
                     + ", ".join(f"{k} {v/n_cs:.2f}" for k, v in sorted(cs.items(), key=lambda kv: -kv[1]))]
        # Timeline on Redis's clock (MONITOR, microseconds): client enqueue,
        # the worker's first command on the job (start), its last (finish).
        stages = {"client -> Redis (enqueue executed)": [], "Redis -> worker start command": [],
                  "start command -> finish command": [], "finish command -> client notified": [],
                  "end to end (under MONITOR)": []}
        for jid, s in seq_ids.items():
            cmds = per_job.get(jid)
            if not cmds or jid not in enq:
                continue
            t_start, t_fin = cmds[0][0], cmds[-1][0]
            w0, w1 = s[2], s[3]
            stages["client -> Redis (enqueue executed)"].append((enq[jid] - w0) * 1e6)
            stages["Redis -> worker start command"].append((t_start - enq[jid]) * 1e6)
            stages["start command -> finish command"].append((t_fin - t_start) * 1e6)
            stages["finish command -> client notified"].append((w1 - t_fin) * 1e6)
            stages["end to end (under MONITOR)"].append((w1 - w0) * 1e6)
        self.results["timeline"] = {k: (statistics.median(v) if v else None, mean(v)) for k, v in stages.items()}
        self.results["timeline_n"] = len(stages["end to end (under MONITOR)"])
        self.rep.section("Redis round trips", lines_out)

    def zygote_stages(self):
        log(f"# zygote driven directly, {N_ZYGOTE} trivial jobs one at a time")
        zd = zygote_direct(N_ZYGOTE, MEAN_CODE, MEAN_ARGS)
        if "error" in zd:
            raise RuntimeError(zd["error"])
        rows = zd["rows"][10:]
        self.results["zygote"] = {k: med(rows, k) for k in rows[0] if k != "status"}
        self.results["zygote_mean"] = {k: mean([r[k] for r in rows if k in r]) for k in rows[0] if k != "status"}
        self.results["zygote_ready"] = zd["ready"]
        zz = self.results["zygote"]
        self.fig("zygote-only", "jobs_per_s_sequential", 1e6 / self.results["zygote_mean"]["total_us"], "jobs/s")
        for k in ("spawn_us", "child_us", "exit_us", "total_us", "utime_us", "stime_us",
                  "T_compile", "T_load", "T_call", "T_encode"):
            if zz.get(k) is not None:
                self.fig("zygote-only", f"median_{k if k.endswith('_us') else k[2:] + '_us'}", float(zz[k]), "us")
        self.fig("zygote-only", "zygote_ready_rss", zd["ready"]["rss_kb"] / 1024, "MB")

    def strace_phase(self, w, prefix):
        if QUICK or os.environ.get("BENCH_STRACE") == "0" or not shutil.which("strace"):
            return
        log(f"# strace -c: {N_STRACE} jobs (syscall counts only; timings under strace are meaningless)")
        zs = w.zygote_pids()
        outs = {"supervisor": os.path.join(self.tmp, "strace-sup.txt"),
                "zygote+children": os.path.join(self.tmp, "strace-zyg.txt")}
        procs = [self.spawn_aux(["strace", "-c", "-o", outs["supervisor"], "-p", str(w.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                 self.spawn_aux(["strace", "-c", "-f", "-o", outs["zygote+children"]]
                                + [a for z in zs for a in ("-p", str(z))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        time.sleep(1.0)
        b = burst(self.r, prefix, N_STRACE, MEAN_CODE, MEAN_ARGS)
        delete_jobs(self.r, prefix, b["ids"])
        for p in procs:
            stop_pid(p, signal.SIGINT, timeout=20)
        lines = []
        for role, path in outs.items():
            calls = parse_strace_c(path)
            total = sum(calls.values()) / N_STRACE
            self.fig("sandq/2slots", f"syscalls_per_job_{role.replace('+', '_')}", total, "calls")
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:14]
            lines.append(f"  {role}: {total:.1f} syscalls/job: "
                         + ", ".join(f"{k} {v/N_STRACE:.1f}" for k, v in top))
        self.rep.section("syscalls per job (strace -c, 2 slots)", lines)

    def perf_phase(self, w, prefix):
        if QUICK or os.environ.get("BENCH_PERF") == "0" or not perf_works():
            return
        log(f"# perf record -e cpu-clock -a: {N_PERF} jobs")
        zs = set(w.zygote_pids())
        data = os.path.join(self.tmp, "perf.data")
        ids = stage_hashes(self.r, prefix, N_PERF, MEAN_CODE, MEAN_ARGS)
        before = stats_total(self.r, prefix)
        freq = 2000
        p = self.spawn_aux(["perf", "record", "-e", "cpu-clock", "-F", str(freq), "-a",
                              "-o", data, "--", "sleep", "600"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        t0 = time.perf_counter()
        release(self.r, prefix, ids)
        t1 = wait_total(self.r, prefix, before + N_PERF)
        # perf record stops (and writes its data) on SIGINT to itself.
        stop_pid(p, signal.SIGINT, timeout=60)
        delete_jobs(self.r, prefix, ids)
        log(f"  {N_PERF/(t1-t0):.0f} jobs/s under perf")
        out = subprocess.run(["perf", "script", "-i", data, "--show-task-events",
                              "-F", "comm,pid,ip,sym,dso"],
                             capture_output=True, text=True, timeout=300)
        # Job children are whatever our zygote forked (other people's
        # zygotes on the same machine have the same comm).
        parent = {}
        for m in re.finditer(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)", out.stdout):
            if m.group(1) != m.group(2):  # not a new thread of the same process
                parent.setdefault(int(m.group(1)), int(m.group(2)))

        def forked_by_zygote(pid):
            seen = 0
            while pid in parent and seen < 64:
                pid = parent[pid]
                if pid in zs:
                    return True
                seen += 1
            return False
        roles = {w.pid: "supervisor", self.server.pid: "redis-server", os.getpid(): "bench client",
                 **{z: "zygote" for z in zs}}
        by_role, by_dso, by_sym = {}, {}, {}
        line_re = re.compile(r"^\s*(.+?)\s+(\d+)\s+([0-9a-f]+)\s+(.*?)\s*\((.*)\)\s*$")
        for line in out.stdout.splitlines():
            m = line_re.match(line)
            if not m:
                continue
            comm, pid, sym, dso = m.group(1), int(m.group(2)), m.group(4), m.group(5)
            if pid == 0:
                continue
            role = roles.get(pid)
            if role is None:
                role = "job children" if forked_by_zygote(pid) else f"other ({comm})"
            by_role[role] = by_role.get(role, 0) + 1
            d = os.path.basename(dso.split()[0]) if dso else "?"
            if d.startswith("[kernel"):
                d = "[kernel]"
            by_dso[(role, d)] = by_dso.get((role, d), 0) + 1
            s = re.sub(r"\+0x[0-9a-f]+$", "", sym) or "?"
            by_sym[(role, s)] = by_sym.get((role, s), 0) + 1
        lines = []
        us_per_sample = 1e6 / freq
        for role, n in sorted(by_role.items(), key=lambda kv: -kv[1]):
            if n / N_PERF * us_per_sample < 5:
                continue
            dsos = sorted(((d, c) for (r_, d), c in by_dso.items() if r_ == role), key=lambda kv: -kv[1])[:4]
            syms = sorted(((s, c) for (r_, s), c in by_sym.items() if r_ == role), key=lambda kv: -kv[1])[:8]
            lines.append(f"  {role}: {n/N_PERF*us_per_sample:.0f} us/job; "
                         + ", ".join(f"{d} {100*c/n:.0f}%" for d, c in dsos))
            lines.append("      top: " + ", ".join(f"{s} {100*c/n:.0f}%" for s, c in syms))
            if role in ("supervisor", "zygote", "job children", "redis-server"):
                self.fig("perf", f"cpu_per_job_{role.replace(' ', '_').replace('-', '_')}",
                         n / N_PERF * us_per_sample, "us")
        self.rep.section(f"perf (cpu-clock samples at {freq} Hz on all CPUs, {N_PERF} jobs, 2 slots)", lines)

    def idle(self, w):
        log(f"# idle: {IDLE_S:.0f} s with nothing queued")
        time.sleep(1.0)
        pids = [w.pid] + w.zygote_pids()
        info0 = self.r.info("stats")["total_commands_processed"]
        a = sum(proc_runtime_ns(p) for p in pids)
        time.sleep(IDLE_S)
        b = sum(proc_runtime_ns(p) for p in pids)
        info1 = self.r.info("stats")["total_commands_processed"]
        self.fig("sandq/2slots", "idle_cpu_supervisor_plus_zygote", (b - a) / 1e6 / IDLE_S, "ms/s")
        self.fig("sandq/2slots", "idle_redis_commands", (info1 - info0 - 2) / IDLE_S, "commands/s")

    # ---- reference: what fork + _exit of a Python process this size costs here
    def fork_floor(self):
        log("# reference: fork + _exit of a warmed /usr/bin/python3 (same modules imported)")
        n = _pick(1000, 200)
        out = subprocess.run([PYTHON, "-I", "-S", "-c", FORK_FLOOR.replace("N_FORKS", str(n))],
                             capture_output=True, text=True, timeout=120)
        try:
            d = json.loads(out.stdout)
        except ValueError:
            log("  failed: " + out.stderr[-300:])
            return
        self.results["fork_floor"] = d
        self.fig("reference", "python_fork_exit_wall", d["wall_us"], "us")
        self.fig("reference", "python_fork_exit_child_cpu", d["child_cpu_us"], "us")
        self.fig("reference", "python_fork_exit_parent_cpu", d["parent_cpu_us"], "us")
        self.fig("reference", "python_fork_exit_rss", d["rss_kb"] / 1024, "MB")
        log(f"  {d['wall_us']:.0f} us wall, child CPU {d['child_cpu_us']:.0f} us, parent CPU "
            f"{d['parent_cpu_us']:.0f} us (RSS {d['rss_kb']/1024:.1f} MB)")

    # ---- baseline: a cold python3 per job
    def baseline(self):
        out = self.base = {}
        for drivers in (1, 2):
            prefix = f"base{drivers}{uuid.uuid4().hex[:6]}"
            log(f"# baseline: {drivers} driver(s), cold {PYTHON} -I -S per job, {N_BASE} jobs")
            bw = BaselineWorkers(self.server, prefix, drivers)
            self.live.append(bw)
            roles = {"drivers": (bw.pids, "self"), "python3 children": (bw.pids, "children"),
                     "redis-server": ([self.server.pid], "self"),
                     "bench client": ([os.getpid()], "self")}
            b = burst(self.r, prefix, N_BASE, MEAN_CODE, MEAN_ARGS, roles=roles)
            delete_jobs(self.r, prefix, b["ids"])
            cpu = sum(u + s for role, (u, s) in b["cpu"].items() if role != "bench client") / N_BASE * 1e6
            out[drivers] = {"jobs_s": b["jobs_s"], "cpu_us": cpu, "statuses": b["statuses"]}
            btag = f"baseline/{drivers}driver{'s' if drivers > 1 else ''}"
            self.fig(btag, "throughput_trivial", b["jobs_s"], "jobs/s")
            self.fig(btag, "cpu_per_job_total", cpu, "us")
            log(f"  {b['jobs_s']:.1f} jobs/s, {cpu:.0f} us CPU/job, {b['statuses']}")
            if drivers == 1:
                lat = Latency(self.server, prefix)
                out["lat"] = lat_summary(lat.run(N_BASE_LAT, MEAN_CODE, MEAN_ARGS, warmup=3))
                self.fig(btag, "latency_p50_trivial", out["lat"]["p50"], "ms")
                lat.close()
                log(f"  latency p50 {out['lat']['p50']:.1f} ms")
            else:
                args = None
                rnd = random.Random(6)
                nums, size = [], 4
                while size < 1_000_000:
                    x = round(rnd.random(), 9)
                    nums.append(x)
                    size += len(repr(x)) + 2
                args = json.dumps([nums], separators=(", ", ": "))
                bb = burst(self.r, prefix, N_BIG_BASE, MEAN_CODE, args)
                delete_jobs(self.r, prefix, bb["ids"])
                out["big"] = bb["jobs_s"]
                self.fig(btag, "throughput_1MB_args", bb["jobs_s"], "jobs/s")
                log(f"  1 MB args: {bb['jobs_s']:.1f} jobs/s")
            bw.stop()
            self.live.remove(bw)

    # ---- the report
    def compare(self):
        b = getattr(self, "base", {})
        res = self.results
        for slots in (2, 1):
            tag = f"sandq/{slots}slot{'s' if slots > 1 else ''}"
            base = b.get(slots)  # as many drivers as slots
            if base is None or f"{slots}_warm" not in res:
                continue
            self.fig(f"{tag}_vs_baseline", "throughput_warm_trivial", res[f"{slots}_warm"],
                     "jobs/s", baseline=base["jobs_s"])
            cpu = res[f"{slots}_cpu"]
            total = sum(u + s for k, (u, s) in cpu.items() if k != "bench client")
            self.fig(f"{tag}_vs_baseline", "cpu_per_job_total", total, "us", baseline=base["cpu_us"])
        if "lat" in b and "2_lat" in res:
            self.fig("sandq/2slots_vs_baseline", "latency_p50_trivial", res["2_lat"]["p50"], "ms",
                     baseline=b["lat"]["p50"])
        if "big" in b and "big" in res:
            self.fig("sandq/1MB_args_vs_baseline", "throughput_2slots", res["big"]["jobs_s"],
                     "jobs/s", baseline=b["big"])

    def stage_table(self):
        """The one table to choose the next optimisation from."""
        lines = []
        lat = self.results.get("2_lat", {})
        floor = self.results.get("floor", {})
        tl = self.results.get("timeline", {})
        zz = self.results.get("zygote", {})
        h = self.results.get("sandq/2slots_hash", {})
        cpu = self.results.get("2_cpu", {})
        lines.append("Latency of one trivial job at light load (2 slots), medians:")
        lines.append(f"  {'stage':<52} {'us':>8}   source")
        def row(name, v, src):
            lines.append(f"  {name:<52} {('%8.0f' % v) if v is not None else '       -'}   {src}")
        row("end to end, client view (p50)", lat.get("p50") and lat["p50"] * 1000, "SUBSCRIBE, then enqueue, wait")
        row("  measuring floor (enqueue + own PUBLISH)", floor.get("p50") and floor["p50"] * 1000, "same client, no worker")
        n = self.results.get("timeline_n", 0)
        for k, (m, _) in tl.items():
            row("  " + k, m, f"MONITOR timestamps, {n} jobs")
        lines.append("  inside 'start command -> finish command' (zygote driven directly, no Redis):")
        row("    SPAWN -> SPAWNED (fork, pidfd, SCM_RIGHTS)", zz.get("spawn_us"), "zygote_proto")
        row("    SPAWNED -> result EOF (child lifetime)", zz.get("child_us"), "zygote_proto")
        t_sum = sum(zz.get(k) or 0 for k in ("T_compile", "T_load", "T_call", "T_encode"))
        for k in ("T_compile", "T_load", "T_call", "T_encode"):
            row(f"      {k[2:]} (child's T frame)", zz.get(k), "T frame")
        if zz.get("child_us") is not None:
            row("      sandbox setup, job read, frames out, exit", zz["child_us"] - t_sum, "child lifetime - T")
        row("    result EOF -> EXITED (reap, rusage, message)", zz.get("exit_us"), "zygote_proto")
        if zz.get("utime_us") is not None:
            row("    child CPU (user+sys)", zz["utime_us"] + zz["stime_us"], "EXITED rusage")
        m = tl.get("start command -> finish command", (None,))[0]
        if m is not None and zz.get("total_us") is not None:
            row("    rest: supervisor work, Redis replies, MONITOR", m - zz["total_us"],
                "timeline - zygote total")
        if h:
            lines.append(f"  job hash means (ms resolution): queue wait (started_at - enqueued_at) "
                         f"{h['queue_wait']:.2f} ms, time_ms {h['time_ms']:.2f}, outside the child "
                         f"(finished_at - started_at - time_ms) {h['outside']:.2f}, cpu_ms {h['cpu_ms']:.2f}")
        lines.append("")
        lines.append("CPU per job at full load (2 slots, warm bursts, /proc utime+stime):")
        tot = sum(u + s for k, (u, s) in cpu.items() if k != "bench client") or 1
        for k, (u, s) in sorted(cpu.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
            share = "" if k == "bench client" else f"{100*(u+s)/tot:5.1f}%"
            lines.append(f"  {k:<16} {u+s:8.0f} us  (user {u:6.0f}, sys {s:6.0f})  {share}")
        lines.append(f"  {'total':<16} {tot:8.0f} us  -> CPU-bound ceiling on {os.cpu_count()} cpus: "
                     f"{os.cpu_count()*1e6/tot:.0f} jobs/s (1,500 jobs/s needs <= "
                     f"{os.cpu_count()*1e6/1500:.0f} us)")
        ff = self.results.get("fork_floor")
        if ff:
            lines.append(f"  reference: fork + _exit of a {ff['rss_kb']/1024:.0f} MB /usr/bin/python3 costs "
                         f"{ff['child_cpu_us']:.0f} us (child) + {ff['parent_cpu_us']:.0f} us (parent) here")
        lines.append("  throughput by slots: " + ", ".join(
            f"{k} slot(s) {self.results[f'{k}_warm']:.0f} jobs/s (machine busy {self.results[f'{k}_busy']:.2f} cpus)"
            for k in (1, 2, 4) if f"{k}_warm" in self.results))
        self.rep.section("stage breakdown", lines)

    def phase(self, name, fn, *args):
        """Run one part; a failure is reported and the rest goes on."""
        try:
            return fn(*args)
        except Exception as exc:  # report, never stop the other measurements
            msg = f"{name}: {type(exc).__name__}: {str(exc).strip()[:500]}"
            self.failures.append(msg)
            log(f"  !! {msg}")
            return None

    def preflight(self):
        """Start one worker: is it usable here, and how long to ready?"""
        for attempt in range(2):
            w = self.start_worker("pre" + uuid.uuid4().hex[:6], 2, wait=False)
            try:
                ready = w.wait_ready()
            except RuntimeError:
                out = w.output()
                self.stop_worker(w)
                m = re.search(r"--allow-missing ([A-Za-z0-9_,]+)", out)
                if attempt == 0 and m and "--allow-missing" not in SandqWorker.extra_args:
                    SandqWorker.extra_args += ["--allow-missing", m.group(1)]
                    note = (f"the worker refuses to start on this host without "
                            f"--allow-missing {m.group(1)}; every sandq figure below was "
                            f"measured with that flag (a weaker sandbox than production)")
                    self.meta["note"] = note
                    log("  NOTE: " + note)
                    continue
                raise RuntimeError("sandq-worker does not start:\n" + out[-2000:])
            self.fig("sandq/2slots", "startup_to_ready", ready * 1000, "ms")
            self.stop_worker(w)
            break
        self.meta["worker_args"] = " ".join(SandqWorker.extra_args)
        return True

    def headline(self):
        hw = self.phase("sandq 2 slots", self.sandq_config, 2, True)
        if not hw:
            return
        w, prefix = hw
        for name, fn in (("child memory", self.child_memory), ("batch", self.batch),
                         ("CPU-bound", self.cpu_bound), ("1 MB args", self.big_args),
                         ("round trips", self.round_trips), ("strace", self.strace_phase),
                         ("perf", self.perf_phase)):
            self.phase(name, fn, w, prefix)
        self.phase("idle", self.idle, w)
        self.stop_worker(w)

    def run(self):
        self.failures = []
        self.environment()
        t_start = time.perf_counter()
        self.start_redis()
        SandqWorker.extra_args = shlex.split(os.environ.get("BENCH_WORKER_ARGS", ""))
        self.phase("client floor", self.client_floor)
        self.phase("zygote-only", self.zygote_stages)
        self.phase("fork reference", self.fork_floor)
        if self.phase("worker preflight", self.preflight):
            self.headline()
            self.phase("sandq 1 slot", self.sandq_config, 1, False)
            if not QUICK:  # diagnostic: does a third and fourth slot still help?
                self.phase("sandq 4 slots", self.sandq_config, 4, False)
        self.phase("baseline", self.baseline)
        self.phase("comparison", self.compare)
        if not perf_hw_works():
            self.rep.section("perf stat", ["  hardware counters (instructions, cycles) are not "
                                           "available on this machine; CPU is attributed with "
                                           "/proc times and cpu-clock samples instead"])
        self.phase("stage table", self.stage_table)
        self.fig("bench", "duration", time.perf_counter() - t_start, "s")
        self.fig("bench", "phases_failed", len(self.failures), "phases")
        if self.failures:
            self.rep.section("phases that could not be measured", ["  " + f for f in self.failures])
        log("\n## figures\n")
        for line in self.rep.table():
            log(line)
        log("\n## JSON\n")
        meta = {"bench": "meta", "metric": "environment", "value": None, "unit": None,
                "baseline": None, "ratio": None, **self.meta}
        lines = [json.dumps(meta)] + self.rep.json_lines()
        for line in lines:
            log(line)
        if self.rep.json_path:
            with open(self.rep.json_path, "a") as f:
                f.write("\n".join(lines) + "\n")
        return 1 if self.failures else 0


def main():
    for path in (WORKER_BIN, ZYGOTE_BIN):
        if not os.access(path, os.X_OK):
            sys.stderr.write(f"bench: {path} missing: run make first\n")
            sys.exit(2)
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        sys.stderr.write("bench: redis-server/redis-cli not installed (scripts/install-deps.sh)\n")
        sys.exit(2)
    bench = Bench()

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        rc = bench.run()
    finally:
        bench.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
