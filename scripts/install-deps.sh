#!/bin/sh
# Install sandq's Debian 12 build and test dependencies. Idempotent: does
# nothing (and needs no network) when everything is already installed.
set -eu

PACKAGES="build-essential pkg-config libhiredis-dev libevent-dev libjansson-dev
libseccomp-dev libpython3.11-dev python3.11 python3 python3-pytest python3-redis
redis-server redis-tools procps
python3-django chromium python3-venv python3-pip python3-setuptools python3-wheel"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-deps: all dependencies present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing:$missing"
$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
# The packaged redis-server would start a system instance on 6379 where
# systemd runs; sandq's scripts and tests always start their own.
