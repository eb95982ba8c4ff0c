#!/usr/bin/env bash
# tests/integration/test_stack_alive.sh: the private stack answers real
# requests on its own ports (not the system's 3306/6379): MariaDB as user
# orderflow, a Redis SET/GET round trip, and a Kafka topic created and listed.
# Run through tests/lib/with-stack.sh, which exports ORDERFLOW_TEST_*.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../deploy/local/lib/nodes.sh
source "$here/../../deploy/local/lib/nodes.sh"

failures=0
ok() { printf 'ok - %s\n' "$1"; }
not_ok() {
    printf 'not ok - %s\n' "$1"
    failures=$((failures + 1))
}
# is GOT WANT WHAT
is() {
    if [[ $1 == "$2" ]]; then
        ok "$3"
    else
        not_ok "$3"
        printf '#   got:      "%s"\n#   expected: "%s"\n' "$1" "$2"
    fi
}

: "${ORDERFLOW_TEST_MYSQL_PORT:?not set: run through tests/lib/with-stack.sh}"
mysql_port=$ORDERFLOW_TEST_MYSQL_PORT
redis_port=$ORDERFLOW_TEST_REDIS_PORT
bootstrap=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP
# Names unique to this run, so tests never depend on order or leftovers.
suffix=$$-$RANDOM

# --- MariaDB ---------------------------------------------------------------
if [[ $mysql_port != 3306 ]]; then
    ok "MariaDB runs on a private port ($mysql_port), not 3306"
else
    not_ok "MariaDB runs on a private port, not 3306"
fi
got=$(MYSQL_PWD=$ORDERFLOW_TEST_MYSQL_PASSWORD mariadb --no-defaults \
    --protocol=tcp -h "$ORDERFLOW_TEST_MYSQL_HOST" -P "$mysql_port" \
    -u "$ORDERFLOW_TEST_MYSQL_USER" -N -B "$ORDERFLOW_TEST_MYSQL_DATABASE" \
    -e 'SELECT 1, DATABASE(), CURRENT_USER()' 2>&1 || true)
is "$got" $'1\torderflow\torderflow@127.0.0.1' \
    "MariaDB answers SELECT 1 as orderflow over TCP on 127.0.0.1:$mysql_port"
got=$(mariadb --no-defaults -S "$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N -B \
    -e 'SELECT @@port' 2>&1 || true)
is "$got" "$mysql_port" "root reaches the same server through $ORDERFLOW_TEST_MYSQL_ROOT_SOCKET"
got=$(mariadb --no-defaults -S "$ORDERFLOW_TEST_MYSQL_ROOT_SOCKET" -uroot -N -B \
    -e 'SELECT @@innodb_flush_log_at_trx_commit' 2>&1 || true)
is "$got" 1 "MariaDB keeps innodb_flush_log_at_trx_commit=1"

# --- Redis -----------------------------------------------------------------
if [[ $redis_port != 6379 ]]; then
    ok "Redis runs on a private port ($redis_port), not 6379"
else
    not_ok "Redis runs on a private port, not 6379"
fi
key=orderflow:test:alive:$suffix
rcli() { redis-cli -h "$ORDERFLOW_TEST_REDIS_HOST" -p "$redis_port" "$@" 2>&1; }
got=$(rcli SET "$key" "value-$suffix" EX 60 || true)
is "$got" OK "Redis SET $key on 127.0.0.1:$redis_port"
got=$(rcli GET "$key" || true)
is "$got" "value-$suffix" "Redis GET $key returns what was SET"
rcli DEL "$key" >/dev/null || true

# --- Kafka -----------------------------------------------------------------
topic=orderflow.test.alive.$suffix
libs=$ORDERFLOW_TEST_KAFKA_LIBS
# The admin client waits 60 s by default before it gives up on a broker
# that does not answer; fail sooner.
admin_conf=$(mktemp)
trap 'rm -f "$admin_conf"' EXIT
printf 'request.timeout.ms=10000\ndefault.api.timeout.ms=20000\n' >"$admin_conf"
if out=$(of_kafka_java "$libs" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$bootstrap" --command-config "$admin_conf" \
    --create --topic "$topic" \
    --partitions 2 --replication-factor 1 2>&1); then
    ok "Kafka TopicCommand creates topic $topic on $bootstrap"
else
    not_ok "Kafka TopicCommand creates topic $topic on $bootstrap"
    printf '#   %s\n' "${out//$'\n'/$'\n'#   }"
fi
out=$(of_kafka_java "$libs" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$bootstrap" --command-config "$admin_conf" \
    --list 2>&1 || true)
if grep -qxF "$topic" <<<"$out"; then
    ok "Kafka lists topic $topic"
else
    not_ok "Kafka lists topic $topic"
    printf '#   --list said: %s\n' "${out//$'\n'/ }"
fi

if ((failures > 0)); then
    printf '%d check(s) failed\n' "$failures"
    exit 1
fi
printf 'all checks passed\n'
