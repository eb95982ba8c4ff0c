#!/usr/bin/env bash
# GET /v1/openapi.json serves schemas/openapi.yaml: 200, application/json,
# and the very document that cmake/yaml2json.py makes of the source YAML
# (so a stale build or a lossy conversion fails here), itself a consistent
# document (tests/openapi/validate.py --check-doc); HEAD is the same without
# a body; other methods get 405 with Allow: GET, HEAD. No credentials are
# needed. GET /admin serves the panel's HTML with its CSP.
#
# With ORDERFLOW_OPENAPI_RECORD set, every answer is also recorded for
# tests/openapi/validate.py, as the C tests' of_it_http() does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/../lib/tap.sh"
. "$here/../../deploy/local/lib/nodes.sh"

py=/usr/bin/python3
dir=$(mktemp -d)
api=
cleanup() {
    if [[ -n $api ]]; then
        kill "$api" 2>/dev/null || true
        wait "$api" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

. "$here/../lib/app.sh"
of_app_env openapi
"$ORDERFLOW_BIN_DIR/orderflow-api" --config /dev/null >"$dir/api.log" 2>&1 &
api=$!
status=000
for _ in $(seq 200); do
    status=$(curl -s -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$port/healthz" || true)
    [[ $status == 200 ]] && break
    sleep 0.1
done
is "$status" "200" "the API answers /healthz on port $port"

# req NAME METHOD PATH [CURL ARGS...]: the answer in $dir/NAME.{h,b};
# prints the status
req() {
    local name=$1 method=$2 path=$3
    shift 3
    local code how=(-X "$method")
    # curl -I reads no body (and -X HEAD alone would wait for one)
    [[ $method == HEAD ]] && how=(-I)
    : >"$dir/$name.b"
    code=$(curl -s "${how[@]}" -D "$dir/$name.h" -o "$dir/$name.b.tmp" \
        -w '%{http_code}' "$@" "http://127.0.0.1:$port$path" || true)
    [[ $method == HEAD ]] || mv -f "$dir/$name.b.tmp" "$dir/$name.b" 2>/dev/null || true
    if [[ -n ${ORDERFLOW_OPENAPI_RECORD:-} && $code != 000 ]]; then
        "$py" "$src/tests/openapi/record.py" "$ORDERFLOW_OPENAPI_RECORD" \
            test_openapi_served.sh "$port" "$method" "$path" \
            "$dir/$name.h" "$dir/$name.b"
    fi
    printf '%s' "$code"
}
# header NAME HEADER: its value in the answer NAME (the last block)
header() {
    awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$2")" '
        /^HTTP\// { v = "" }
        { line = $0; sub(/\r$/, "", line); i = index(line, ":")
          if (i && tolower(substr(line, 1, i - 1)) == h) {
              v = substr(line, i + 1); sub(/^[ \t]+/, "", v) } }
        END { print v }' "$dir/$1.h"
}

# --- GET ---------------------------------------------------------------------
is "$(req get GET /v1/openapi.json)" "200" "GET /v1/openapi.json: 200 without credentials"
is "$(header get Content-Type)" "application/json" "Content-Type: application/json"
is "$(header get Cache-Control)" "no-cache" "Cache-Control: no-cache"
[[ $(header get X-Trace-Id) =~ ^[0-9a-f]{32}$ ]] &&
    pass "X-Trace-Id is 32 lower-case hex digits" ||
    fail "X-Trace-Id is 32 lower-case hex digits"

"$py" "$src/cmake/yaml2json.py" "$src/schemas/openapi.yaml" "$dir/expected/openapi.json"
if out=$("$py" - "$dir/get.b" "$dir/expected/openapi.json" <<'EOF' 2>&1
import json, sys
served = json.load(open(sys.argv[1], encoding="utf-8"))
expected = json.load(open(sys.argv[2], encoding="utf-8"))
if served != expected:
    for key in sorted(set(served) | set(expected)):
        if served.get(key) != expected.get(key):
            sys.exit("differs at top-level key %r" % key)
    sys.exit("differs")
print("openapi %s, %d paths" % (served["openapi"], len(served["paths"])))
EOF
); then
    pass "the served document equals schemas/openapi.yaml through yaml2json.py ($out)"
else
    fail "the served document equals schemas/openapi.yaml through yaml2json.py"
    printf '#   %s\n' "$out"
fi
if cmp -s "$dir/get.b" "$dir/expected/openapi.json"; then
    pass "byte for byte, as yaml2json.py writes it"
else
    fail "byte for byte, as yaml2json.py writes it"
fi
if out=$("$py" "$src/tests/openapi/validate.py" --check-doc --doc "$dir/get.b" 2>&1); then
    pass "the served document is consistent (validate.py --check-doc: $out)"
else
    fail "the served document is consistent (validate.py --check-doc)"
    printf '#   %s\n' "${out//$'\n'/$'\n'#   }"
fi
for p in /v1/users '/v1/orders/{id}' /v1/admin/users /v1/admin/stats \
    /v1/admin/dead-letters/redrive /v1/openapi.json /admin; do
    if "$py" -c 'import json, sys; sys.exit(sys.argv[2] not in json.load(open(sys.argv[1]))["paths"])' \
        "$dir/get.b" "$p"; then
        pass "the document describes $p"
    else
        fail "the document describes $p"
    fi
done

# --- HEAD, other methods -------------------------------------------------------
is "$(req head HEAD /v1/openapi.json)" "200" "HEAD /v1/openapi.json: 200"
is "$(header head Content-Length)" "$(wc -c <"$dir/get.b" | tr -d ' ')" \
    "HEAD: Content-Length is the GET body's"
is "$(header head Content-Type)" "application/json" "HEAD: Content-Type: application/json"

for m in POST PUT DELETE; do
    is "$(req m405 "$m" /v1/openapi.json -H 'Content-Type: application/json' --data '{}')" \
        "405" "$m /v1/openapi.json: 405"
    is "$(header m405 Allow)" "GET, HEAD" "$m: Allow: GET, HEAD"
    like "$(cat "$dir/m405.b")" '"code":"method_not_allowed"' "$m: error code method_not_allowed"
done

is "$(req slash GET /v1/openapi.json/)" "404" "GET /v1/openapi.json/ (trailing slash): 404"

# --- the admin panel's page ------------------------------------------------------
is "$(req admin GET /admin)" "200" "GET /admin: 200 without credentials"
is "$(header admin Content-Type)" "text/html; charset=utf-8" "GET /admin: text/html"
like "$(header admin Content-Security-Policy)" "script-src 'self'" "GET /admin: a Content-Security-Policy"

kill "$api"
wait "$api" && rc=0 || rc=$?
api=
is "$rc" "0" "SIGTERM: exit 0"
done_testing
