#!/usr/bin/env bash
# tests/lib/with-mysql.sh PROGRAM [ARGS...]
#
# Runs PROGRAM, an integration test, against the MySQL server of the "mysql"
# fixture (tests/lib/mysql.sh start $ORDERFLOW_TEST_MYSQL_DIR) instead of
# the stack's MariaDB: the ORDERFLOW_TEST_MYSQL_* and _REDIS_* settings of
# $ORDERFLOW_TEST_MYSQL_DIR/mysql.env (MySQL and a Redis of its own) replace
# the stack's. Run inside tests/lib/with-stack.sh, which supplies Kafka (and
# reports the test's end to the stack). A failure prints the end of MySQL's log and marks
# the directory, so that mysql.sh stop keeps it.
set -euo pipefail

die() {
    printf 'with-mysql.sh: %s\n' "$*" >&2
    exit 1
}

(($# >= 1)) || die "usage: with-mysql.sh PROGRAM [ARGS...]"
dir=${ORDERFLOW_TEST_MYSQL_DIR:-}
[[ -n $dir ]] || die "ORDERFLOW_TEST_MYSQL_DIR is not set"
[[ -f $dir/mysql.env ]] ||
    die "MySQL not running: \"$dir/mysql.env\" does not exist (did the mysql.start fixture fail?)"
source "$dir/mysql.env"
for pidfile in "$dir/mysql.pid" "$dir/redis/redis.pid"; do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ -z $pid || ! -d /proc/$pid ]]; then
        touch "$dir/failed"
        die "a node of the fixture is not running (pid file \"$pidfile\"); see the logs in $dir"
    fi
done

name=$(basename "$1")
printf 'with-mysql.sh: %s against MySQL %s on 127.0.0.1:%s, Redis on 127.0.0.1:%s\n' \
    "$name" "$ORDERFLOW_TEST_MYSQL_VERSION" "$ORDERFLOW_TEST_MYSQL_PORT" \
    "$ORDERFLOW_TEST_REDIS_PORT"
rc=0
"$@" || rc=$?
if ((rc != 0 && rc != 77)); then
    printf '%s: exit status %d\n' "$name" "$rc" >>"$dir/failed"
    printf -- '----- last 30 lines of %s -----\n' "$dir/mysql.log" >&2
    tail -n 30 "$dir/mysql.log" >&2 || true
fi
exit "$rc"
