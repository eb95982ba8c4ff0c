#!/usr/bin/env bash
# tests/lib/stack.sh start DIR | stop DIR
#
# The ctest fixture (tests/CMakeLists.txt: stack.start / stack.stop) that
# brings up one private MariaDB, Redis and Kafka for a whole test run, with
# the node functions of deploy/local/lib/nodes.sh.
#
# start: fetches Kafka's jars if needed, picks free ports, starts the three
#   nodes in parallel (Kafka first: its JVM is the slow one), waits until each
#   answers a real request, and writes DIR/stack.env (export KEY=value lines,
#   read by tests/lib/with-stack.sh). A stack left running in DIR by an
#   earlier crashed run is stopped first, and DIR starts empty. On any
#   failure or signal it stops whatever it started and exits non-zero.
# stop: stops exactly the processes recorded in DIR's pid files (Kafka,
#   Redis, MariaDB: the reverse of their dependencies), keeps the logs, and
#   deletes DIR only when no test failed and ORDERFLOW_TEST_NOCLEAN is unset.
#
# DIR layout: kafka/ mariadb/ redis/ (each with its config, data, log and
# pid file), stack.env, failed (a test failed), running/ (tests in flight,
# see with-stack.sh) and .orderflow-test-stack, the marker without which
# this script refuses to delete anything.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../deploy/local/lib/nodes.sh
source "$here/../../deploy/local/lib/nodes.sh"

marker_name=.orderflow-test-stack
nodes=(kafka redis mariadb) # stop order

die() {
    printf 'stack.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s start DIR | stop DIR\n' "$0" >&2
    exit 2
}

# stop_nodes DIR: stop every node recorded in DIR, in stop order.
stop_nodes() {
    local dir=$1 node rc=0
    for node in "${nodes[@]}"; do
        OF_NODES_TAG=$node of_stop_pidfile "$dir/$node/$node.pid" 60 || rc=1
    done
    return "$rc"
}

# A directory we may wipe: ours (has the marker) or empty.
check_ours() {
    local dir=$1
    if [[ -d $dir && ! -e $dir/$marker_name ]] &&
        [[ -n $(ls -A "$dir") ]]; then
        die "refusing to use \"$dir\": not empty and not a test stack directory (no $marker_name)"
    fi
}

# --- start -----------------------------------------------------------------

# group_alive PGID: print the live (non-zombie) pids in process group PGID;
# false if there are none.
group_alive() {
    local pid live=()
    for pid in $(pgrep -g "$1" 2>/dev/null); do
        if of_pid_alive "$pid"; then
            live+=("$pid")
        fi
    done
    ((${#live[@]} > 0)) || return 1
    printf '%s\n' "${live[*]}"
}

jobs_started=()
started_ok=0

# On any exit before the stack is up, or on a signal, undo everything: stop
# the start-up jobs (so none spawns a node after we looked), then the nodes
# by their pid files.
on_start_exit() {
    local rc=$?
    ((started_ok)) && return 0
    trap '' INT TERM
    local job
    # Each job is its own process group (set -m in start), so this also
    # reaches what it runs in the foreground: mariadb-install-db with its
    # bootstrap mariadbd, the StorageTool JVM, and the node itself.
    for job in "${jobs_started[@]}"; do
        kill -TERM -- "-$job" 2>/dev/null || true
    done
    for job in "${jobs_started[@]}"; do
        wait "$job" 2>/dev/null || true
    done
    printf 'stack.sh: start did not complete; stopping what was started in "%s" (logs kept)\n' \
        "$stack_dir" >&2
    stop_nodes "$stack_dir" || true
    # What the jobs ran besides the nodes (a bootstrap mariadbd, a tool's
    # JVM) got SIGTERM above; give it a moment to exit, then SIGKILL.
    local deadline=$((SECONDS + 15)) left
    for job in "${jobs_started[@]}"; do
        while left=$(group_alive "$job") && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if [[ -n ${left:-} ]]; then
            printf 'stack.sh: killing what is left of start-up job %s: pids %s\n' \
                "$job" "$left" >&2
            kill -KILL -- "-$job" 2>/dev/null || true
        fi
    done
    rm -f "$stack_dir/stack.env"
    exit $((rc == 0 ? 1 : rc))
}

start() {
    local t0=$EPOCHREALTIME t_fetch libs kport cport mport rport
    local rc=0 sock
    check_ours "$stack_dir"
    trap on_start_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ -e $stack_dir/$marker_name ]]; then
        printf 'stack.sh: cleaning up "%s" from an earlier run\n' "$stack_dir" >&2
        stop_nodes "$stack_dir" || die "could not stop the earlier stack in \"$stack_dir\""
        rm -rf "$stack_dir"
    fi
    mkdir -p "$stack_dir"
    touch "$stack_dir/$marker_name"

    libs=$(of_kafka_libs)
    t_fetch=$EPOCHREALTIME

    kport=$(of_free_port)
    cport=$(of_free_port)
    mport=$(of_free_port)
    rport=$(of_free_port)

    # Kafka first: its JVM takes the longest. Each job prints its own
    # progress and failure (with the log tail) on stderr. Job control puts
    # each job in a process group of its own, for on_start_exit to kill
    # whole; it also keeps a terminal's ^C away from the nodes, which are
    # stopped through their pid files only.
    set -m
    (OF_NODES_TAG=kafka of_kafka_start "$stack_dir/kafka" "$kport" "$cport") &
    jobs_started+=("$!")
    (OF_NODES_TAG=mariadb of_mariadb_start "$stack_dir/mariadb" "$mport") &
    jobs_started+=("$!")
    (OF_NODES_TAG=redis of_redis_start "$stack_dir/redis" "$rport") &
    jobs_started+=("$!")

    # Whichever job fails first ends the start (the trap stops the others)
    # rather than waiting up to 90 s for a Kafka that is no longer needed.
    local i
    for i in 1 2 3; do
        wait -n || rc=$?
        ((rc == 0)) || die "could not start the stack in \"$stack_dir\" (see above)"
    done
    set +m

    sock=$(of_mariadb_socket "$stack_dir/mariadb" "$mport")
    # Written to a temporary file and renamed, so a reader never sees half;
    # values are shell-quoted (%q), so a path with spaces survives.
    printf 'export %s=%q\n' \
        ORDERFLOW_TEST_STACK_DIR "$stack_dir" \
        ORDERFLOW_TEST_MYSQL_HOST 127.0.0.1 \
        ORDERFLOW_TEST_MYSQL_PORT "$mport" \
        ORDERFLOW_TEST_MYSQL_USER "$OF_MARIADB_USER" \
        ORDERFLOW_TEST_MYSQL_PASSWORD "$OF_MARIADB_PASSWORD" \
        ORDERFLOW_TEST_MYSQL_DATABASE "$OF_MARIADB_DATABASE" \
        ORDERFLOW_TEST_MYSQL_ROOT_SOCKET "$sock" \
        ORDERFLOW_TEST_REDIS_HOST 127.0.0.1 \
        ORDERFLOW_TEST_REDIS_PORT "$rport" \
        ORDERFLOW_TEST_KAFKA_BOOTSTRAP "127.0.0.1:$kport" \
        ORDERFLOW_TEST_KAFKA_LIBS "$libs" >"$stack_dir/stack.env.tmp"
    mv "$stack_dir/stack.env.tmp" "$stack_dir/stack.env"
    started_ok=1
    trap - EXIT INT TERM

    printf 'stack.sh: MariaDB 127.0.0.1:%s, Redis 127.0.0.1:%s, Kafka 127.0.0.1:%s; env in %s\n' \
        "$mport" "$rport" "$kport" "$stack_dir/stack.env"
    # Preparation (clean-up of an earlier run, the jar check or a one-off
    # fetch) is timed apart from the nodes themselves.
    LC_ALL=C awk -v a="$t0" -v b="$t_fetch" -v c="$EPOCHREALTIME" \
        'BEGIN { printf "stack up in %.1f s (preparation and jars %.1f s, nodes %.1f s)\n", c - a, b - a, c - b }'
}

# --- stop ------------------------------------------------------------------

stop() {
    local failed=0 running
    if [[ ! -d $stack_dir ]]; then
        printf 'stack.sh: no stack in "%s"; nothing to stop\n' "$stack_dir"
        return 0
    fi
    check_ours "$stack_dir"
    stop_nodes "$stack_dir" || die "could not stop every node in \"$stack_dir\""
    rm -f "$stack_dir/stack.env"

    # A marker still in running/ is a test that was killed (e.g. by ctest's
    # timeout) before it could report: that counts as a failure.
    running=$(ls -A "$stack_dir/running" 2>/dev/null || true)
    if [[ -e $stack_dir/failed || -n $running ]]; then
        failed=1
    fi
    if ((failed)) || [[ -n ${ORDERFLOW_TEST_NOCLEAN:-} ]]; then
        printf 'stack.sh: stack stopped; keeping "%s" (%s)\n' "$stack_dir" \
            "$( ((failed)) && echo 'a test failed' || echo ORDERFLOW_TEST_NOCLEAN)"
        return 0
    fi
    [[ -e $stack_dir/$marker_name ]] || die "refusing to delete \"$stack_dir\": no $marker_name"
    rm -rf "$stack_dir"
    printf 'stack.sh: stack stopped; removed "%s"\n' "$stack_dir"
}

(($# == 2)) || usage
mkdir -p "$(dirname "$2")"
stack_dir=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
case $1 in
start) start ;;
stop) stop ;;
*) usage ;;
esac
