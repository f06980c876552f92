"""baseline_worker - the "no zygote" baseline of sandq's benchmarks.

A deliberately plain worker: it takes ids from the same Redis queue as
sandq-worker (BLMOVE onto its own processing list), reads the job hash
(HGETALL), marks it running, starts a cold `/usr/bin/python3 -I -S -c
RUNNER` per job with the job on stdin, and writes the outcome back the way
PROTOCOL.md says a worker does (fields, EXPIRE, LREM, HINCRBY stats,
PUBLISH done) in one MULTI/EXEC. No sandbox beyond a fresh process: it is
the cost of "one subprocess per job", which is what sandq's zygote is
meant to beat.

Run: /usr/bin/python3 baseline_worker.py --port P --prefix X [--queue Q] [--id ID]
Stops on SIGTERM/SIGINT (between jobs).
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

import redis

PYTHON = "/usr/bin/python3"

# Executed by the cold interpreter: job JSON on stdin, outcome JSON on stdout.
RUNNER = r"""
import json, sys
job = json.loads(sys.stdin.buffer.read())
out = {}
try:
    ns = {"__name__": "__job__"}
    exec(compile(job["code"], "<job>", "exec"), ns)
    fn = ns[job["function"]]
    if job.get("calls") is not None:
        entries, status = [], "succeeded"
        for item in json.loads(job["calls"]):
            try:
                entries.append({"result": fn(*item)})
            except Exception as e:
                status = "failed"
                entries.append({"error_type": type(e).__name__, "error": str(e)})
        out = {"status": status, "result": json.dumps(entries, allow_nan=False)}
    else:
        value = fn(*json.loads(job.get("args") or "[]"), **json.loads(job.get("kwargs") or "{}"))
        out = {"status": "succeeded", "result": json.dumps(value, allow_nan=False)}
except Exception as e:
    out = {"status": "failed", "error_type": type(e).__name__, "error": str(e)}
sys.stdout.write(json.dumps(out))
"""

_stop = False


def _on_signal(signum, frame):
    global _stop
    _stop = True


def now_ms():
    return int(time.time() * 1000)


def run_one(r, prefix, worker_id, proc_key, job_id):
    key = f"{prefix}:job:{job_id}"
    job = r.hgetall(key)
    started = now_ms()
    r.hset(key, mapping={"status": "running", "worker": worker_id, "started_at": started})
    payload = json.dumps({"code": job.get("code", ""), "function": job.get("function", ""),
                          "args": job.get("args"), "kwargs": job.get("kwargs"),
                          "calls": job.get("calls")}).encode()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run([PYTHON, "-I", "-S", "-c", RUNNER], input=payload,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={})
    elapsed_ms = int((time.monotonic() - t0) * 1000)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = int((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        out = {"status": "crashed", "error_type": "Crashed",
               "error": f"exit status {proc.returncode}"}
    status = out.pop("status")
    fields = dict(out, status=status, finished_at=now_ms(), time_ms=elapsed_ms,
                  cpu_ms=cpu_ms, memory_kb=after.ru_maxrss)
    pipe = r.pipeline(transaction=True)
    pipe.hset(key, mapping=fields)
    pipe.expire(key, int(job.get("result_ttl") or 86400))
    pipe.lrem(proc_key, 1, job_id)
    pipe.hincrby(f"{prefix}:stats", status, 1)
    pipe.publish(f"{prefix}:done:{job_id}", status)
    pipe.execute()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--queue", default="default")
    ap.add_argument("--id", default=f"baseline:{os.getpid()}")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    r = redis.Redis(port=a.port, decode_responses=True, client_name="bench-baseline")
    queue = f"{a.prefix}:queue:{a.queue}"
    proc_key = f"{a.prefix}:processing:{a.id}"
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while not _stop:
        try:
            job_id = r.blmove(queue, proc_key, 1, "RIGHT", "LEFT")
        except (redis.exceptions.ConnectionError, InterruptedError):
            if _stop:
                break
            raise
        if job_id is None:
            continue
        run_one(r, a.prefix, a.id, proc_key, job_id)


if __name__ == "__main__":
    main()
