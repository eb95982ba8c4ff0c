#!/usr/bin/env bash
# Installs every Debian package that building, testing and running orderflow
# locally needs. Idempotent and quiet when everything is there already.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config git
    # C libraries (CONTRACT: Debian's, found with pkg-config)
    librdkafka-dev libavro-dev libjwt-dev libmicrohttpd-dev libhiredis-dev
    libmariadb-dev libjansson-dev libinih-dev libcmocka-dev
    libcurl4-openssl-dev uuid-dev libssl-dev libgnutls28-dev
    # the private stack: MariaDB, Redis, Kafka (Java + Maven fetch its jars)
    mariadb-server mariadb-client redis-server redis-tools
    openjdk-17-jre-headless maven
    # test tools
    curl jq python3 valgrind clang libclang-rt-14-dev procps iproute2 wrk openssl
    # the OpenAPI document: YAML to JSON at build time, responses checked
    # against it in the tests; the admin panel's browser test
    python3-yaml python3-jsonschema chromium
    # Oracle MySQL for the "mysql" tests: Debian's mysql-server-core, in a
    # sid root made by debootstrap (tests/lib/mysql.sh)
    debootstrap
)
# Node.js and npm drive chromium in the browser test (playwright-core from
# npm). A machine may have Node.js from elsewhere (NodeSource bundles npm and
# conflicts with Debian's npm package): only ask Debian for it when absent.
if ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
        grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "install-deps: missing ${missing[*]} and not root (no sudo)" >&2
        exit 1
    }
    sudo=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
