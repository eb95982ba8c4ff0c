# shellcheck shell=bash
# What the benchmark scripts share: a private stack whose MariaDB is set up
# as a server of its own would be (a buffer pool and a redo log that hold a
# run's rows: the 128 MiB defaults made the worker bench disk-bound), and
# the environment that points orderflow's binaries at it.

# bench_stack_start DIR [durable]: start the stack in DIR, source its
# stack.env and export the ORDERFLOW_* settings every bench uses. With
# "durable", MariaDB flushes its redo log at each commit and keeps the
# doublewrite buffer on (OF_NODES_FAST=0), as a production server would.
bench_stack_start() {
    local dir=$1 fast=1
    [[ ${2:-} == durable ]] && fast=0
    export OF_MARIADB_EXTRA_OPTS="--innodb-buffer-pool-size=1G --innodb-log-file-size=512M"
    OF_NODES_FAST=$fast bash "$root/tests/lib/stack.sh" start "$dir" >/dev/null 2>&1
    # shellcheck source=/dev/null
    source "$dir/stack.env"
    export ORDERFLOW_CONFIG=/dev/null ORDERFLOW_LOG_LEVEL=warn
    export ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT
    export ORDERFLOW_MYSQL_PASSWORD=$ORDERFLOW_TEST_MYSQL_PASSWORD
    export ORDERFLOW_REDIS_PORT=$ORDERFLOW_TEST_REDIS_PORT
    export ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP
}
