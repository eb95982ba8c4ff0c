#!/usr/bin/env bash
# tests/bench/workers_scale.sh [--quick]: applied commands/s with 1, 2 and 3
# command workers on this machine (issue 8's benchmark row; not part of
# ctest). The approach of tests/bench/run.sh step 4: on a private stack with
# durable settings (OF_NODES_FAST=0), N CreateOrder commands (default
# 200,000; --quick 20,000; ORDERFLOW_BENCH_N) are loaded with bench_produce
# into a 12-partition order-command topic while no worker runs, then W
# workers of one consumer group drain them; bench_wait times it. Each W has
# topics and a group of its own, and starts from the same tables (orders,
# commands and outbox emptied before each round), so the rounds differ only
# in W. Creates are keyed by user id: 120 users spread them over the 12
# partitions.
#
# Two figures per W:
#   wall    N / (workers started -> every partition committed): what a
#           backlog costs, the group's joins and rebalances included;
#   steady  commands rows / (first -> last completed_at): the apply rate
#           once the group has settled.
# and the CPU seconds the workers, mysqld and Kafka used in the round (on 2
# cores the sum says what was saturated). Prints a table and one JSON line,
# also written to bench-results/workers_scale.json.
# Environment: ORDERFLOW_BENCH_BUILD_DIR (default build/; the stack lives in
# its bench-workers-stack/), ORDERFLOW_BENCH_N, ORDERFLOW_BENCH_WORKERS
# (default "1 2 3").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
n=200000
[[ ${1:-} == --quick ]] && n=20000
n=${ORDERFLOW_BENCH_N:-$n}
counts=${ORDERFLOW_BENCH_WORKERS:-1 2 3}
partitions=12
bin=${ORDERFLOW_BENCH_BUILD_DIR:-$root/build}
dir=$bin/bench-workers-stack
out=$root/bench-results
mkdir -p "$out"
cmake --build "$bin" -j"$(nproc)" --target orderflowctl orderflow-worker \
    bench_produce bench_wait >/dev/null

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" || true; done
    bash "$root/tests/lib/stack.sh" stop "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# the MariaDB of tests/bench/run.sh: durable, with room for a round's rows
. "$root/tests/bench/lib.sh"
bench_stack_start "$dir" durable
export ORDERFLOW_TOPICS_PARTITIONS=$partitions

sql() {
    mariadb --socket="$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N \
        "$ORDERFLOW_TEST_MYSQL_DATABASE" -e "$1"
}
# CPU seconds (user + system) a process has used so far
cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}
node_pid() { cat "$dir/$1/$1.pid"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
# topics and a consumer group no other round uses
use_topics() {
    local p=$1
    export ORDERFLOW_TOPICS_USER_COMMANDS=$p.user-commands
    export ORDERFLOW_TOPICS_ORDER_COMMANDS=$p.order-commands
    export ORDERFLOW_TOPICS_USER_EVENTS=$p.user-events
    export ORDERFLOW_TOPICS_ORDER_EVENTS=$p.order-events
    export ORDERFLOW_TOPICS_DEAD_LETTER=$p.dead-letter
    export ORDERFLOW_WORKER_GROUP_ID=$p-group
    "$bin/orderflowctl" topics create >/dev/null
}
start_workers() { # COUNT LOG
    pids=()
    for ((i = 0; i < $1; i++)); do
        "$bin/orderflow-worker" --role commands --metrics-port 0 >>"$2" 2>&1 &
        pids+=($!)
    done
}
stop_workers() {
    for p in "${pids[@]}"; do kill "$p"; done
    for p in "${pids[@]}"; do wait "$p" || true; done
    pids=()
}

"$bin/orderflowctl" migrate >/dev/null
echo "users: 120 RegisterUser commands, one worker"
use_topics "ws-users-$$"
"$bin/tests/bench_produce" users 120 >/dev/null
start_workers 1 "$dir/worker-users.log"
"$bin/tests/bench_wait" "$ORDERFLOW_WORKER_GROUP_ID" \
    "$ORDERFLOW_TOPICS_USER_COMMANDS" 120 >/dev/null
stop_workers
mapfile -t ids < <(sql "SELECT user_id FROM users")
((${#ids[@]} == 120)) || { echo "expected 120 users, got ${#ids[@]}" >&2; exit 1; }

rows=() json=()
for w in $counts; do
    echo "$w worker(s): $n CreateOrder commands in $partitions partitions"
    # the same starting tables for every round (orders reference users,
    # nothing references orders)
    sql "TRUNCATE TABLE orders; TRUNCATE TABLE commands; TRUNCATE TABLE outbox"
    use_topics "ws$w-$$"
    "$bin/tests/bench_produce" orders "$n" "${ids[@]}" | sed 's/^/   /'
    mysqld=$(node_pid mariadb) kafka=$(node_pid kafka)
    db0=$(cpu "$mysqld") k0=$(cpu "$kafka")
    start_workers "$w" "$dir/worker-$w.log"
    t=$("$bin/tests/bench_wait" "$ORDERFLOW_WORKER_GROUP_ID" \
        "$ORDERFLOW_TOPICS_ORDER_COMMANDS" 3600)
    wcpu=0
    for p in "${pids[@]}"; do
        wcpu=$(awk -v a="$wcpu" -v b="$(cpu "$p")" 'BEGIN { printf "%.1f", a + b }')
    done
    dbcpu=$(sub "$(cpu "$mysqld")" "$db0") kcpu=$(sub "$(cpu "$kafka")" "$k0")
    stop_workers
    read -r rowsn applied span < <(sql "SELECT COUNT(*), SUM(status =
        'applied'), ROUND(TIMESTAMPDIFF(MICROSECOND,
        MIN(completed_at), MAX(completed_at)) / 1e6, 2) FROM commands WHERE kafka_topic =
        '$ORDERFLOW_TOPICS_ORDER_COMMANDS'")
    if ((rowsn != n || applied != n)); then
        echo "   $rowsn commands rows ($applied applied) for $n commands" >&2
        exit 1
    fi
    wall=$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%.0f", n / t }')
    steady=$(awk -v n="$n" -v t="$span" 'BEGIN { printf "%.0f", n / t }')
    echo "   drained in $t s: $wall/s (steady $steady/s over $span s);" \
        "CPU s: workers $wcpu, mysqld $dbcpu, kafka $kcpu"
    rows+=("$(printf '%7s %10s %9s %10s %12s %12s %10s %8s' "$w" "$n" "$t" \
        "$wall" "$steady" "$wcpu" "$dbcpu" "$kcpu")")
    json+=("{\"workers\":$w,\"commands\":$n,\"drain_s\":$t,\"wall_rps\":$wall,\"steady_rps\":$steady,\"worker_cpu_s\":$wcpu,\"mysqld_cpu_s\":$dbcpu,\"kafka_cpu_s\":$kcpu}")
done

echo
printf '%7s %10s %9s %10s %12s %12s %10s %8s\n' workers commands drain_s \
    wall/s steady/s worker_cpu mysqld_cpu kafka_cpu
printf '%s\n' "${rows[@]}"
line="{\"workers_scale\":{\"machine\":\"$(nproc) cores\",\"partitions\":$partitions,\"rows\":[$(IFS=,; echo "${json[*]}")]}}"
echo "$line" | tee "$out/workers_scale.json"
