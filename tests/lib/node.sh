#!/usr/bin/env bash
# tests/lib/node.sh start NODE DIR
#
# Starts again one node (kafka, mariadb or redis) of the test stack in DIR
# (tests/lib/stack.sh) after a fault test killed it: same directory, same
# ports, same data, so clients reconnect to what they knew. Waits until the
# node answers, like stack.sh start.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../deploy/local/lib/nodes.sh
source "$here/../../deploy/local/lib/nodes.sh"

(($# == 3)) && [[ $1 == start ]] ||
    { echo "usage: node.sh start kafka|mariadb|redis DIR" >&2; exit 2; }
node=$2
dir=$(cd "$3" && pwd)
# shellcheck source=/dev/null
source "$dir/stack.env"
export OF_NODES_TAG=$node
case $node in
kafka)
    props=$dir/kafka/server.properties
    port=${ORDERFLOW_TEST_KAFKA_BOOTSTRAP##*:}
    cport=$(sed -n 's/^controller.quorum.bootstrap.servers=127.0.0.1:\([0-9]*\)$/\1/p' "$props")
    of_kafka_start "$dir/kafka" "$port" "$cport"
    ;;
mariadb) of_mariadb_start "$dir/mariadb" "$ORDERFLOW_TEST_MYSQL_PORT" ;;
redis) of_redis_start "$dir/redis" "$ORDERFLOW_TEST_REDIS_PORT" ;;
*) echo "node.sh: unknown node \"$node\"" >&2; exit 2 ;;
esac
