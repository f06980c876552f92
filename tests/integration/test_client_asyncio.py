"""sandq.asyncio.Client against a real redis-server and the real worker:
the same surface as the sync client, every call awaited."""
import asyncio
import json
import os
import sys
import time

import pytest
import redis.asyncio as aioredis

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "tools", "python"))
import sandq  # noqa: E402
import sandq.asyncio  # noqa: E402

SEED = "def somefunctionname(xs):\n    return sum(xs)/len(xs)\n"
SPIN = "def f():\n    while True:\n        pass\n"


def run(redis_server, prefix, body):
    """asyncio.run(body(client)) with a fresh client on the test's prefix."""
    async def main():
        async with sandq.asyncio.Client(redis_server.url, prefix=prefix) as client:
            return await body(client)
    return asyncio.run(main())


def test_run_and_map(worker, redis_server, prefix):
    async def body(c):
        value = await c.run(SEED, "somefunctionname", [1, 2, 3, 4])
        many = await c.map(SEED, "somefunctionname", [([1, 2],), ([],)])
        kw = await c.run("def f(a, *, b):\n    return [a, b]\n", "f", 1, b=2)
        return value, many, kw
    value, many, kw = run(redis_server, prefix, body)
    assert value == 2.5 and kw == [1, 2]
    assert many == [1.5, sandq.CallError("ZeroDivisionError", "division by zero")]


def test_submit_fields_and_outcome(worker, redis_server, prefix, jobs):
    async def body(c):
        job = await c.submit("def f(x):\n    print(x)\n    return x\n", "f", ["a"],
                             limit_time_ms=5000, queue="default")
        h = jobs.job(job.id)
        out = await job.wait(timeout=30)
        return h, out, await job.status(), await job.refresh(), await job.outcome()
    h, out, status, fields, again = run(redis_server, prefix, body)
    assert h["status"] in ("queued", "running", "succeeded") and json.loads(h["args"]) == ["a"]
    assert h["limit_time_ms"] == "5000" and h["queue"] == "default"
    assert out.ok and out.result == "a" and out.stdout == "a\n" and out.attempts == 1
    assert status == "succeeded" and fields["result"] == '"a"' and again == out


def test_exceptions(worker, redis_server, prefix):
    cases = [
        ("def f(:\n    return 1\n", {}, sandq.Rejected),
        ("import os\ndef f():\n    return 1\n", {}, sandq.Rejected),
        ("def f():\n    return 1/0\n", {}, sandq.Failed),
        (SPIN, {"limit_time_ms": 300}, sandq.TimeLimit),
        ("def g():\n    return 1\n", {}, sandq.Rejected),
        ("def f():\n    return 'x' * 5000\n", {"limit_output_kb": 2}, sandq.OutputLimit),
    ]

    async def one(c, code, opts):
        job = await c.submit(code, "f", **opts)
        try:
            await job.result(timeout=30)
        except sandq.JobFailed as e:
            return e
        return None

    async def body(c):
        return await asyncio.gather(*(one(c, code, opts) for code, opts, _ in cases))
    errors = run(redis_server, prefix, body)
    for (code, _, cls), e in zip(cases, errors):
        assert type(e) is cls, (code, e)
    assert errors[0].error_type == "SyntaxError" and "line 1" in errors[0].error
    assert 'File "<job>", line 2' in errors[2].traceback


def test_many_at_once(worker, redis_server, prefix):
    async def body(c):
        return await asyncio.gather(*(c.run("def f(x):\n    return x * x\n", "f", i)
                                      for i in range(50)))
    assert run(redis_server, prefix, body) == [i * i for i in range(50)]


def test_wait_timeout_and_run_cancels(redis_server, prefix, jobs):
    async def body(c):
        job = await c.submit("def f():\n    return 1\n", "f")
        t0 = time.monotonic()
        with pytest.raises(sandq.WaitTimeout) as info:
            await job.wait(timeout=0.3)
        elapsed = time.monotonic() - t0
        with pytest.raises(sandq.WaitTimeout):
            await c.map(SEED, "somefunctionname", [([1],)], timeout=0.2)
        return job, info.value, elapsed
    job, e, elapsed = run(redis_server, prefix, body)
    assert 0.3 <= elapsed < 1.0 and e.status == "queued"
    assert jobs.r.lrange(jobs.key("queue", "default"), 0, -1) == [job.id]
    statuses = sorted(jobs.r.hget(k, "status") for k in jobs.r.keys(jobs.key("job", "*")))
    assert statuses == ["canceled", "queued"]


def test_cancel_queued(redis_server, prefix, jobs):
    async def body(c):
        job = await c.submit("def f():\n    return 1\n", "f")
        waiter = asyncio.ensure_future(job.wait(timeout=10))
        await asyncio.sleep(0.1)
        got = await job.cancel()
        out = await waiter
        with pytest.raises(sandq.Canceled):
            await job.result(timeout=1)
        return got, out, await c.cancel("nope")
    got, out, missing = run(redis_server, prefix, body)
    assert got == "canceled" and out.status == "canceled" and missing == "missing"
    assert jobs.r.llen(jobs.key("queue", "default")) == 0


def test_cancel_running(worker, redis_server, prefix):
    async def body(c):
        job = await c.submit(SPIN, "f", limit_time_ms=30000)
        deadline = time.monotonic() + 10
        while await job.status() != "running" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await job.cancel() == "requested"
        t0 = time.monotonic()
        with pytest.raises(sandq.Canceled):
            await job.result(timeout=5)
        return time.monotonic() - t0
    assert run(redis_server, prefix, body) < 1.0


def test_job_exists_and_validation(redis_server, prefix):
    async def body(c):
        await c.submit("def f():\n    return 1\n", "f", job_id="dup")
        with pytest.raises(sandq.JobExists):
            await c.submit("def f():\n    return 1\n", "f", job_id="dup")
        with pytest.raises(ValueError):
            await c.submit("def f():\n    return 1\n", "f", calls=[[1]], args=[1])
        with pytest.raises(sandq.JobNotFound):
            await c.job("absent").wait(timeout=1)
    run(redis_server, prefix, body)


def test_from_redis_and_workers(worker, redis_server, prefix):
    async def main():
        r = aioredis.Redis(port=redis_server.port)  # bytes replies
        c = sandq.asyncio.Client.from_redis(r, prefix=prefix)
        value = await c.run("def f():\n    return 'b'\n", "f")
        deadline = time.monotonic() + 10
        workers = await c.workers()
        while not workers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            workers = await c.workers()
        await c.close()
        pong = await r.ping()
        await r.close(close_connection_pool=True)
        return value, workers, pong
    value, workers, pong = asyncio.run(main())
    assert value == "b" and workers and pong
