#!/usr/bin/env bash
# Builds orderflow twice and runs every test (CONTRACT §2):
#   1. build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer, unit tests;
#   2. build/:      the normal build, every unit and integration test, against
#                   a private Kafka, MariaDB and Redis that ctest's "stack"
#                   fixture starts (tests/lib/stack.sh) and stops.
# The last lines are ctest's summary. Options:
#   --no-asan   skip the sanitizer build and the fuzzing (quicker while
#               developing)
#   -R REGEX    only the tests matching REGEX (passed to ctest)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
asan=1
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --no-asan) asan=0 ;;
    -R) ctest_args+=(-R "$2"); shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "tests/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# Whatever happens (a failure, ^C), no process of the private stack outlives
# this script: ctest's fixture cleanup normally stops it, this is the net.
cleanup() {
    bash "$root/tests/lib/stack.sh" stop "$root/build/test-stack" \
        >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Kafka's jars (Maven, cached in ~/.m2 and ~/.cache/orderflow).
bash "$root/deploy/kafka/fetch.sh" >/dev/null

# No SQL text built from input: mysql_query/mysql_real_query may only be
# called with a string literal (everything else goes through prepared
# statements in of_db.c).
if grep -rnE 'mysql_(real_)?query\(' "$root/src" --include='*.c' |
    grep -vE 'mysql_(real_)?query\([^,]+, *"'; then
    echo "tests/run.sh: mysql_query with a non-literal string (above)" >&2
    exit 1
fi

if [ "$asan" = 1 ]; then
    echo "== sanitizer build (ASan + UBSan): unit tests"
    cmake -S "$root" -B "$root/build-asan" -DOF_SANITIZE=ON \
        -DOF_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build "$root/build-asan" -j"$jobs" >/dev/null
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "$root/build-asan" -L unit --output-on-failure \
        -j"$jobs" ${ctest_args[@]+"${ctest_args[@]}"}
fi

if [ "$asan" = 1 ]; then
    echo "== fuzzing: each libFuzzer target for a short time"
    bash "$root/tests/fuzz/run.sh"
fi

echo "== normal build: unit and integration tests"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOF_FAULTS=ON \
    -DOF_BUILD_TESTS=ON >/dev/null
cmake --build "$root/build" -j"$jobs" >/dev/null
ctest --test-dir "$root/build" --output-on-failure \
    ${ctest_args[@]+"${ctest_args[@]}"}
