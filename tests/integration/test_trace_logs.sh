#!/usr/bin/env bash
# One grep of a trace id follows a request through every process (issue 7):
# a client's W3C traceparent becomes the request's trace id, returned in
# X-Trace-Id, logged (JSON lines) by the API that accepted the command, the
# command worker that applied it and the outbox relay that published its
# event, each line with time, level, process and the command's fields. A
# request without traceparent gets a fresh one. SIGHUP after logrotate's
# rename makes the worker write to a new file, losing nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../../deploy/local/lib/nodes.sh"

dir=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$dir"
}
trap cleanup EXIT

tag="trace-$$-$RANDOM"
. "$here/../lib/app.sh"
of_app_env trace
export ORDERFLOW_LOG_FORMAT=json
bin=$ORDERFLOW_BIN_DIR
ctl() { "$bin/orderflowctl" --config /dev/null "$@"; }

ctl migrate >/dev/null
ctl topics create >/dev/null
ORDERFLOW_LOG_FILE=$dir/api.log "$bin/orderflow-api" --config /dev/null \
    2>"$dir/api.err" &
pids+=($!)
ORDERFLOW_LOG_FILE=$dir/worker.log "$bin/orderflow-worker" --config /dev/null \
    --role commands --metrics-port 0 2>"$dir/worker.err" &
worker=$!
pids+=($worker)
ORDERFLOW_LOG_FILE=$dir/outbox.log "$bin/orderflow-worker" --config /dev/null \
    --role outbox --metrics-port 0 2>"$dir/outbox.err" &
pids+=($!)
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.1
done
admin=$(ctl token --sub 1 --role admin)

# POST a registration, waiting for its outcome; prints the response headers
# to $dir/h and the body to stdout.
register() {
    curl -s -m 20 -D "$dir/h" -H "Authorization: Bearer $admin" \
        -H 'Content-Type: application/json' -H 'Prefer: wait=15' "$@" \
        --data "{\"email\":\"$tag-$RANDOM@example.com\",\"username\":\"t\"}" \
        "http://127.0.0.1:$port/v1/users"
}
header() { tr -d '\r' <"$dir/h" | awk -v n="$1" 'tolower($1) == tolower(n) ":" { print $2 }'; }

trace=4bf92f3577b34da6a3ce929d0e0e4736
body=$(register -H "traceparent: 00-$trace-00f067aa0ba902b7-01")
is "$(header X-Trace-Id)" "$trace" "X-Trace-Id is the traceparent's trace id"
user=$(jq -r '.user_id // empty' <<<"$body")
[[ -n $user ]] && pass "the registration was applied (user $user)" ||
    fail "the registration was applied: $body"

# the relay publishes within its poll interval (50 ms); give it 20 s
for _ in $(seq 200); do
    grep -q "\"trace_id\":\"$trace\"" "$dir/outbox.log" 2>/dev/null && break
    sleep 0.1
done

# Every line of FILE with our trace id, as JSON (jq fails on a bad line).
traced() { jq -c --arg t "$trace" 'select(.trace_id == $t)' "$1"; }
api_line=$(traced "$dir/api.log" | grep '"POST /v1/users' | head -1)
like "$api_line" '"level":"info","process":"orderflow-api"' "API: an info line under the trace id"
is "$(jq -r .status <<<"$api_line")" "201" "API: the line has the status as a field"
is "$(jq -r .msg <<<"$api_line" | cut -d' ' -f1-2)" "POST /v1/users" "API: method and route"
api_cmd=$(jq -r .command_id <<<"$api_line")
[[ $api_cmd =~ ^[0-9a-f-]{36}$ ]] && pass "API: command_id field ($api_cmd)" ||
    fail "API: command_id field: $api_line"

w_line=$(traced "$dir/worker.log" | grep '"applied RegisterUser' | head -1)
is "$(jq -r .command_id <<<"$w_line")" "$api_cmd" "worker: applied, same command_id"
is "$(jq -r .user_id <<<"$w_line")" "$user" "worker: the user id"
is "$(jq -r .version <<<"$w_line")" "1" "worker: the version"
like "$(jq -r .process <<<"$w_line")" "orderflow-worker" "worker: process name"

o_line=$(traced "$dir/outbox.log" | grep '"published UserRegistered' | head -1)
is "$(jq -r .user_id <<<"$o_line")" "$user" "relay: published the user's event"
is "$(jq -r .topic <<<"$o_line")" "$ORDERFLOW_TOPICS_USER_EVENTS" "relay: to the user-events topic"
[[ $(jq -r .offset <<<"$o_line") =~ ^[0-9]+$ ]] && pass "relay: the event's offset" ||
    fail "relay: the event's offset: $o_line"
n=$(cat "$dir/api.log" "$dir/worker.log" "$dir/outbox.log" | grep -c "$trace")
[[ $n -ge 3 ]] && pass "one grep finds the request in all three logs ($n lines)" ||
    fail "one grep finds the request in all three logs ($n lines)"

# no traceparent (or a malformed one): a fresh 32-hex trace id
register -H "traceparent: 00-zz-bad" >/dev/null
t2=$(header X-Trace-Id)
[[ $t2 =~ ^[0-9a-f]{32}$ && $t2 != "$trace" ]] && pass "malformed traceparent: a fresh trace id" ||
    fail "malformed traceparent: a fresh trace id (got $t2)"

# logrotate: rename, SIGHUP, and the next line goes to a new worker.log
mv "$dir/worker.log" "$dir/worker.log.1"
kill -HUP "$worker"
register >/dev/null
t3=$(header X-Trace-Id)
for _ in $(seq 100); do
    grep -q "$t3" "$dir/worker.log" 2>/dev/null && break
    sleep 0.1
done
like "$(cat "$dir/worker.log" 2>/dev/null)" "\"trace_id\":\"$t3\"" "after SIGHUP the worker writes to a new file"
like "$(cat "$dir/worker.log.1")" "$trace" "the rotated file keeps what was written before"
kill -0 "$worker" 2>/dev/null && pass "the worker is still running after SIGHUP" ||
    fail "the worker is still running after SIGHUP"
done_testing
