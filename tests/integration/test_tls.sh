#!/usr/bin/env bash
# HTTPS for the API through libmicrohttpd + GnuTLS: with a generated
# certificate the API answers over TLS (and the certificate verifies), a
# plain-HTTP client gets no answer, and half a TLS configuration refuses to
# start with a clear error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/tap.sh"
. "$here/../../deploy/local/lib/nodes.sh"

dir=$(mktemp -d)
api=
cleanup() {
    [[ -n $api ]] && kill "$api" 2>/dev/null && wait "$api" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/key.pem" \
    -out "$dir/cert.pem" 2>/dev/null
port=$(of_free_port)
export ORDERFLOW_API_PORT=$port
export ORDERFLOW_AUTH_JWT_KEY=tls-test-secret-0123456789abcdef0123
export ORDERFLOW_KAFKA_BOOTSTRAP_SERVERS=$ORDERFLOW_TEST_KAFKA_BOOTSTRAP
export ORDERFLOW_REDIS_PORT=$ORDERFLOW_TEST_REDIS_PORT
export ORDERFLOW_MYSQL_PORT=$ORDERFLOW_TEST_MYSQL_PORT

out=$(ORDERFLOW_API_TLS_CERT_FILE=$dir/cert.pem \
    "$ORDERFLOW_BIN_DIR/orderflow-api" --config /dev/null 2>&1 || true)
like "$out" "tls_cert_file and tls_key_file go together" \
    "a certificate without a key refuses to start"

ORDERFLOW_API_TLS_CERT_FILE=$dir/cert.pem ORDERFLOW_API_TLS_KEY_FILE=$dir/key.pem \
    "$ORDERFLOW_BIN_DIR/orderflow-api" --config /dev/null >"$dir/api.log" 2>&1 &
api=$!
status=000
for _ in $(seq 100); do
    status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/cert.pem" \
        "https://127.0.0.1:$port/healthz" || true)
    [[ $status == 200 ]] && break
    sleep 0.1
done
is "$status" "200" "GET /healthz over TLS, certificate verified"
plain=$(curl -s -m 3 -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$port/healthz" || true)
is "$plain" "000" "plain HTTP gets no HTTP answer from the TLS port"
kill "$api"
wait "$api" && rc=0 || rc=$?
api=
is "$rc" "0" "SIGTERM: exit 0"
done_testing
