#!/usr/bin/env bash
# tests/lib/with-own-stack.sh PROGRAM [ARGS...]
#
# Runs one fault test against a private stack of its own: a fault test kills,
# pauses or rolls back Kafka, MariaDB or Redis, which must not disturb the
# stack the other integration tests share. Starts a fresh MariaDB, Redis and
# Kafka in $ORDERFLOW_BIN_DIR/fault-stacks/<program> (tests/lib/stack.sh),
# runs PROGRAM through with-stack.sh, and stops the stack whatever happens;
# the directory (logs included) is kept when the test failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(($# >= 1)) || { echo "usage: with-own-stack.sh PROGRAM [ARGS...]" >&2; exit 2; }
base=${ORDERFLOW_BIN_DIR:?ORDERFLOW_BIN_DIR is not set}/fault-stacks
dir=$base/$(basename "$1")
mkdir -p "$base"

stop() { bash "$here/stack.sh" stop "$dir" >/dev/null 2>&1 || true; }
trap stop EXIT
trap 'exit 143' INT TERM

bash "$here/stack.sh" start "$dir"
rc=0
ORDERFLOW_TEST_STACK_DIR=$dir bash "$here/with-stack.sh" "$@" || rc=$?
exit "$rc"
