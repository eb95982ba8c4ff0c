# shellcheck shell=bash
# For the shell integration tests (run by with-stack.sh, which exports the
# shared stack's ORDERFLOW_TEST_* addresses): the environment that points
# orderflow's binaries at that stack, the shell twin of of_it_app_start()
# in tests/integration/lib/of_it.c.
# shellcheck source=../../deploy/local/lib/nodes.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib/nodes.sh"

# of_app_env PREFIX [PARTITIONS]: export the MySQL, Redis and Kafka
# settings, topics and a consumer group of this test's own (PREFIX.user-
# commands.<unique>, ..., PARTITIONS each, default 2), a JWT key, the rate
# limit off, and a free API port, also left in $port.
of_app_env() {
    local prefix=$1 suffix
    suffix=$$-$RANDOM-$(date +%s)
    export ORDERFLOW_MYSQL_HOST=$ORDERFLOW_TEST_MYSQL_HOST
    export ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT
    export ORDERFLOW_MYSQL_USER=$ORDERFLOW_TEST_MYSQL_USER
    export ORDERFLOW_MYSQL_PASSWORD=$ORDERFLOW_TEST_MYSQL_PASSWORD
    export ORDERFLOW_MYSQL_DATABASE=$ORDERFLOW_TEST_MYSQL_DATABASE
    export ORDERFLOW_REDIS_HOST=$ORDERFLOW_TEST_REDIS_HOST
    export ORDERFLOW_REDIS_PORT=$ORDERFLOW_TEST_REDIS_PORT
    export ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP
    export ORDERFLOW_AUTH_JWT_KEY=$prefix-test-secret-0123456789abcdef0123456789
    export ORDERFLOW_TOPICS_USER_COMMANDS=$prefix.user-commands.$suffix
    export ORDERFLOW_TOPICS_ORDER_COMMANDS=$prefix.order-commands.$suffix
    export ORDERFLOW_TOPICS_USER_EVENTS=$prefix.user-events.$suffix
    export ORDERFLOW_TOPICS_ORDER_EVENTS=$prefix.order-events.$suffix
    export ORDERFLOW_TOPICS_DEAD_LETTER=$prefix.dead-letter.$suffix
    export ORDERFLOW_TOPICS_PARTITIONS=${2:-2}
    export ORDERFLOW_WORKER_GROUP_ID=$prefix-group-$suffix
    export ORDERFLOW_API_RATE_LIMIT_PER_S=0
    port=$(of_free_port)
    export ORDERFLOW_API_PORT=$port
}
