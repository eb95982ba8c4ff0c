#!/usr/bin/env bash
# deploy/kafka/fetch.sh [MAVEN_ARGS...]
#
# Makes sure the jars of Kafka 4.4.0 (broker, tools, log4j2 binding; see
# pom.xml beside this script) are in
#     ${ORDERFLOW_KAFKA_LIBS:-$HOME/.cache/orderflow/kafka-4.4.0/libs}
# and prints that directory as the last line on stdout. Maven Central is the
# only Java registry we can reach, so the jars come through Maven, not from a
# release tarball.
#
# Idempotent and quiet when the jars are already there. The copy goes to a
# temporary directory that is renamed into place only once complete, and the
# directory carries a stamp (the pom's checksum): an interrupted fetch, or a
# pom that changed since, is simply redone. A lock serialises parallel
# callers (two test runs starting at once).
#
# Extra arguments go to mvn, e.g. -Dmaven.repo.local=DIR or -o.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pom=$here/pom.xml
libs=${ORDERFLOW_KAFKA_LIBS:-$HOME/.cache/orderflow/kafka-4.4.0/libs}
stamp_name=.orderflow-fetched

die() {
    printf 'fetch.sh: %s\n' "$*" >&2
    exit 1
}

# What a complete directory must carry in its stamp: changes whenever the pom
# does, so editing the dependency list refetches.
want=$(sha256sum "$pom" | cut -d' ' -f1)

is_complete() {
    [[ -f $libs/$stamp_name && $(<"$libs/$stamp_name") == "$want" ]]
}

if is_complete; then
    printf '%s\n' "$libs"
    exit 0
fi

command -v mvn >/dev/null || die "cannot fetch Kafka jars: mvn not found (apt-get install maven)"
command -v java >/dev/null || die "cannot fetch Kafka jars: java not found (apt-get install openjdk-17-jre-headless)"

parent=$(dirname "$libs")
mkdir -p "$parent"
exec {lock_fd}>"$parent/.fetch.lock"
# Bounded: a cold fetch takes well under a minute; 10 minutes means a hung
# peer, and waiting forever would hang the test run instead of failing it.
flock -w 600 "$lock_fd" || die "could not lock \"$parent/.fetch.lock\" within 600 s"

# Another caller may have finished while we waited for the lock.
if is_complete; then
    printf '%s\n' "$libs"
    exit 0
fi

# Left-overs of fetches that died (we hold the lock: nobody else is writing).
rm -rf "$libs".tmp.*
tmp=$(mktemp -d "$libs.tmp.XXXXXX")
log=$parent/fetch.log
mvn_pid=
# On a signal, stop Maven too (it runs in the background, see below) and
# leave nothing half-made behind; on any other exit, just tidy up.
cleanup() {
    if [[ -n $mvn_pid ]]; then
        kill -TERM "$mvn_pid" 2>/dev/null || true
        wait "$mvn_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf 'fetch.sh: fetching Kafka jars into "%s" (Maven, log %s)\n' "$libs" "$log" >&2
start=$SECONDS
# In the background so that our traps run at once; the lock fd is closed
# for Maven so that a Maven orphaned by a SIGKILL cannot hold the lock.
# Debian's Maven 3.8.7 writes colour resets even with -B; the log is
# stripped of them when shown.
mvn -B -q -f "$pom" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" "$@" >"$log" 2>&1 {lock_fd}>&- &
mvn_pid=$!
rc=0
wait "$mvn_pid" || rc=$?
mvn_pid=
if ((rc != 0)); then
    sed 's/\x1b\[[0-9;]*m//g' "$log" >&2
    die "could not fetch Kafka jars with Maven (exit status $rc; output above, in $log)"
fi
for jar in kafka_2.13-4.4.0.jar kafka-tools-4.4.0.jar kafka-clients-4.4.0.jar; do
    [[ -f $tmp/$jar ]] || die "Maven finished but \"$jar\" is missing from \"$tmp\""
done
printf '%s\n' "$want" >"$tmp/$stamp_name"

# An incomplete or outdated directory from before is replaced whole.
rm -rf "$libs"
mv "$tmp" "$libs"
printf 'fetch.sh: %d jars in %d s\n' "$(find "$libs" -name '*.jar' | wc -l)" \
    $((SECONDS - start)) >&2
printf '%s\n' "$libs"
