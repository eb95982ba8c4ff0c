#!/usr/bin/env bash
# Builds orderflow twice and runs every test (CONTRACT §2):
#   1. build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer: the unit
#                   tests, and the integration suite with the API, workers
#                   and orderflowctl so built, against a private Kafka,
#                   MariaDB and Redis that ctest's "stack" fixture starts
#                   (tests/lib/stack.sh) and stops;
#   2. fuzzing:     each libFuzzer target for a short time (tests/fuzz/run.sh);
#   3. build/:      the normal build: the unit tests, the same under valgrind
#                   memcheck, the fault and load suite (tests/faults/, each
#                   test on a private stack of its own, two at a time), the
#                   slowloris test again for its memory bound, and 13 of the
#                   integration tests again against Oracle MySQL instead of
#                   MariaDB (the "mysql" label, tests/lib/mysql.sh).
# The last lines are ctest's summary of step 3. Options:
#   --long      the full forms: TESTPLAN's load durations, fuzzing 1 h per
#               target
#   --no-asan   skip the sanitizer build and the fuzzing (quicker while
#               developing; the integration suite then runs in build/)
#   -R REGEX    only the tests matching REGEX (passed to ctest)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
asan=1
long=0
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --no-asan) asan=0 ;;
    --long) long=1 ;;
    -R) ctest_args+=(-R "$2"); shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "tests/run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# Whatever happens (a failure, ^C), no process of the private stack outlives
# this script: ctest's fixture cleanup normally stops it, this is the net.
cleanup() {
    local d
    for d in build build-asan; do
        bash "$root/tests/lib/stack.sh" stop "$root/$d/test-stack" \
            >/dev/null 2>&1 || true
        bash "$root/tests/lib/mysql.sh" stop "$root/$d/test-mysql" \
            >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Kafka's jars (Maven, cached in ~/.m2 and ~/.cache/orderflow).
bash "$root/deploy/kafka/fetch.sh" >/dev/null
# playwright-core for the admin panel's browser test (npm registry; the lock
# file pins it), which drives Debian's chromium.
if [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
    npm ci --prefix "$root/tests/browser" --no-audit --no-fund >/dev/null
fi

# Debian's MySQL server for the "mysql" tests (a debootstrapped sid root,
# made once per machine: tests/lib/mysql.sh).
bash "$root/tests/lib/mysql.sh" fetch >/dev/null

# No SQL text built from input: mysql_query/mysql_real_query may only be
# called with a string literal (everything else goes through prepared
# statements in of_db.c).
if grep -rnE 'mysql_(real_)?query\(' "$root/src" --include='*.c' |
    grep -vE 'mysql_(real_)?query\([^,]+, *"'; then
    echo "tests/run.sh: mysql_query with a non-literal string (above)" >&2
    exit 1
fi

if [ "$long" = 1 ]; then
    # TESTPLAN's full forms (each test reads its own variable)
    export ORDERFLOW_LOAD_SECONDS=120 ORDERFLOW_SOAK_SECONDS=300 \
        ORDERFLOW_FAULT_PAUSE_S=120
fi

if [ "$asan" = 1 ]; then
    echo "== sanitizer build (ASan + UBSan): unit and integration tests"
    cmake -S "$root" -B "$root/build-asan" -DOF_SANITIZE=ON -DOF_FAULTS=ON \
        -DOF_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
    cmake --build "$root/build-asan" -j"$jobs" >/dev/null
    # Two at a time: the integration tests share one stack and hold its
    # lock, so they still run one by one; the unit tests run beside them.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir "$root/build-asan" -L 'unit|integration' \
        --output-on-failure -j2 ${ctest_args[@]+"${ctest_args[@]}"}

    echo "== fuzzing: each libFuzzer target for a short time"
    if [ "$long" = 1 ]; then
        bash "$root/tests/fuzz/run.sh" --long
    else
        bash "$root/tests/fuzz/run.sh"
    fi
    labels='unit|valgrind|faults|memory|mysql'
else
    labels='unit|valgrind|integration|faults|mysql'
fi

echo "== normal build: unit tests, valgrind, faults and loads"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOF_FAULTS=ON \
    -DOF_BUILD_TESTS=ON >/dev/null
cmake --build "$root/build" -j"$jobs" >/dev/null
# Two at a time: each fault test brings its own stack; the integration tests
# (with --no-asan) share one and hold the "stack" lock, so they run one by one.
ctest --test-dir "$root/build" -L "$labels" --output-on-failure -j2 \
    ${ctest_args[@]+"${ctest_args[@]}"}
