#!/bin/sh
# The sandq Django example in one command: build the worker, start a private
# redis-server and a sandq worker on free ports, check the worker answers,
# run the Django dev server and print its URL. Ctrl-C stops everything.
#   tools/django_example/run.sh            (PORT=8000 to choose the web port)
# Installs what it needs with scripts/install-deps.sh (idempotent).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3   # Debian's: python3-django, python3-redis

"$repo/scripts/install-deps.sh"
make -s -C "$repo"

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
dir=$(mktemp -d /tmp/sandq-django.XXXXXX)
redis_port=$(free_port)
web_port=${PORT:-$(free_port)}
redis_pid="" worker_pid="" web_pid=""
cleanup() {
    trap - EXIT INT TERM
    for pid in $web_pid $worker_pid; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $web_pid $worker_pid; do wait "$pid" 2>/dev/null || true; done
    [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --save '' \
    --daemonize no --logfile "$dir/redis.log" &
redis_pid=$!
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done

export SANDQ_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export SANDQ_PREFIX="${SANDQ_PREFIX:-sandq}"
"$repo/build/sandq-worker" --redis "$SANDQ_REDIS_URL" --prefix "$SANDQ_PREFIX" --slots 4 \
    >"$dir/worker.log" 2>&1 &
worker_pid=$!

cd "$here"
if ! "$PY" manage.py sandq_check --timeout 30; then
    echo "run.sh: worker log:" >&2; cat "$dir/worker.log" >&2
    exit 1
fi
"$PY" manage.py runserver --noreload "127.0.0.1:$web_port" &
web_pid=$!
"$PY" - "$web_port" <<'PYEOF'
import socket, sys, time
for _ in range(400):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        break
    except OSError:
        time.sleep(0.05)
PYEOF
echo "sandq Django example: http://127.0.0.1:$web_port/  (redis $SANDQ_REDIS_URL, worker log $dir/worker.log; Ctrl-C stops)"
wait "$web_pid"
