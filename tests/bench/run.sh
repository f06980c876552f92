#!/bin/sh
# tests/bench/run.sh - sandq's benchmarks (issue 6); `make bench` runs it.
#
#   SANDQ_BUILD=build tests/bench/run.sh        full run (~90 s)
#   BENCH_QUICK=1 tests/bench/run.sh            smoke run (~20 s)
#   BENCH_JSON=out.jsonl tests/bench/run.sh     also append the JSON lines to a file
#   BENCH_PERF=0 / BENCH_STRACE=0               skip the perf / strace phases
#   BENCH_WORKER_ARGS="--allow-missing cgroup"  extra sandq-worker flags
#
# Starts its own redis-server on a free port and its own workers; prints a
# human report, then one JSON line per figure. Reports only, never fails on
# a number; exits 1 when some part could not be measured, 2 when it cannot
# start at all. docs/benchmarks.md explains every figure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${SANDQ_BUILD:=$repo/build}"
export SANDQ_BUILD
py=/usr/bin/python3
if ! "$py" -c 'import redis' 2>/dev/null; then
    echo "bench: $py cannot import redis (apt-get install python3-redis)" >&2
    exit 2
fi
for bin in sandq-worker sandq-zygote; do
    if [ ! -x "$SANDQ_BUILD/$bin" ]; then
        echo "bench: $SANDQ_BUILD/$bin missing (run make)" >&2
        exit 2
    fi
done
exec "$py" "$here/sandq_bench.py" "$@"
