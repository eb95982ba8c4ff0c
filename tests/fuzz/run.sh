#!/usr/bin/env bash
# tests/fuzz/run.sh [--long | --seconds N]: builds the libFuzzer targets of
# tests/fuzz/ (the ten of TESTPLAN "Fuzz targets worth having") with clang
# (ASan + UBSan, -DOF_FUZZ=ON in build-fuzz/) and runs each from its seed
# corpus in tests/fuzz/corpus/<target>/: 15 s each by default (tests/run.sh,
# the CI budget), an hour each with --long, N seconds with --seconds N; as
# many targets at once as there are cores.
# Prints the executions of each. A crash, leak, broken property or an
# allocation above 64 MiB fails the run; the reproducer is left in
# build-fuzz/crashes/ (fix the bug, then keep the input as a seed in the
# target's corpus). New corpus entries stay in build-fuzz/corpus/, never in
# the tree. Seeds our code makes come from build-fuzz/fuzz-seeds (seeds.c).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=15
case ${1:-} in
--long) seconds=3600 ;;
--seconds)
    seconds=${2:-}
    [[ $seconds =~ ^[1-9][0-9]*$ ]] || {
        echo "tests/fuzz/run.sh: --seconds needs a positive integer" >&2
        exit 2
    }
    ;;
"") ;;
*) echo "usage: tests/fuzz/run.sh [--long | --seconds N]" >&2; exit 2 ;;
esac

# Options some targets need on top of the common ones.
target_options() {
    case $1 in
    fuzz_jwt_auth) echo "-max_len=2048" ;;
    fuzz_command_validate | fuzz_idem_fingerprint)
        echo "-max_len=4096 -dict=$root/tests/fuzz/json.dict" ;;
    fuzz_redis_reply) echo "-max_len=4096 -dict=$root/tests/fuzz/resp.dict" ;;
    fuzz_money | fuzz_uuid | fuzz_cursor) echo "-max_len=128" ;;
    esac
}

out=$root/build-fuzz
CC=clang cmake -S "$root" -B "$out" -DOF_FUZZ=ON -DOF_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
mkdir -p "$out/crashes"

# fuzz_one NAME: runs one target; its last line on stdout is its result.
fuzz_one() {
    local name=$1 target corpus log runs
    target=${name#fuzz_}
    corpus=$out/corpus/$target
    mkdir -p "$corpus"
    cp -n "$root/tests/fuzz/corpus/$target"/* "$corpus/" 2>/dev/null || true
    log=$out/$name.log
    # shellcheck disable=SC2046 # the options are words
    if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
        "$out/$name" -max_total_time="$seconds" -rss_limit_mb=1024 \
        -malloc_limit_mb=64 -artifact_prefix="$out/crashes/$name-" \
        $(target_options "$name") "$corpus" >"$log" 2>&1; then
        echo "fuzz: $name FAILED; see $log and $out/crashes/"
        tail -n 30 "$log"
        return 1
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log")
    echo "fuzz: $name: ${runs:-?} executions in ${seconds} s, no crash"
}

# One target per core at a time: each is one single-threaded process, and
# run one after another they were a tenth of the CI run.
parallel=$(nproc 2>/dev/null || echo 1)
names=()
for src in "$root"/tests/fuzz/fuzz_*.c; do
    names+=("$(basename "$src" .c)")
done
failed=0
for name in "${names[@]}"; do
    while (($(jobs -rp | wc -l) >= parallel)); do
        wait -n || failed=1
    done
    fuzz_one "$name" >"$out/$name.result" 2>&1 &
done
while (($(jobs -rp | wc -l) > 0)); do
    wait -n || failed=1
done
wait || failed=1
for name in "${names[@]}"; do
    cat "$out/$name.result"
done
if ((failed)); then
    echo "fuzz: a target failed (above)" >&2
    exit 1
fi
