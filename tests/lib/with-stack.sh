#!/usr/bin/env bash
# tests/lib/with-stack.sh PROGRAM [ARGS...]
#
# Runs one integration test against the stack that tests/lib/stack.sh
# started in $ORDERFLOW_TEST_STACK_DIR: loads its stack.env into the
# environment, runs PROGRAM, and exits with PROGRAM's status. On failure it
# creates DIR/failed (so stack.sh stop keeps the directory) and prints the
# tails of the node logs, which are otherwise never seen.
#
# While the test runs, DIR/running/<name>.<pid> exists: if ctest kills us on
# a timeout before we can record a failure, stack.sh stop still sees it.
set -euo pipefail

die() {
    printf 'with-stack.sh: %s\n' "$*" >&2
    exit 1
}

(($# >= 1)) || die "usage: with-stack.sh PROGRAM [ARGS...]"
dir=${ORDERFLOW_TEST_STACK_DIR:-}
[[ -n $dir ]] || die "stack not running: ORDERFLOW_TEST_STACK_DIR is not set"
[[ -f $dir/stack.env ]] ||
    die "stack not running: \"$dir/stack.env\" does not exist (did the stack.start fixture fail?)"
# shellcheck source=/dev/null
source "$dir/stack.env"

name=$(basename "$1")
logs=("$dir/kafka/kafka.log" "$dir/kafka/kafka.out" "$dir/mariadb/mariadb.log"
    "$dir/redis/redis.log")

print_node_logs() {
    local log
    for log in "${logs[@]}"; do
        if [[ -s $log ]]; then
            printf -- '----- last 30 lines of %s -----\n' "$log" >&2
            tail -n 30 "$log" >&2
        fi
    done
}

# A node that died earlier would make the test fail in some confusing way;
# say so plainly instead.
for node in kafka mariadb redis; do
    pid=$(cat "$dir/$node/$node.pid" 2>/dev/null || true)
    if [[ -z $pid || ! -d /proc/$pid ]]; then
        touch "$dir/failed"
        print_node_logs
        die "stack node $node is not running (pid file \"$dir/$node/$node.pid\"); see its log above"
    fi
done

mkdir -p "$dir/running"
running=$dir/running/$name.$$
printf '%s\n' "$*" >"$running"

child=
# ctest or a user stopping us: stop the test too and count it as failed.
# shellcheck disable=SC2317 # called by the trap below
on_signal() {
    if [[ -n $child ]]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    printf '%s: interrupted\n' "$name" >>"$dir/failed"
    rm -f "$running"
    exit 143
}
trap on_signal INT TERM

rc=0
# In the background so that our trap runs at once; a background job of a
# script starts with SIGINT and SIGQUIT ignored, which the test must not
# inherit (nor pass on to the programs it starts), hence the trap reset.
(
    trap - INT QUIT
    exec "$@"
) &
child=$!
wait "$child" || rc=$?
# wait returns early when a trapped signal arrives; on_signal then exits.
child=

# 77: the test could not make its fault here and says so; ctest reports it
# as skipped (SKIP_RETURN_CODE), which is neither a pass nor a failure.
if ((rc == 77)); then
    printf 'with-stack.sh: %s skipped itself (exit status 77)\n' "$name" >&2
elif ((rc != 0)); then
    printf '%s: exit status %d\n' "$name" "$rc" >>"$dir/failed"
    printf 'with-stack.sh: %s failed (exit status %d); node logs follow\n' \
        "$name" "$rc" >&2
    print_node_logs
fi
rm -f "$running"
exit "$rc"
