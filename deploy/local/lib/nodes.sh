# shellcheck shell=bash
# deploy/local/lib/nodes.sh: private MariaDB, Redis and Kafka nodes.
#
# Sourced (never run) by tests/lib/stack.sh, the ctest fixture, and by
# deploy/local/stack.sh. It works as postgres' PostgreSQL/Test/Cluster.pm and
# hiredis' test.sh do: each node gets a free loopback port, its own directory
# with its own config, data, log and pid file, and counts as started only
# when a real request answers (SELECT 1, PING, a Kafka Metadata request).
#
# What it promises:
#   - it never touches the system's MariaDB (3306) or Redis (6379): every
#     node binds 127.0.0.1 on the port it is given, with --no-defaults;
#   - every wait is bounded, names what it waited for, and prints the last
#     lines of the node's log when it gives up;
#   - a node's pid is in DIR/<node>.pid (mariadb, redis, kafka) from the
#     moment the process exists, so a caller's trap can always stop it;
#   - of_stop_pidfile kills only the recorded pid, and only while that pid is
#     still the program it should be (a recycled pid is left alone);
#   - a start on a DIR that already holds data reuses it (no re-init), so
#     deploy/local/stack.sh keeps its data across restarts; the test harness
#     starts from an empty DIR.
# It does not install packages (deploy/local/stack.sh does) and does not
# create topics or schemas (orderflowctl does).
#
# Functions print progress on stderr and return non-zero on failure; they do
# not exit, so a caller under `set -e` fails and its trap cleans up.

if [[ -n ${OF_NODES_SH_LOADED:-} ]]; then
    return 0
fi
OF_NODES_SH_LOADED=1

OF_NODES_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

# ---------------------------------------------------------------------------
# Fast, unsafe settings for throwaway nodes, all in this one place (as
# Cluster.pm keeps "fsync = off"). OF_NODES_FAST=0 drops them, e.g. for a
# long-lived demo stack. Durability settings are deliberately NOT here:
# innodb_flush_log_at_trx_commit=1 and the doublewrite buffer stay on, since
# tests kill nodes and expect committed rows to survive.
# ---------------------------------------------------------------------------
OF_MARIADB_FAST_OPTS=(
    --innodb-buffer-pool-size=128M # default is fine too; smaller = less RSS
    --innodb-log-file-size=48M     # smaller redo log: quicker install-db
    --performance-schema=OFF       # no instrumentation overhead
    --skip-log-bin                 # no binlog: no replication in tests
)
# OF_MARIADB_EXTRA_OPTS: more mariadbd options, space-separated, after all
# of the above (tests/bench/run.sh sizes the buffer pool and redo log).
OF_REDIS_FAST_OPTS=(
    --save ''          # no RDB snapshots
    --appendonly no    # no AOF: the read model can be rebuilt from MySQL
)
# Kafka properties appended to server.properties.
OF_KAFKA_FAST_PROPS='
# internal topics with few partitions: created faster on a 2-core machine
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6
# the log cleaner grabs 128 MiB of heap by default; the heap is 512 MiB
log.cleaner.dedupe.buffer.size=16777216
'
# JVM flags that start a small JVM fast. C1 only (TieredStopAtLevel=1) cuts
# JIT work during the start-up burst, at some cost in peak throughput, which
# is why benchmarks should run with OF_NODES_FAST=0.
OF_KAFKA_FAST_JVM_OPTS='-XX:TieredStopAtLevel=1'

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

# Messages go to stderr, prefixed with the node (callers set OF_NODES_TAG).
of__say() {
    printf '%s: %s\n' "${OF_NODES_TAG:-nodes}" "$*" >&2
}

# of_log_tail FILE [LINES]: the end of a log, for failure messages.
of_log_tail() {
    local file=$1 lines=${2:-30}
    if [[ -s $file ]]; then
        printf -- '----- last %d lines of %s -----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '----- end of %s -----\n' "$file" >&2
    else
        printf -- '----- %s is empty or missing -----\n' "$file" >&2
    fi
}

# of_pid_alive PID: true while PID exists and is not a zombie (a child we
# have not reaped yet still answers kill -0).
of_pid_alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # The state follows the ")" that closes the command name.
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# of_pid_is PID PATTERN: true if PID's command line contains PATTERN.
of_pid_is() {
    local pid=$1 pattern=$2 cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmdline == *"$pattern"* ]]
}

of__node_tails() {
    of_log_tail "$1"
    if [[ -s ${1%.log}.out ]]; then
        of_log_tail "${1%.log}.out"
    fi
}

# of_wait_until SECONDS PID WHAT LOG COMMAND...: run COMMAND every 0.2 s
# until it succeeds. Fails, naming WHAT and printing the tails of LOG and of
# the node's stdout/stderr (LOG with .out for .log), after SECONDS or as soon
# as PID (the node) has exited.
of_wait_until() {
    local timeout=$1 pid=$2 what=$3 log=$4
    shift 4
    local deadline=$((SECONDS + timeout))
    while ! "$@" >/dev/null 2>&1; do
        if ! of_pid_alive "$pid"; then
            of__say "node (pid $pid) exited while waiting for $what; see $log"
            of__node_tails "$log"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            of__say "timed out after $timeout s waiting for $what; see $log"
            of__node_tails "$log"
            return 1
        fi
        sleep 0.2
    done
}

# of_spawn PIDFILE OUTFILE COMMAND...: start COMMAND in the background with
# no terminal (stdin /dev/null, output to OUTFILE, so ctest does not wait on
# our pipes) and write its pid to PIDFILE before it execs. Prints the pid.
of_spawn() {
    local pidfile=$1 out=$2
    shift 2
    (
        printf '%s\n' "$BASHPID" >"$pidfile"
        exec "$@"
    ) </dev/null >>"$out" 2>&1 &
    printf '%s\n' "$!"
}

# ---------------------------------------------------------------------------
# of_free_port: print a free loopback TCP port.
#
# As Cluster.pm's get_free_port: a candidate must have no TCP socket bound to
# it in any state (read from /proc/net/tcp{,6}: no python or ss needed) and
# no live lock file in $OF_PORT_LOCK_DIR, which we then create, holding our
# pid, so a second harness starting at the same time skips it. The lock lives
# as long as the calling script (the node has bound the port by then); a lock
# whose pid has died is taken over. Ports come from 20000-29999, below
# Linux's ephemeral range (32768-60999), so outgoing connections never hold
# them, and far from 3306/6379.
# ---------------------------------------------------------------------------
OF_PORT_LOCK_DIR=${OF_PORT_LOCK_DIR:-/tmp/orderflow-ports}

of__port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    # Column 2 is local_address as HEXIP:HEXPORT; row 1 is the header.
    awk -v p="$hex" 'FNR > 1 { split($2, a, ":"); if (a[2] == p) f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

of_free_port() {
    local owner=${OF_PORT_OWNER_PID:-$$} lock_fd port lock holder tries
    mkdir -p "$OF_PORT_LOCK_DIR"
    # One picker at a time, machine-wide, so check-then-create is atomic.
    exec {lock_fd}>"$OF_PORT_LOCK_DIR/.mutex"
    if ! flock -w 30 "$lock_fd"; then
        exec {lock_fd}>&-
        of__say "could not lock \"$OF_PORT_LOCK_DIR/.mutex\" within 30 s"
        return 1
    fi
    # Drop the locks of callers that are gone, so the directory stays small.
    for lock in "$OF_PORT_LOCK_DIR"/*.lock; do
        [[ -f $lock ]] || continue
        holder=$(cat "$lock" 2>/dev/null || true)
        if ! of_pid_alive "$holder"; then
            rm -f "$lock"
        fi
    done
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 10000))
    for ((tries = 0; tries < 500; tries++)); do
        port=$((port >= 29999 ? 20000 : port + 1))
        lock=$OF_PORT_LOCK_DIR/$port.lock
        if [[ -f $lock ]]; then
            continue # held by a live caller: stale ones were dropped above
        fi
        if of__port_in_use "$port"; then
            continue
        fi
        printf '%s\n' "$owner" >"$lock"
        exec {lock_fd}>&-
        printf '%s\n' "$port"
        return 0
    done
    exec {lock_fd}>&-
    of__say "could not find a free port in 20000-29999 after 500 tries"
    return 1
}

# ---------------------------------------------------------------------------
# of_stop_pidfile FILE [TIMEOUT] [PATTERN]
#
# SIGTERM to the pid in FILE, wait up to TIMEOUT seconds (default 60), then
# SIGKILL. Only if the pid is alive and its command line contains PATTERN: a
# pid recycled by an unrelated process is left alone. The default PATTERN
# ties a node's pid file to that very node, so that not even a recycled pid
# that landed on the system's mariadbd or redis-server could match:
#   DIR/mariadb.pid  mariadbd with --datadir=DIR/data
#   DIR/kafka.pid    kafka.Kafka DIR/server.properties
#   DIR/redis.pid    redis-server whose working directory is DIR (redis
#                    rewrites its command line, but not its cwd)
#   other NAME.pid   NAME, e.g. "api" matches orderflow-api
# Removes FILE. Returns non-zero only if the process would not die.
# ---------------------------------------------------------------------------
of_stop_pidfile() {
    local file=$1 timeout=${2:-60} pattern=${3:-} pid name dir deadline
    local cwd=''
    [[ -f $file ]] || return 0
    name=$(basename "$file" .pid)
    dir=$(cd "$(dirname "$file")" && pwd)
    if [[ -z $pattern ]]; then
        case $name in
        mariadb) pattern="--datadir=$dir/data " ;;
        kafka) pattern="kafka.Kafka $dir/server.properties" ;;
        redis) pattern=redis-server cwd=$dir ;;
        *) pattern=$name ;;
        esac
    fi
    # The node may remove its own pid file as it exits (redis, mariadbd).
    pid=$(cat "$file" 2>/dev/null) || return 0
    if ! of_pid_alive "$pid"; then
        rm -f "$file"
        return 0
    fi
    deadline=$((SECONDS + timeout))
    local ours=1
    if ! of_pid_is "$pid" "$pattern"; then
        ours=0
    elif [[ -n $cwd && $(readlink "/proc/$pid/cwd" 2>/dev/null) != "$cwd" ]]; then
        ours=0
    fi
    if ((ours)); then
        kill -TERM "$pid" 2>/dev/null || true
    elif [[ -n $(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline") ]]; then
        of__say "pid $pid from \"$file\" is not \"$pattern\"${cwd:+ in $cwd} any more; leaving it alone"
        rm -f "$file"
        return 0
    fi
    # (An empty command line: the process is already exiting, its memory
    # gone but not yet a zombie. Nothing to signal; wait for it below.)
    while of_pid_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if of_pid_alive "$pid"; then
        of__say "$name (pid $pid) still running $timeout s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while of_pid_alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if of_pid_alive "$pid"; then
            of__say "could not stop $name (pid $pid): still alive after SIGKILL"
            return 1
        fi
    fi
    rm -f "$file"
}

# ---------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------
OF_MARIADB_DATABASE=${OF_MARIADB_DATABASE:-orderflow}
OF_MARIADB_USER=${OF_MARIADB_USER:-orderflow}
OF_MARIADB_PASSWORD=${OF_MARIADB_PASSWORD:-orderflow}

# of_mariadb_socket DIR PORT: the node's Unix socket, for root without a
# password. A socket path must fit in sun_path (108 bytes), and a build tree
# can be deep, so long paths fall back to /tmp, named by port.
of_mariadb_socket() {
    local sock=$1/mysql.sock
    if ((${#sock} > 100)); then
        sock=/tmp/orderflow-mariadb-$2.sock
    fi
    printf '%s\n' "$sock"
}

# of_app_user_sql: the SQL that makes database $OF_MARIADB_DATABASE and user
# $OF_MARIADB_USER (from 127.0.0.1 over TCP and localhost over the socket)
# with all privileges on it and on its per-test databases (NAME_*). MariaDB
# and MySQL (tests/lib/mysql.sh) take it alike. Names cannot be bound
# parameters in DDL; they come from our own defaults or the caller's
# environment, never from users.
of_app_user_sql() {
    local host sql="CREATE DATABASE IF NOT EXISTS \`$OF_MARIADB_DATABASE\`;"
    for host in 127.0.0.1 localhost; do
        sql+="CREATE USER IF NOT EXISTS '$OF_MARIADB_USER'@'$host'
                IDENTIFIED BY '$OF_MARIADB_PASSWORD';
              GRANT ALL PRIVILEGES ON \`$OF_MARIADB_DATABASE\`.*
                TO '$OF_MARIADB_USER'@'$host';
              GRANT ALL PRIVILEGES ON \`${OF_MARIADB_DATABASE//_/\\_}\\_%\`.*
                TO '$OF_MARIADB_USER'@'$host';"
    done
    printf '%s\n' "$sql"
}

# of_mariadb_start DIR PORT: install (first time) and start mariadbd on
# 127.0.0.1:PORT, wait for SELECT 1, then create database orderflow and user
# orderflow/orderflow (from 127.0.0.1 over TCP and localhost over the socket)
# with all privileges on it and on orderflow_* (per-test databases).
of_mariadb_start() {
    local dir=$1 port=$2 sock log pid user_opt=() fast=() sql
    local OF_NODES_TAG=${OF_NODES_TAG:-mariadb}
    # Debian's mariadb-install-db word-splits the data directory (chown).
    if [[ $dir == *[[:space:]]* ]]; then
        of__say "cannot use \"$dir\" for MariaDB: mariadb-install-db does not support whitespace in paths"
        return 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    sock=$(of_mariadb_socket "$dir" "$port")
    log=$dir/mariadb.log
    if [[ ${OF_NODES_FAST:-1} == 1 ]]; then
        fast=("${OF_MARIADB_FAST_OPTS[@]}")
    fi
    # mariadbd refuses to run as root unless told to.
    if ((EUID == 0)); then
        user_opt=(--user=root)
    fi

    # The stamp is written only after install-db succeeded, so a half-made
    # data directory from an interrupted install is redone, not used.
    if [[ ! -f $dir/installed ]]; then
        of__say "initialising $dir/data"
        rm -rf "$dir/data"
        if ! mariadb-install-db --no-defaults --datadir="$dir/data" \
            --auth-root-authentication-method=normal --skip-test-db \
            --skip-name-resolve "${user_opt[@]}" "${fast[@]}" \
            >"$dir/install.log" 2>&1; then
            of__say "could not initialise MariaDB data directory \"$dir/data\""
            of_log_tail "$dir/install.log"
            return 1
        fi
        touch "$dir/installed"
    fi

    pid=$(of_spawn "$dir/mariadb.pid" "$dir/mariadb.out" \
        mariadbd --no-defaults --datadir="$dir/data" --socket="$sock" \
        --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$dir/mariadb.pid" --log-error="$log" \
        --skip-name-resolve --innodb-flush-log-at-trx-commit=1 \
        "${user_opt[@]}" "${fast[@]}" ${OF_MARIADB_EXTRA_OPTS:-})
    of__say "mariadbd pid $pid on 127.0.0.1:$port, log $log"

    of_wait_until 60 "$pid" "MariaDB to answer SELECT 1 on 127.0.0.1:$port" \
        "$log" mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$port" \
        -uroot --connect-timeout=2 -e 'SELECT 1' || return 1

    sql=$(of_app_user_sql)
    if ! mariadb --no-defaults -S "$sock" -uroot -e "$sql" 2>>"$log"; then
        of__say "could not create database and user in MariaDB; see $log"
        of_log_tail "$log"
        return 1
    fi
    if ! MYSQL_PWD=$OF_MARIADB_PASSWORD mariadb --no-defaults --protocol=tcp \
        -h127.0.0.1 -P"$port" -u"$OF_MARIADB_USER" "$OF_MARIADB_DATABASE" \
        -e 'SELECT 1' >/dev/null 2>>"$log"; then
        of__say "user $OF_MARIADB_USER cannot connect over TCP; see $log"
        of_log_tail "$log"
        return 1
    fi
    of__say "ready on 127.0.0.1:$port (socket $sock)"
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

# of_redis_start DIR PORT: redis-server on 127.0.0.1:PORT, working directory
# DIR, ready when PING answers PONG.
of_redis_start() {
    local dir=$1 port=$2 log pid fast=()
    local OF_NODES_TAG=${OF_NODES_TAG:-redis}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    log=$dir/redis.log
    if [[ ${OF_NODES_FAST:-1} == 1 ]]; then
        fast=("${OF_REDIS_FAST_OPTS[@]}")
    fi
    # No config file: every setting on the command line, so nothing from
    # /etc/redis applies. Not daemonized: of_spawn records the real pid.
    pid=$(of_spawn "$dir/redis.pid" "$dir/redis.out" \
        redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$log" --daemonize no \
        "${fast[@]}")
    of__say "redis-server pid $pid on 127.0.0.1:$port, log $log"
    of_wait_until 30 "$pid" "Redis to answer PING with PONG on 127.0.0.1:$port" \
        "$log" of__redis_pong "$port" || return 1
    of__say "ready on 127.0.0.1:$port"
}

of__redis_pong() {
    [[ $(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) == PONG ]]
}

# ---------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------

# of_kafka_libs: print the directory of Kafka's jars, fetching them with
# deploy/kafka/fetch.sh the first time (honours ORDERFLOW_KAFKA_LIBS).
of_kafka_libs() {
    local out
    out=$("$OF_NODES_SRC_DIR/deploy/kafka/fetch.sh") || return 1
    printf '%s\n' "${out##*$'\n'}"
}

# of_kafka_java LIBS MAINCLASS ARGS...: run one of Kafka's command-line tools
# (TopicCommand, StorageTool, ...) in a small, quick-starting JVM; tool logs
# below WARN are dropped.
of_kafka_java() {
    local libs=$1
    shift
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Djava.awt.headless=true -Dlog4j2.level=WARN \
        -cp "$libs/*" "$@"
}

# of_kafka_cluster_id: a random Kafka cluster id (base64url of 16 random
# bytes, no padding) without starting a JVM. Like Kafka's Uuid.randomUuid,
# never one that starts with "-", which command-line parsers take for a flag.
of_kafka_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        if [[ $id != -* ]]; then
            printf '%s\n' "$id"
            return 0
        fi
    done
}

# of_kafka_probe PORT: send a real Metadata request (v1, no topics) to
# 127.0.0.1:PORT and succeed only if the answer carries our correlation id,
# lists a broker on PORT and names a controller: the broker is registered
# and serving. Plain bash, so it costs no JVM start.
of_kafka_probe() {
    local port=$1
    (
        exec {fd}<>"/dev/tcp/127.0.0.1/$port" || exit 1
        # int32 size 22; int16 api_key 3 (Metadata); int16 version 1;
        # int32 correlation id 0x4f460001; string client id "of-probe";
        # array of topics, empty (v1: empty = none, null = all).
        local req='\x00\x00\x00\x16\x00\x03\x00\x01\x4f\x46\x00\x01'
        req+='\x00\x08of-probe\x00\x00\x00\x00'
        # shellcheck disable=SC2059 # the format is the request itself
        printf "$req" >&"$fd"
        local b size i n host_len rack_len bport found=0 controller
        # shellcheck disable=SC2207 # word splitting of od's numbers wanted
        b=($(timeout 5 head -c 4 <&"$fd" | od -An -v -tu1))
        ((${#b[@]} == 4)) || exit 1
        size=$(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]))
        ((size > 0 && size < 1048576)) || exit 1
        # shellcheck disable=SC2207
        b=($(timeout 5 head -c "$size" <&"$fd" | od -An -v -tu1))
        ((${#b[@]} == size)) || exit 1
        # Response v1: int32 correlation id; array brokers [int32 node_id,
        # string host, int32 port, nullable string rack]; int32 controller.
        u32() { echo $(((b[$1] << 24) | (b[$1 + 1] << 16) | (b[$1 + 2] << 8) | b[$1 + 3])); }
        (($(u32 0) == 0x4f460001)) || exit 1
        n=$(u32 4)
        i=8
        while ((n-- > 0 && i + 10 <= size)); do
            host_len=$(((b[i + 4] << 8) | b[i + 5]))
            i=$((i + 6 + host_len))
            bport=$(u32 "$i")
            rack_len=$(((b[i + 4] << 8) | b[i + 5]))
            i=$((i + 6))
            if ((rack_len != 0xffff)); then
                i=$((i + rack_len))
            fi
            if ((bport == port)); then
                found=1
            fi
        done
        ((found == 1 && i + 4 <= size)) || exit 1
        controller=$(u32 "$i")
        # -1 (0xffffffff) means no controller known yet.
        ((controller != 0xffffffff))
    )
}

# of_kafka_start DIR PORT CONTROLLER_PORT: a single-node KRaft Kafka
# (broker and controller in one JVM, node id 1) with its client listener on
# 127.0.0.1:PORT and its controller on 127.0.0.1:CONTROLLER_PORT. Writes
# DIR/server.properties and DIR/log4j2.properties, formats DIR/data the first
# time (--standalone: a one-voter dynamic quorum), starts kafka.Kafka with
# logs in DIR/kafka.log, and waits until a Metadata request shows the broker.
# KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS work as in Kafka's scripts.
of_kafka_start() {
    local dir=$1 port=$2 cport=$3 libs log pid fast_props='' jvm_fast=''
    local OF_NODES_TAG=${OF_NODES_TAG:-kafka}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    log=$dir/kafka.log
    libs=$(of_kafka_libs) || return 1
    if [[ ${OF_NODES_FAST:-1} == 1 ]]; then
        fast_props=$OF_KAFKA_FAST_PROPS
        jvm_fast=$OF_KAFKA_FAST_JVM_OPTS
    fi

    cat >"$dir/server.properties" <<EOF
# Written by deploy/local/lib/nodes.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
# one node: every internal topic has a single replica
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# consumers join at once instead of waiting 3 s for more members
group.initial.rebalance.delay.ms=0
$fast_props
EOF

    cat >"$dir/log4j2.properties" <<EOF
# Written by deploy/local/lib/nodes.sh: everything from INFO up to kafka.log.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF

    # As with MariaDB, the stamp marks a completed format; a half-formatted
    # directory is wiped and formatted again.
    if [[ ! -f $dir/formatted ]]; then
        rm -rf "$dir/data"
        of__say "formatting $dir/data"
        if ! of_kafka_java "$libs" kafka.tools.StorageTool format \
            --cluster-id "$(of_kafka_cluster_id)" \
            --config "$dir/server.properties" --standalone \
            >"$dir/format.log" 2>&1; then
            of__say "could not format Kafka storage \"$dir/data\""
            of_log_tail "$dir/format.log"
            return 1
        fi
        touch "$dir/formatted"
    fi

    # shellcheck disable=SC2086 # the *_OPTS strings are lists of flags
    pid=$(of_spawn "$dir/kafka.pid" "$dir/kafka.out" \
        java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} \
        ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 $jvm_fast} \
        -Djava.awt.headless=true -Dkafka.logs.dir="$dir" \
        -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$libs/*" kafka.Kafka "$dir/server.properties")
    of__say "kafka.Kafka pid $pid on 127.0.0.1:$port (controller $cport), log $log"
    of_wait_until 90 "$pid" \
        "Kafka to answer a Metadata request on 127.0.0.1:$port" "$log" \
        of_kafka_probe "$port" || return 1
    of__say "ready on 127.0.0.1:$port"
}
