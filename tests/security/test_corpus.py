"""The hostile-code corpus (corpus.py), end to end: a real redis-server,
the real sandq-worker, every case as a job.

Two runs of the same corpus, each on its own worker:
  all  every sandbox layer on: the status must be in the case's `expect`
       (`rejected` for what the restricted interpreter stops) and, when
       given, error_type must match;
  os   the restricted interpreter switched off (--unsafe-disable-layers
       interpreter, test-only): the case's `os_expect`, i.e. what seccomp,
       the rlimits, namespaces and cgroups do with the same code.
In both, containment is proved by side effects, not by the status: the
case's secret file was not read into any outcome field, its write target
does not exist, its script did not run, its TCP listener saw no
connection. After the whole corpus the worker is alive and a trivial job
still succeeds.

All jobs of a run are submitted at once (the worker runs them two at a
time); each parametrized test then waits for its own.
"""
import collections
import json
import os
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
from canaries import Canaries, worker_supports  # noqa: E402
from sandq_integration_conftest import Jobs, Worker, wait_until  # noqa: E402

CASES = corpus.by_name()
LIMITS = {"limit_time_ms": "3000", "limit_memory_mb": "128", "limit_output_kb": "64"}
VARIANTS = {
    "all": (),
    "os": ("--unsafe-disable-layers", "interpreter"),
}
SEED = "def somefunctionname(xs):\n    return sum(xs)/len(xs)\n"


class Run:
    """One variant: a worker, and every case submitted to it."""

    def __init__(self, redis_server, base, variant):
        self.variant = variant
        self.prefix = f"sec{variant}{uuid.uuid4().hex[:8]}"
        self.skip = None
        flags = VARIANTS[variant]
        if flags and not worker_supports(flags[0]):
            self.skip = f"sandq-worker has no {flags[0]}"
            return
        self.worker = Worker(redis_server, self.prefix, ("--slots", "2") + flags)
        ok = wait_until(lambda: "taking from" in self.worker.output() or not self.worker.alive(),
                        timeout=60)
        assert ok and self.worker.alive(), "worker did not start:\n" + self.worker.output()
        self.jobs = Jobs(redis_server.client(), self.prefix)
        self.canaries, self.ids = {}, {}
        for name, case in CASES.items():
            canaries = Canaries(os.path.join(base, variant, name))
            fields = dict(LIMITS, **case.limits)
            self.canaries[name] = canaries
            self.ids[name] = self.jobs.submit(canaries.fill(case.code), case.function,
                                              args=case.args, **fields)

    def wait(self, name):
        return self.jobs.wait(self.ids[name], timeout=300)

    def close(self):
        if self.skip:
            return
        for canaries in self.canaries.values():
            canaries.close()
        if self.worker.alive():
            self.worker.stop()


@pytest.fixture(scope="module")
def runs(redis_server, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("canaries"))
    os.chmod(base, 0o755)
    started = {}
    try:
        for variant in VARIANTS:
            started[variant] = Run(redis_server, base, variant)
        yield started
    finally:
        for run in started.values():
            run.close()


def _explain(job):
    keep = ("status", "error_type", "error", "result", "stdout")
    return {k: (job.get(k) or "")[:300] for k in keep if job.get(k)}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", list(CASES))
def test_case(runs, variant, name):
    run = runs[variant]
    if run.skip:
        pytest.skip(run.skip)
    case = CASES[name]
    job = run.wait(name)
    escaped = run.canaries[name].violations(job)
    assert not escaped, f"{name} ({case.why}) got out: {escaped}; {_explain(job)}"
    expected = case.expect if variant == "all" else case.os_expect
    assert job["status"] in expected, f"{name} ({case.why}): {_explain(job)}"
    if variant == "all" and case.error_type:
        assert job.get("error_type") == case.error_type, f"{name}: {_explain(job)}"
    if job["status"] == "rejected" and variant == "all":
        assert job.get("error"), job  # a readable reason, naming the rule


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_worker_survives_the_corpus(runs, variant):
    run = runs[variant]
    if run.skip:
        pytest.skip(run.skip)
    outcomes = collections.Counter()
    for name in CASES:  # every job ended, whatever order the tests ran in
        job = run.wait(name)
        assert job["status"] in corpus.CONTAINED, name
        rule = job.get("error_type", "") if job["status"] == "rejected" else ""
        outcomes[job["status"], rule] += 1
    summary = ", ".join(f"{n} {s}" + (f" ({t})" if t else "")
                        for (s, t), n in sorted(outcomes.items()))
    print(f"\n{variant}: {len(CASES)} cases: {summary}")
    assert run.worker.alive(), run.worker.output()[-3000:]
    t0 = time.monotonic()
    job = run.jobs.run(SEED, "somefunctionname", args="[[1, 2, 3, 4]]")
    assert job["status"] == "succeeded" and json.loads(job["result"]) == 2.5, job
    assert time.monotonic() - t0 < 10
    stats = run.jobs.r.hgetall(run.jobs.key("stats"))
    assert sum(int(v) for v in stats.values()) == len(CASES) + 1, stats
    assert "lost" not in stats, stats
