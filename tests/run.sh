#!/bin/sh
# Run sandq's whole test suite: the C unit tests, then the integration tests
# (pytest, against a redis-server and the worker they start themselves).
# The last line is the total: "N passed, N failed, N skipped".
#   tests/run.sh [--unit-only] [pytest args...]
# Env: SANDQ_BUILD (default ./build), TEST_PREFIX (e.g. "valgrind -q").
set -u
cd "$(dirname "$0")/.."
BUILD="${SANDQ_BUILD:-$PWD/build}"
export SANDQ_BUILD="$BUILD"
PY=/usr/bin/python3   # Debian's, with python3-redis and python3-pytest

passed=0; failed=0; skipped=0
add_counts() {  # parse "... N passed, N failed ..." style text
    p=$(printf '%s' "$1" | grep -oE '[0-9]+ passed' | tail -1 | cut -d' ' -f1)
    f=$(printf '%s' "$1" | grep -oE '[0-9]+ (failed|error|errors)' | awk '{s+=$1} END {print s+0}')
    s=$(printf '%s' "$1" | grep -oE '[0-9]+ skipped' | tail -1 | cut -d' ' -f1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
}

unit_only=0
if [ "${1:-}" = "--unit-only" ]; then unit_only=1; shift; fi

echo "== unit tests"
for t in "$BUILD"/tests/test_*; do
    case "$t" in *.d) continue ;; esac
    if [ ! -x "$t" ]; then  # a failed link must not pass for a skip
        echo "$(basename "$t"): not executable (build failed?)"; failed=$((failed + 1)); continue
    fi
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E "FAIL|SKIP" || true
    last=$(printf '%s\n' "$out" | tail -1)
    echo "$(basename "$t"): $last"
    add_counts "$last"
    if [ $rc -ne 0 ] && ! printf '%s' "$last" | grep -qE '[1-9][0-9]* failed'; then
        echo "$(basename "$t"): exited $rc"; failed=$((failed + 1))
    fi
done

if [ $unit_only -eq 0 ]; then
    echo "== integration tests"
    log=$(mktemp)
    "$PY" -m pytest -q -rs -p no:cacheprovider tests/integration tests/security "$@" 2>&1 | tee "$log"
    last=$(grep -E '[0-9]+ (passed|failed|error)' "$log" | tail -1)
    if [ -z "$last" ]; then failed=$((failed + 1)); fi
    add_counts "$last"
    rm -f "$log"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
