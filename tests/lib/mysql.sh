#!/usr/bin/env bash
# tests/lib/mysql.sh fetch | start DIR | stop DIR
#
# A private Oracle MySQL server for the "mysql" tests, which run the SQL of
# orderflow against MySQL as well as MariaDB (README: "MySQL and MariaDB").
# Debian 12 packages only MariaDB; Debian's own MySQL packages (source
# mysql-9.7, in sid) need a newer C library than Debian 12's, so:
#
# fetch: makes sure a Debian sid root holding mysql-server-core is in
#   ${ORDERFLOW_MYSQL_ROOT:-$HOME/.cache/orderflow/mysql-sid}, made by
#   debootstrap from deb.debian.org (needs root, about 45 s and 560 MB, once
#   per machine; later runs reuse it and need no network), and prints that
#   directory. Built in a temporary directory renamed into place when
#   complete (a stamp inside names the server's version), under a lock, as
#   deploy/kafka/fetch.sh does for Kafka's jars.
# start DIR: picks a free port, initialises DIR/data and starts that root's
#   mysqld, run through the root's own dynamic loader and libraries (no
#   chroot, so DIR can be anywhere), on 127.0.0.1 only, with --no-defaults;
#   waits for SELECT 1, creates database orderflow and user
#   orderflow/orderflow (as deploy/local/lib/nodes.sh does for MariaDB);
#   starts a Redis of its own in DIR/redis (the read model of ids that
#   restart at 1 in this database must not meet the stack's MariaDB ones
#   in the stack's Redis: a write never lowers a stored version), and
#   writes DIR/mysql.env: the ORDERFLOW_TEST_MYSQL_* and _REDIS_* lines that
#   tests/lib/with-mysql.sh lays over the stack's.
# stop DIR: stops exactly the mysqld and redis-server recorded in DIR's pid
#   files; deletes DIR unless a test failed (DIR/failed) or
#   ORDERFLOW_TEST_NOCLEAN is set.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../deploy/local/lib/nodes.sh
source "$here/../../deploy/local/lib/nodes.sh"
OF_NODES_TAG=mysql

root=${ORDERFLOW_MYSQL_ROOT:-$HOME/.cache/orderflow/mysql-sid}
mirror=${ORDERFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
stamp_name=.orderflow-mysql-root
marker_name=.orderflow-test-mysql

die() {
    printf 'mysql.sh: %s\n' "$*" >&2
    exit 1
}

# mysqld_in ROOT ARGS...: ROOT's mysqld with ROOT's loader and libraries.
mysqld_in() {
    local r=$1
    shift
    "$r/usr/lib64/ld-linux-x86-64.so.2" --library-path "$r/usr/lib/x86_64-linux-gnu" \
        "$r/usr/sbin/mysqld" "$@"
}

# --- fetch -----------------------------------------------------------------

is_complete() {
    [[ -f $root/$stamp_name ]]
}

# unmount_under DIR: debootstrap mounts /proc and /sys inside its target
# while it works; an interrupted run can leave them mounted, and they must
# go before the directory can be removed.
unmount_under() {
    local m
    for m in $(awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts |
        sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}

fetch() {
    local parent tmp log start version
    if is_complete; then
        printf '%s\n' "$root"
        return 0
    fi
    ((EUID == 0)) ||
        die "no MySQL root in \"$root\", and making one (debootstrap) needs root: run \"sudo $0 fetch\" once, or set ORDERFLOW_MYSQL_ROOT"
    command -v debootstrap >/dev/null ||
        die "cannot make the MySQL root: debootstrap not found (deploy/local/install-deps.sh installs it)"
    parent=$(dirname "$root")
    mkdir -p "$parent"
    exec {lock_fd}>"$parent/.mysql-fetch.lock"
    flock -w 600 "$lock_fd" || die "could not lock \"$parent/.mysql-fetch.lock\" within 600 s"
    if is_complete; then
        printf '%s\n' "$root"
        return 0
    fi
    for tmp in "$root".tmp.*; do
        [[ -d $tmp ]] || continue
        unmount_under "$tmp"
        rm -rf --one-file-system "$tmp"
    done
    tmp=$(mktemp -d "$root.tmp.XXXXXX")
    log=$parent/mysql-fetch.log
    trap 'unmount_under "$tmp"; rm -rf --one-file-system "$tmp"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    printf 'mysql.sh: making a Debian sid root with mysql-server-core in "%s" (debootstrap, log %s)\n' \
        "$root" "$log" >&2
    start=$SECONDS
    if ! debootstrap --variant=minbase --include=mysql-server-core sid "$tmp" \
        "$mirror" >"$log" 2>&1; then
        of_log_tail "$log"
        die "debootstrap failed (log above: $log)"
    fi
    version=$(mysqld_in "$tmp" --version 2>&1) || {
        printf '%s\n' "$version" >&2
        die "the new root's mysqld does not run (output above)"
    }
    version=${version##*/mysqld }
    version=${version#"${version%%[! ]*}"}
    # Only the server is needed: its documentation and man pages are not.
    rm -rf "$tmp/usr/share/doc" "$tmp/usr/share/man" "$tmp/var/cache/apt/archives"/*.deb
    printf '%s\n' "$version" >"$tmp/$stamp_name"
    rm -rf --one-file-system "$root"
    mv "$tmp" "$root"
    trap - EXIT INT TERM
    printf 'mysql.sh: %s in %d s\n' "$version" $((SECONDS - start)) >&2
    printf '%s\n' "$root"
}

# --- start -----------------------------------------------------------------

start() {
    local port rport sock log pid user_opt=() version
    is_complete || fetch >/dev/null
    if [[ -e $dir/$marker_name ]]; then
        printf 'mysql.sh: cleaning up "%s" from an earlier run\n' "$dir" >&2
        stop_node || die "could not stop the earlier mysqld in \"$dir\""
        rm -rf "$dir"
    elif [[ -d $dir && -n $(ls -A "$dir") ]]; then
        die "refusing to use \"$dir\": not empty and not a test MySQL directory (no $marker_name)"
    fi
    mkdir -p "$dir"
    touch "$dir/$marker_name"
    trap 'stop_node || true; rm -f "$dir/mysql.env"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    port=$(of_free_port)
    rport=$(of_free_port)
    OF_NODES_TAG=redis of_redis_start "$dir/redis" "$rport"
    sock=$(of_mariadb_socket "$dir" "$port")
    log=$dir/mysql.log
    # mysqld refuses to run as root unless told to.
    if ((EUID == 0)); then
        user_opt=(--user=root)
    fi
    local opts=(--no-defaults --datadir="$dir/data" --basedir="$root/usr"
        --lc-messages-dir="$root/usr/share/mysql"
        --character-sets-dir="$root/usr/share/mysql/charsets"
        --plugin-dir="$root/usr/lib/mysql/plugin" --tmpdir="$dir"
        "${user_opt[@]}")
    if ! mysqld_in "$root" "${opts[@]}" --initialize-insecure >"$dir/install.log" 2>&1; then
        of_log_tail "$dir/install.log"
        die "could not initialise \"$dir/data\""
    fi
    # The same durability as the MariaDB node (innodb_flush_log_at_trx_commit
    # 1); no binary log (MySQL 8 writes one by default), no X protocol, no
    # performance schema, no file import/export.
    pid=$(of_spawn "$dir/mysql.pid" "$dir/mysql.out" \
        "$root/usr/lib64/ld-linux-x86-64.so.2" \
        --library-path "$root/usr/lib/x86_64-linux-gnu" \
        "$root/usr/sbin/mysqld" "${opts[@]}" --port="$port" \
        --bind-address=127.0.0.1 --socket="$sock" --mysqlx=OFF \
        --pid-file="$dir/mysqld.pid" --log-error="$log" --skip-name-resolve \
        --disable-log-bin --performance-schema=OFF --secure-file-priv=NULL \
        --innodb-flush-log-at-trx-commit=1 --innodb-buffer-pool-size=128M)
    of__say "mysqld pid $pid on 127.0.0.1:$port, log $log"
    # root@localhost, over the socket: --skip-name-resolve keeps 127.0.0.1
    # from matching "localhost".
    of_wait_until 60 "$pid" "MySQL to answer SELECT 1 on $sock" \
        "$log" mariadb --no-defaults -S "$sock" -uroot --connect-timeout=2 \
        -e 'SELECT 1'

    mariadb --no-defaults -S "$sock" -uroot -e "$(of_app_user_sql)" ||
        die "could not create database and user in MySQL; see $log"
    # Over TCP as the application connects: caching_sha2_password, MySQL's
    # default, through Debian 12's MariaDB Connector/C.
    version=$(MYSQL_PWD=$OF_MARIADB_PASSWORD mariadb --no-defaults --protocol=tcp \
        -h127.0.0.1 -P"$port" -u"$OF_MARIADB_USER" -N -B "$OF_MARIADB_DATABASE" \
        -e 'SELECT VERSION()') ||
        die "user $OF_MARIADB_USER cannot connect over TCP; see $log"
    case $version in
    *MariaDB*) die "127.0.0.1:$port answers as MariaDB ($version), not MySQL" ;;
    esac
    printf 'export %s=%q\n' \
        ORDERFLOW_TEST_MYSQL_HOST 127.0.0.1 \
        ORDERFLOW_TEST_MYSQL_PORT "$port" \
        ORDERFLOW_TEST_MYSQL_USER "$OF_MARIADB_USER" \
        ORDERFLOW_TEST_MYSQL_PASSWORD "$OF_MARIADB_PASSWORD" \
        ORDERFLOW_TEST_MYSQL_DATABASE "$OF_MARIADB_DATABASE" \
        ORDERFLOW_TEST_MYSQL_ROOT_SOCKET "$sock" \
        ORDERFLOW_TEST_MYSQL_VERSION "$version" \
        ORDERFLOW_TEST_REDIS_HOST 127.0.0.1 \
        ORDERFLOW_TEST_REDIS_PORT "$rport" >"$dir/mysql.env.tmp"
    mv "$dir/mysql.env.tmp" "$dir/mysql.env"
    trap - EXIT INT TERM
    printf 'mysql.sh: MySQL %s on 127.0.0.1:%s (socket %s), its Redis on 127.0.0.1:%s; env in %s\n' \
        "$version" "$port" "$sock" "$rport" "$dir/mysql.env"
}

# --- stop ------------------------------------------------------------------

stop_node() {
    local rc=0
    OF_NODES_TAG=mysql of_stop_pidfile "$dir/mysql.pid" 60 "--datadir=$dir/data " || rc=1
    OF_NODES_TAG=redis of_stop_pidfile "$dir/redis/redis.pid" 30 || rc=1
    return "$rc"
}

stop() {
    if [[ ! -e $dir/$marker_name ]]; then
        printf 'mysql.sh: no test MySQL in "%s"; nothing to stop\n' "$dir"
        return 0
    fi
    stop_node || die "could not stop mysqld in \"$dir\""
    rm -f "$dir/mysql.env"
    if [[ -e $dir/failed || -n ${ORDERFLOW_TEST_NOCLEAN:-} ]]; then
        printf 'mysql.sh: stopped; keeping "%s" (%s)\n' "$dir" \
            "$([[ -e $dir/failed ]] && echo 'a test failed' || echo ORDERFLOW_TEST_NOCLEAN)"
        return 0
    fi
    rm -rf "$dir"
    printf 'mysql.sh: stopped; removed "%s"\n' "$dir"
}

case ${1:-} in
fetch) (($# == 1)) || die "usage: $0 fetch | start DIR | stop DIR"; fetch ;;
start | stop)
    (($# == 2)) || die "usage: $0 fetch | start DIR | stop DIR"
    mkdir -p "$(dirname "$2")"
    dir=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
    "$1"
    ;;
*) die "usage: $0 fetch | start DIR | stop DIR" ;;
esac
