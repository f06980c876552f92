#!/bin/sh
# sandq quick start: install dependencies, build, start a private
# redis-server and a worker, push the seed job with plain redis-cli exactly
# as PROTOCOL.md says, print its outcome, stop everything.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -s

dir=$(mktemp -d /tmp/sandq-demo.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --daemonize no \
    --logfile "$dir/redis.log" & redis_pid=$!
worker_pid=""
cleanup() {
    [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
    kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
cli() { redis-cli -p "$port" "$@"; }
until cli ping >/dev/null 2>&1; do sleep 0.05; done

build/sandq-worker --redis "redis://127.0.0.1:$port/0" --slots 2 2>"$dir/worker.log" &
worker_pid=$!

code='def somefunctionname(xs):
    return sum(xs)/len(xs)
'
id="demo-$(date +%s)"
echo "enqueue job $id: somefunctionname([3, 4, 5, 8])"
# The hash first, then the id on the queue (PROTOCOL.md: MULTI/EXEC or a
# pipeline; two ordered commands are the redis-cli spelling of that).
cli HSET "sandq:job:$id" code "$code" function somefunctionname args '[[3, 4, 5, 8]]' \
    status queued enqueued_at "$(date +%s%3N)" >/dev/null
cli LPUSH sandq:queue:default "$id" >/dev/null

i=0
while :; do
    status=$(cli HGET "sandq:job:$id" status)
    case "$status" in queued|running|"") ;; *) break ;; esac
    i=$((i + 1)); [ $i -gt 600 ] && { echo "no result after 30 s"; cat "$dir/worker.log"; exit 1; }
    sleep 0.05
done
echo "redis-cli HGETALL sandq:job:$id"
cli HGETALL "sandq:job:$id" | paste - - | grep -v '^code' | sed 's/^/  /'
echo "status: $status   result: $(cli HGET "sandq:job:$id" result)"
echo "worker log:"; sed 's/^/  /' "$dir/worker.log"
[ "$status" = succeeded ]
