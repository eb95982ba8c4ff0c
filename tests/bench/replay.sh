#!/usr/bin/env bash
# tests/bench/replay.sh [N]: on a private stack, loads N CreateOrder commands
# (default 100000) with the worker stopped, times one worker draining them,
# then replays the whole order-command topic with `orderflowctl replay` and
# checks that a checksum of users and orders is unchanged and no command was
# applied twice. Prints the figures; not part of ctest.
set -euo pipefail

n=${1:-100000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$root/build
dir=$root/build/bench-replay
cmake --build "$bin" -j"$(nproc)" --target orderflowctl orderflow-worker \
    bench_produce bench_wait >/dev/null

worker=
cleanup() {
    [[ -n $worker ]] && kill "$worker" 2>/dev/null && wait "$worker" || true
    bash "$root/tests/lib/stack.sh" stop "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash "$root/tests/lib/stack.sh" start "$dir" >/dev/null 2>&1
# shellcheck source=/dev/null
source "$dir/stack.env"
export ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT
export ORDERFLOW_MYSQL_PASSWORD=$ORDERFLOW_TEST_MYSQL_PASSWORD
export ORDERFLOW_REDIS_PORT=$ORDERFLOW_TEST_REDIS_PORT
export ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP
export ORDERFLOW_LOG_LEVEL=warn ORDERFLOW_CONFIG=/dev/null
group=${ORDERFLOW_WORKER_GROUP_ID:-orderflow-commands}
sql() {
    mariadb --socket="$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N orderflow \
        -e "$1"
}
checksum() {
    sql "SELECT (SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS('|', user_id,
        email, username, is_banned, version)))) FROM users),
        (SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS('|', order_id, user_id,
        order_status, total_amount, version))))  FROM orders),
        (SELECT COUNT(*) FROM commands)"
}
start_worker() {
    "$bin/orderflow-worker" --role commands --metrics-port 0 \
        >>"$dir/worker.log" 2>&1 &
    worker=$!
}
stop_worker() {
    kill "$worker"
    wait "$worker" || true
    worker=
}

"$bin/orderflowctl" migrate >/dev/null
"$bin/orderflowctl" topics create >/dev/null
"$bin/tests/bench_produce" users 10 >/dev/null
start_worker
"$bin/tests/bench_wait" "$group" orderflow.user-commands 60 >/dev/null
stop_worker
mapfile -t ids < <(sql "SELECT user_id FROM users")

echo "loading $n CreateOrder commands with the worker stopped"
"$bin/tests/bench_produce" orders "$n" "${ids[@]}"
start_worker
t=$("$bin/tests/bench_wait" "$group" orderflow.order-commands 3600)
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
printf 'worker drained %d commands in %.1f s: %s applied/s\n' "$n" "$t" \
    "$(div "$n" "$t")"
before=$(checksum)

start=$(date +%s.%N)
"$bin/orderflowctl" replay --topic orderflow.order-commands --from-offset 0
"$bin/tests/bench_wait" "$group" orderflow.order-commands 3600 >/dev/null
t=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { print a - b }')
after=$(checksum)
printf 'replay of %d commands published and re-applied in %.1f s: %s/s\n' \
    "$n" "$t" "$(div "$n" "$t")"
echo "checksum before: $before"
echo "checksum after:  $after"
if [[ $before == "$after" ]]; then
    echo "replay changed nothing"
else
    echo "replay CHANGED the data" >&2
    exit 1
fi
