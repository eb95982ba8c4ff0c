#!/usr/bin/env bash
# tests/bench/run.sh [--quick]: the side-by-side benchmark (not part of
# ctest). Starts a private stack (durable settings: OF_NODES_FAST=0), then
# measures in one run, on this machine:
#   1. http_ceiling_rps       wrk, GET /healthz of orderflow-api
#   2. ingress_*              wrk, POST /v1/orders, 64 connections
#   3. kafka_produce_ceiling  Kafka's ProducerPerformance, acks=all, same size
#   4. worker_apply_rps       N CreateOrder commands loaded with the worker
#                             stopped, then one worker drains them
#   7. api_rss_mib, worker_rss_mib   peak RSS (VmHWM) after (2) and (4)
# and writes bench-results/latest.json. Not yet measured (keys absent):
# db_batched_ceiling_rps (5) and e2e_p50_ms/e2e_p99_ms (6).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
quick=0
[[ ${1:-} == --quick ]] && quick=1
dur=30
n=200000
if ((quick)); then
    dur=10
    n=20000
fi
bin=$root/build
dir=$root/build/bench-stack
out=$root/bench-results
mkdir -p "$out"
cmake -S "$root" -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$bin" -j"$(nproc)" >/dev/null

api= worker=
cleanup() {
    for p in $api $worker; do kill "$p" 2>/dev/null && wait "$p" || true; done
    bash "$root/tests/lib/stack.sh" stop "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
OF_NODES_FAST=0 bash "$root/tests/lib/stack.sh" start "$dir" >/dev/null 2>&1
# shellcheck source=/dev/null
source "$dir/stack.env"
export ORDERFLOW_CONFIG=/dev/null ORDERFLOW_LOG_LEVEL=warn
export ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT
export ORDERFLOW_MYSQL_PASSWORD=$ORDERFLOW_TEST_MYSQL_PASSWORD
export ORDERFLOW_REDIS_PORT=$ORDERFLOW_TEST_REDIS_PORT
export ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP
export ORDERFLOW_AUTH_JWT_KEY=bench-secret-0123456789abcdef0123456789
export ORDERFLOW_API_RATE_LIMIT_PER_S=0 ORDERFLOW_API_PER_IP_CONNECTION_LIMIT=256
port=$(bash -c ". '$root/deploy/local/lib/nodes.sh'; of_free_port")
export ORDERFLOW_API_PORT=$port
"$bin/orderflowctl" migrate >/dev/null
"$bin/orderflowctl" topics create >/dev/null

hwm() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

"$bin/orderflow-api" >"$dir/api.log" 2>&1 &
api=$!
for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.1
done

echo "1. HTTP ceiling (wrk GET /healthz, 64 connections, $dur s)"
ceiling=$(wrk -t2 -c64 -d"${dur}s" "http://127.0.0.1:$port/healthz" |
    awk '/Requests\/sec/ { print $2 }')

echo "2. ingress (wrk POST /v1/orders, 64 connections, $dur s)"
token=$("$bin/orderflowctl" token --sub 1 --role user)
line=$(TOKEN=$token wrk -t2 -c64 -d"${dur}s" -s "$root/tests/bench/post_order.lua" \
    "http://127.0.0.1:$port/v1/orders" | grep '^BENCH')
api_rss=$(hwm "$api")

echo "3. Kafka produce ceiling (ProducerPerformance, acks=all)"
size=120 # bytes: an encoded CreateOrder command is 110 to 125
java -cp "$ORDERFLOW_TEST_KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$ORDERFLOW_TEST_KAFKA_BOOTSTRAP" --create \
    --topic bench.ceiling --partitions 6 --replication-factor 1 >/dev/null
kafka=$(java -cp "$ORDERFLOW_TEST_KAFKA_LIBS/*" \
    org.apache.kafka.tools.ProducerPerformance --topic bench.ceiling \
    --num-records $((n / 2)) --record-size "$size" --throughput -1 \
    --producer-props "bootstrap.servers=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP" \
    acks=all linger.ms=5 max.block.ms=10000 2>/dev/null | tail -1 | sed 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/')

echo "4. worker drain ($n CreateOrder commands loaded first)"
"$bin/tests/bench_produce" users 10 >/dev/null
"$bin/orderflow-worker" --role commands --metrics-port 0 >"$dir/worker.log" 2>&1 &
worker=$!
"$bin/tests/bench_wait" orderflow-commands orderflow.user-commands 120 >/dev/null
"$bin/tests/bench_wait" orderflow-commands orderflow.order-commands 3600 >/dev/null
kill "$worker"; wait "$worker" || true
mapfile -t ids < <(mariadb --socket="$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot \
    -N orderflow -e "SELECT user_id FROM users")
"$bin/tests/bench_produce" orders "$n" "${ids[@]}" >/dev/null
"$bin/orderflow-worker" --role commands --metrics-port 0 >>"$dir/worker.log" 2>&1 &
worker=$!
t=$("$bin/tests/bench_wait" orderflow-commands orderflow.order-commands 7200)
worker_rss=$(hwm "$worker")
apply=$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%.1f", n / t }')

cat >"$out/latest.json" <<EOJ
{
  "machine": "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)",
  "quick": $quick,
  "http_ceiling_rps": $ceiling,
  "ingress_accept_rps": $(field rps <<<"$line"),
  "ingress_p50_ms": $(field p50 <<<"$line"),
  "ingress_p99_ms": $(field p99 <<<"$line"),
  "ingress_p999_ms": $(field p999 <<<"$line"),
  "ingress_errors": $(field errors <<<"$line"),
  "kafka_produce_ceiling_rps": ${kafka:-null},
  "worker_apply_rps": $apply,
  "api_rss_mib": $api_rss,
  "worker_rss_mib": $worker_rss
}
EOJ
cat "$out/latest.json"
