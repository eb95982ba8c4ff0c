#!/usr/bin/env bash
# tests/bench/admin_orders_1m.sh [N_ORDERS]: the admin lists at scale.
#
# On a private stack (tests/lib/stack.sh, MariaDB with a 1 GiB buffer pool
# as tests/bench/run.sh has it), migrates, loads N_ORDERS orders (default
# 1,000,000) over 10,000 users with plain SQL (INSERT ... SELECT from
# MariaDB's seq_1_to_N: a year of created_at, statuses 60 % paid, 20 %
# pending, 15 % cancelled, 5 % refunded, a third jewelry; user 1 has 2 %
# of all orders, the others about 100 each), starts the API
# and times with curl the first page and the 10th page (the cursor of the
# 9th) of:
#   GET /v1/admin/orders, ?status=paid, ?status=refunded, ?type=vip,
#   ?user_id=X, ?from=&to= (one day), ?type=jewelry&status=paid, and
#   GET /v1/admin/users?q= (a q matching 11 % of the users, and all),
# and the admin panel's Orders page in chromium (tests/browser/page_load.mjs:
# navigation start to the table filled)
# RUNS times each (default 7), printing the median and the max in ms, then
# the EXPLAIN of each list's 10th-page query, to show the index it uses.
# Everything it started is stopped at the end. Not part of ctest.
#
# ORDERFLOW_BUILD_DIR: the build to use (default build/; built here).
set -euo pipefail

n=${1:-1000000}
runs=${RUNS:-7}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${ORDERFLOW_BUILD_DIR:-$root/build}
dir=$bin/bench-admin
cmake --build "$bin" -j"$(nproc)" --target orderflow-api orderflowctl \
    >/dev/null

api=
cleanup() {
    if [[ -n $api ]]; then
        kill "$api" 2>/dev/null && wait "$api" || true
    fi
    bash "$root/tests/lib/stack.sh" stop "$dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
. "$root/tests/bench/lib.sh"
bench_stack_start "$dir"
export ORDERFLOW_AUTH_JWT_KEY=bench-secret-0123456789abcdef0123456789
export ORDERFLOW_API_RATE_LIMIT_PER_S=0
port=$(bash -c ". '$root/deploy/local/lib/nodes.sh'; of_free_port")
export ORDERFLOW_API_PORT=$port
sql() {
    mariadb --socket="$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N orderflow \
        -e "$1"
}
now() { date +%s.%N; }
secs() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

"$bin/orderflowctl" migrate >/dev/null
"$bin/orderflowctl" topics create >/dev/null

t0=$(now)
sql "SET unique_checks = 0, foreign_key_checks = 0;
INSERT INTO users (user_id, email, username, registration_date, version)
SELECT seq, CONCAT('user', seq, '@bench.example'), CONCAT('bench_', seq),
       '2025-01-01' + INTERVAL seq MINUTE, 1
FROM seq_1_to_10000;
INSERT INTO orders (order_id, user_id, order_type, order_status,
                    total_amount, created_at, updated_at, version)
SELECT seq, IF(seq % 50 = 0, 1, 1 + (seq * 7919) % 10000),
       IF(seq % 3 = 0, 'jewelry', 'vip'),
       ELT(1 + seq % 20, 'pending', 'pending', 'pending', 'pending',
           'cancelled', 'cancelled', 'cancelled', 'refunded',
           'paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'paid',
           'paid', 'paid', 'paid', 'paid'),
       CAST(1 + (seq % 99999) / 100 AS DECIMAL(10, 2)),
       '2025-02-01' + INTERVAL (seq * 31 + seq % 17) SECOND,
       '2025-02-01' + INTERVAL (seq * 31 + seq % 17) SECOND,
       1 + (seq % 20 > 3)
FROM seq_1_to_$n;
ANALYZE TABLE users, orders;" >/dev/null
echo "loaded 10000 users and $(sql 'SELECT COUNT(*) FROM orders') orders in $(secs "$t0") s"

"$bin/orderflow-api" >>"$dir/api.log" 2>&1 &
api=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
auth="Authorization: Bearer $("$bin/orderflowctl" token --sub 1 --role admin)"
base=http://127.0.0.1:$port

get() { curl -sf -H "$auth" "$base$1"; }
# the path of the 10th page of $1 (limit 20): follows 9 cursors
page10() {
    local path=$1 sep cur
    sep=$([[ $path == *\?* ]] && echo '&' || echo '?')
    cur=
    for _ in $(seq 9); do
        cur=$(get "$path${cur:+${sep}cursor=$cur}" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')
        [[ -n $cur ]] || { echo "no 10th page for $path" >&2; exit 1; }
    done
    echo "$path${sep}cursor=$cur"
}
# median and max of $runs timings of GET $1, in ms
timeit() {
    local i ts=()
    for ((i = 0; i < runs; i++)); do
        ts+=("$(curl -sf -o /dev/null -w '%{time_total}' -H "$auth" "$base$1")")
    done
    printf '%s\n' "${ts[@]}" | sort -n |
        awk '{ a[NR] = $1 * 1000 } END { printf "median %6.1f ms  max %6.1f ms", a[int((NR + 1) / 2)], a[NR] }'
}

uid=$(sql "SELECT user_id FROM orders GROUP BY user_id ORDER BY COUNT(*) DESC LIMIT 1")
lists=(
    "/v1/admin/orders"
    "/v1/admin/orders?status=paid"
    "/v1/admin/orders?status=refunded"
    "/v1/admin/orders?type=vip"
    "/v1/admin/orders?type=jewelry&status=paid"
    "/v1/admin/orders?user_id=$uid"
    "/v1/admin/orders?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z"
    "/v1/admin/users?q=user1"
    "/v1/admin/users?q=bench_"
)
deep=()
echo
echo "GET, $runs runs each (limit 20; page 10 = after 9 cursors)"
for l in "${lists[@]}"; do
    d=$(page10 "$l")
    deep+=("$d")
    printf '%-70s page 1:  %s\n' "$l" "$(timeit "$l")"
    printf '%-70s page 10: %s\n' "" "$(timeit "$d")"
done
printf '%-70s         %s\n' "/v1/admin/stats" "$(timeit /v1/admin/stats)"

join_and() {
    local out=$1 w
    shift
    for w in "$@"; do out+=" AND $w"; done
    echo "$out"
}
# The SQL the API runs for a path (api_admin.c), with the values inline.
explain_sql() {
    local path=$1 q where=() cur= at id
    q=${path#*\?}
    [[ $q == "$path" ]] && q=
    declare -A p=()
    local kv
    IFS='&' read -ra kvs <<<"$q"
    for kv in "${kvs[@]}"; do p[${kv%%=*}]=${kv#*=}; done
    if [[ $path == /v1/admin/users* ]]; then
        # the first of read_users_q()'s two steps: the 10,000 ids below
        # the cursor (the only step here, with 10,000 users)
        local pat=${p[q]//_/!_}
        echo "SELECT user_id FROM users FORCE INDEX (PRIMARY) WHERE user_id < ${p[cursor]} AND user_id >= $((p[cursor] > 10000 ? p[cursor] - 10000 : 0)) AND (email LIKE '$pat%' ESCAPE '!' OR username LIKE '$pat%' ESCAPE '!') ORDER BY user_id DESC LIMIT 21"
        return
    fi
    [[ -n ${p[user_id]:-} ]] && where+=("user_id = ${p[user_id]}")
    [[ -n ${p[status]:-} ]] && where+=("order_status = '${p[status]}'")
    [[ -n ${p[type]:-} ]] && where+=("order_type = '${p[type]}'")
    [[ -n ${p[from]:-} ]] && where+=("created_at >= FROM_UNIXTIME($(date -d "${p[from]}" +%s))")
    [[ -n ${p[to]:-} ]] && where+=("created_at < FROM_UNIXTIME($(date -d "${p[to]}" +%s))")
    if [[ -n ${p[cursor]:-} ]]; then
        at=${p[cursor]%.*} id=${p[cursor]#*.}
        where+=("(created_at < FROM_UNIXTIME($at) OR (created_at = FROM_UNIXTIME($at) AND order_id < $id))")
    fi
    echo "SELECT order_id FROM orders WHERE $(join_and "${where[@]}") ORDER BY created_at DESC, order_id DESC LIMIT 21"
}
echo
echo "EXPLAIN of each 10th page (id select_type table type possible_keys key key_len ref rows Extra)"
for d in "${deep[@]}"; do
    s=$(explain_sql "$d")
    echo "$d"
    sql "EXPLAIN $s" | sed 's/^/    /'
done

# The page itself: the admin panel's Orders view in chromium, from the start
# of navigation to its table filled (tests/browser/page_load.mjs).
echo
echo "The admin panel's Orders page in chromium, $(sql 'SELECT COUNT(*) FROM orders') orders in MySQL"
if [[ ! -d $root/tests/browser/node_modules/playwright-core ]]; then
    npm ci --prefix "$root/tests/browser" --no-audit --no-fund >/dev/null
fi
ORDERFLOW_API_URL=$base ORDERFLOW_ADMIN_TOKEN=${auth#Authorization: Bearer } \
    ORDERFLOW_PAGE_VIEWS="orders,orders?status=paid,orders?type=vip,orders?user_id=$uid" \
    RUNS=$runs node "$root/tests/browser/page_load.mjs"
