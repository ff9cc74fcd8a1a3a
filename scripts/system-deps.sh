#!/usr/bin/env bash
# Installs the Debian packages the project needs when they are missing: the PostgreSQL server, and
# Chromium with its driver for the browser tests of the pages.
# Redis: the scale-out test starts a redis-server of its own (the system service is never enabled).
# `system-deps.sh --bench` also installs wrk, the HTTP load generator of bench/load_bench.py.
set -euo pipefail

have_postgres() {
    command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${1:-}" = "--bench" ]; then
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
    exit 1
fi
echo "Installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package starts a cluster of its own; the project runs its private one instead.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r version name _; do
        pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
    done
fi
# Nor does the project use Debian's Redis service: tests start redis-server on a free port.
if printf '%s\n' "${missing[@]}" | grep -qx redis-server; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
    else
        invoke-rc.d redis-server stop >/dev/null 2>&1 || true
    fi
fi
