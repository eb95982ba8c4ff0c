#!/usr/bin/env bash
# orderflowctl rebuild-read-model rewrites the Redis read model from MySQL
# (CONTRACT §6, §7): hashes equal the rows, each user's order list is back,
# and a stored version is never lowered.
set -euo pipefail
. "$(dirname "$0")/../lib/tap.sh"

export ORDERFLOW_MYSQL_HOST=$ORDERFLOW_TEST_MYSQL_HOST
export ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT
export ORDERFLOW_MYSQL_PASSWORD=$ORDERFLOW_TEST_MYSQL_PASSWORD
export ORDERFLOW_REDIS_PORT=$ORDERFLOW_TEST_REDIS_PORT
ctl() { "$ORDERFLOW_BIN_DIR/orderflowctl" --config /dev/null "$@"; }
sql() {
    mariadb --socket="$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N \
        --default-character-set=utf8mb4 \
        "$ORDERFLOW_TEST_MYSQL_DATABASE" -e "$1"
}
rc() { redis-cli -p "$ORDERFLOW_TEST_REDIS_PORT" "$@"; }

ctl migrate >/dev/null
email="rebuild-$$-$RANDOM@example.com"
uid=$(sql "INSERT INTO users (email, username, avatar_url, version)
           VALUES ('$email', 'Zoë 😀', NULL, 2); SELECT LAST_INSERT_ID()")
o1=$(sql "INSERT INTO orders (user_id, order_type, order_status, total_amount,
          version) VALUES ($uid, 'vip', 'paid', 199.00, 2);
          SELECT LAST_INSERT_ID()")
o2=$(sql "INSERT INTO orders (user_id, order_type, order_status, total_amount,
          version) VALUES ($uid, 'jewelry', 'pending', 99999999.99, 1);
          SELECT LAST_INSERT_ID()")
rc DEL "orderflow:user:$uid" "orderflow:order:$o1" "orderflow:order:$o2" \
    "orderflow:user:$uid:orders" >/dev/null

out=$(ctl rebuild-read-model --user "$uid" 2>/dev/null)
like "$out" "rebuilt 1 users and 2 orders in " "--user rebuilds one user and their orders"
is "$(rc HGET "orderflow:user:$uid" username)" "Zoë 😀" "username byte for byte"
is "$(rc HGET "orderflow:user:$uid" version)" "2" "user version from MySQL"
is "$(rc HEXISTS "orderflow:user:$uid" avatar_url)" "0" "null avatar_url is absent"
is "$(rc HGET "orderflow:order:$o1" order_status)" "paid" "order 1 status"
is "$(rc HGET "orderflow:order:$o2" total_amount)" "99999999.99" "order 2 amount exact"
is "$(rc ZCARD "orderflow:user:$uid:orders")" "2" "the user's order list is back"

# a newer version in Redis (a worker got there first) is not lowered
rc HSET "orderflow:order:$o1" version 7 order_status refunded >/dev/null
ctl rebuild-read-model --user "$uid" >/dev/null 2>&1
is "$(rc HGET "orderflow:order:$o1" version)" "7" "rebuild never lowers a version"

# --all covers every row: compare the counts it reports with MySQL's
users=$(sql "SELECT COUNT(*) FROM users")
orders=$(sql "SELECT COUNT(*) FROM orders")
out=$(ctl rebuild-read-model --all 2>/dev/null)
like "$out" "rebuilt $users users and $orders orders" "--all rewrites every user and order"

if ctl rebuild-read-model >/dev/null 2>&1; then
    fail "no --user or --all is a usage error"
else
    pass "no --user or --all is a usage error"
fi
done_testing
