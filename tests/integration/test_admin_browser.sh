#!/usr/bin/env bash
# The admin panel (/admin) in a real browser: Debian's chromium driven by
# playwright-core (tests/browser/admin.test.mjs) against an orderflow-api
# and a command worker of this test's own (unique topics, a free port) on
# the shared stack. The panel signs in with an admin JWT, bans a user and
# refunds a paid order that this script made through the API, shows the
# order's events, a command, the dead letters and the live stats; the node
# script checks each outcome in the page and again through the API.
# Screenshots of every page land in $ORDERFLOW_BIN_DIR/test-results/admin.
#
# Needs node and npm (tests/browser/node_modules is installed with `npm
# ci` if missing: a failure to install fails the test) and /usr/bin/chromium.
# Run through tests/lib/with-stack.sh, which exports ORDERFLOW_TEST_*.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
# shellcheck source=SCRIPTDIR/../../deploy/local/lib/nodes.sh
. "$root/deploy/local/lib/nodes.sh"

: "${ORDERFLOW_TEST_STACK_DIR:?not set: run through tests/lib/with-stack.sh}"
: "${ORDERFLOW_BIN_DIR:?not set: run through ctest (tests/CMakeLists.txt)}"
browser_dir=$root/tests/browser
results=$ORDERFLOW_BIN_DIR/test-results/admin
dir=$ORDERFLOW_TEST_STACK_DIR/admin-browser-$$
# Every chromium of this run carries this switch (chromium ignores it), so
# that a browser left behind by a killed node can be found by it and killed.
marker=--orderflow-test-run=$dir
mkdir -p "$dir" "$results"
rm -f "$results"/*.png

api=
worker=
node_pid=

# stop PID NAME: SIGTERM to our child PID, at most 15 s, then SIGKILL.
# Returns its exit status.
stop() {
    local pid=$1 name=$2 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        of_pid_alive "$pid" || break
        sleep 0.1
    done
    if of_pid_alive "$pid"; then
        printf '# %s (pid %s) still running 15 s after SIGTERM: SIGKILL\n' "$name" "$pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null
}

# The chromium processes of this run (their command line holds $marker).
stray_browsers() {
    local f pid cmd
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
        if [[ $cmd == *"$marker"* ]]; then
            printf '%s\n' "$pid"
        fi
    done
}

cleanup() {
    local rc=$? pid log
    trap - EXIT INT TERM
    if [[ -n $node_pid ]]; then
        stop "$node_pid" node || true
    fi
    for pid in $(stray_browsers); do
        printf '# chromium (pid %s) outlived the node script: SIGKILL\n' "$pid"
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n $api ]]; then
        stop "$api" orderflow-api || true
    fi
    if [[ -n $worker ]]; then
        stop "$worker" orderflow-worker || true
    fi
    if ((rc != 0)); then
        for log in "$dir/api.log" "$dir/worker.log"; do
            of_log_tail "$log" 40 2>&1
        done
        printf '# logs kept in %s\n' "$dir"
    elif [[ -z ${ORDERFLOW_TEST_NOCLEAN:-} ]]; then
        rm -rf "$dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- playwright-core --------------------------------------------------------
if [[ ! -d $browser_dir/node_modules/playwright-core ]]; then
    echo "# installing tests/browser's pinned packages (npm ci)"
    if ! timeout 300 npm ci --prefix "$browser_dir" --no-audit --no-fund \
        >"$dir/npm.log" 2>&1; then
        fail "npm ci --prefix tests/browser installs playwright-core"
        cat "$dir/npm.log"
        done_testing
    fi
fi
[[ -x /usr/bin/chromium ]] || {
    fail "/usr/bin/chromium is installed (deploy/local/install-deps.sh)"
    done_testing
}

# --- an API and a worker of our own -----------------------------------------
. "$here/../lib/app.sh"
of_app_env ab
suffix=$$-$RANDOM-$(date +%s) # names of this run: API key, email, key
ctl() { "$ORDERFLOW_BIN_DIR/orderflowctl" --config /dev/null "$@"; }

ctl migrate >"$dir/ctl.log" 2>&1
ctl topics create >>"$dir/ctl.log" 2>&1
base=http://127.0.0.1:$port
# Our own children, so that their exit statuses can be checked at the end
# (a sanitizer build exits non-zero on a leak or an error).
"$ORDERFLOW_BIN_DIR/orderflow-worker" --config /dev/null --role commands \
    --metrics-port 0 </dev/null >>"$dir/worker.log" 2>&1 &
worker=$!
"$ORDERFLOW_BIN_DIR/orderflow-api" --config /dev/null </dev/null \
    >>"$dir/api.log" 2>&1 &
api=$!
# /readyz: Kafka answers too, so the first write is not a 503
if ! of_wait_until 30 "$api" "the API's /readyz on $base" "$dir/api.log" \
    curl -sf -m 2 -o /dev/null "$base/readyz"; then
    fail "orderflow-api answers /readyz within 30 s"
    done_testing
fi
pass "orderflow-api ready on $base, worker group $ORDERFLOW_WORKER_GROUP_ID"

token=$(ctl token --sub 1 --role admin --ttl 900)
apikey=$(ctl apikey create --name "admin-ui-$suffix" --role admin 2>/dev/null)
# req METHOD PATH [BODY] [HEADER...]: prints the body, then the status on
# a line of its own
req() {
    local method=$1 path=$2 body=${3:-}
    shift 3 || shift $#
    local args=(-s -m 30 -X "$method" -H "Authorization: Bearer $token"
        -w '\n%{http_code}' "$@")
    if [[ -n $body ]]; then
        args+=(-H 'Content-Type: application/json' -d "$body")
    fi
    curl "${args[@]}" "$base$path" || printf '\n000'
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

# The panel's files: right types, the CSP, nothing else under /admin.
hdrs=$(curl -s -m 10 -D - -o /dev/null "$base/admin/")
like "$hdrs" "Content-Type: text/html; charset=utf-8" "GET /admin/ is the HTML page"
like "$hdrs" "Content-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" \
    "/admin/ carries the CSP"
like "$(curl -s -m 10 -D - -o /dev/null "$base/admin/admin.js")" \
    "Content-Type: text/javascript" "/admin/admin.js is JavaScript"
get_len=$(curl -s -m 10 "$base/admin/admin.css" | wc -c)
is "$(curl -s -m 10 -I -o /dev/null -w '%{http_code} %header{content-length}' "$base/admin/admin.css")" \
    "200 $get_len" "HEAD /admin/admin.css: 200 with the length of the GET"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$base/admin/nope.js")" "404" \
    "an unknown file under /admin is 404"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' --path-as-is "$base/admin/../admin/index.html")" \
    "404" "/admin/../admin/index.html is 404"
is "$(curl -s -m 10 -o /dev/null -w '%{http_code} %header{allow}' -X POST "$base/admin/")" \
    "405 GET, HEAD" "POST /admin/ is 405 with Allow: GET, HEAD"

# A user (without Prefer: wait, so that there is a command id to look up),
# an order, and its payment.
# The username holds markup, which the panel must show as text.
email="admin-ui-$suffix@example.com"
username="<img src=x id=inj>Ada $$"
out=$(req POST /v1/users "$(jq -nc --arg e "$email" --arg u "$username" \
    '{email: $e, username: $u}')")
is "$(status_of "$out")" "202" "POST /v1/users answers 202"
command_id=$(body_of "$out" | jq -r .command_id)
uid=
for _ in $(seq 150); do
    out=$(req GET "/v1/commands/$command_id")
    if [[ $(body_of "$out" | jq -r .status 2>/dev/null) == applied ]]; then
        uid=$(body_of "$out" | jq -r .resource_id)
        break
    fi
    sleep 0.2
done
if [[ $uid =~ ^[0-9]+$ ]]; then
    pass "user $uid registered (command $command_id)"
else
    fail "the registration was applied within 30 s"
    body_of "$out"
    done_testing
fi
out=$(req POST /v1/orders "{\"order_type\":\"vip\",\"total_amount\":\"199.00\",\"user_id\":$uid}" \
    -H 'Prefer: wait=10')
is "$(status_of "$out")" "201" "POST /v1/orders with Prefer: wait answers 201"
oid=$(body_of "$out" | jq -r .order_id)
out=$(req POST "/v1/orders/$oid/pay" '{"payment_ref":"pi_admin_ui"}' -H 'Prefer: wait=10')
is "$(status_of "$out") $(body_of "$out" | jq -r .order_status)" "200 paid" \
    "order $oid paid"

# A dead letter: bytes that are no command (no content-type header, no Avro
# frame) on our user-command topic, which the worker dead-letters.
dlq_key=not-a-command-$suffix
if ! printf '%s:%s\n' "$dlq_key" 'this is not a command' |
    timeout 120 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.level=WARN -cp "$ORDERFLOW_TEST_KAFKA_LIBS/*" \
        org.apache.kafka.tools.ConsoleProducer \
        --bootstrap-server "$ORDERFLOW_TEST_KAFKA_BOOTSTRAP" \
        --topic "$ORDERFLOW_TOPICS_USER_COMMANDS" \
        --reader-property parse.key=true --reader-property key.separator=: \
        --producer-property max.block.ms=30000 >"$dir/producer.log" 2>&1; then
    fail "Kafka's ConsoleProducer sends a message that is no command"
    cat "$dir/producer.log"
    done_testing
fi
letters=0
for _ in $(seq 30); do
    out=$(req GET "/v1/admin/dead-letters?limit=500")
    letters=$(body_of "$out" | jq --arg k "$dlq_key" \
        '[.dead_letters[]? | select(.key == $k)] | length' 2>/dev/null || echo 0)
    ((letters >= 1)) && break
    sleep 1
done
is "$letters" "1" "the worker dead-lettered the message that is no command"

# A user's own token: the panel must refuse it (403 on /v1/admin).
user_token=$(ctl token --sub "$uid" --role user --ttl 900)

# --- the browser --------------------------------------------------------------
(
    trap - INT QUIT
    cd "$browser_dir"
    ORDERFLOW_API_URL=$base ORDERFLOW_ADMIN_TOKEN=$token \
        ORDERFLOW_ADMIN_API_KEY=$apikey ORDERFLOW_USER_TOKEN=$user_token \
        ORDERFLOW_TEST_USER_ID=$uid ORDERFLOW_TEST_USER_EMAIL=$email \
        ORDERFLOW_TEST_USER_NAME=$username \
        ORDERFLOW_TEST_ORDER_ID=$oid ORDERFLOW_TEST_COMMAND_ID=$command_id \
        ORDERFLOW_TEST_DLQ_KEY=$dlq_key \
        ORDERFLOW_TEST_DLQ_TOPIC=$ORDERFLOW_TOPICS_USER_COMMANDS \
        ORDERFLOW_TEST_RESULTS_DIR=$results ORDERFLOW_TEST_BROWSER_MARKER=$marker \
        exec timeout -k 10 240 node admin.test.mjs
) &
node_pid=$!
node_rc=0
wait "$node_pid" || node_rc=$?
node_pid=
is "$node_rc" "0" "tests/browser/admin.test.mjs passed (exit status)"
is "$(stray_browsers | wc -l)" "0" "no chromium left running after the node script"

rc=0
stop "$api" orderflow-api || rc=$?
api=
is "$rc" "0" "orderflow-api exits 0 on SIGTERM"
rc=0
stop "$worker" orderflow-worker || rc=$?
worker=
is "$rc" "0" "orderflow-worker exits 0 on SIGTERM"

for shot in "$results"/*.png; do
    if [[ -f $shot ]]; then
        printf '# screenshot: %s\n' "$shot"
    fi
done
done_testing
