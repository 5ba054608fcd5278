# Shared helpers of scripts/validate-deploy.sh, scripts/stack.sh and scripts/backup-restore-proof.sh
# (sourced, not run).
# shellcheck shell=bash

# ensure_commands CMD:PACKAGE ... — installs (Debian, as root) the packages whose command is
# missing.  See apt_install.
ensure_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# apt_install PACKAGE ... — quiet apt-get install.  `apt-get update` runs once per script run,
# before the first install (a fresh machine has empty or stale package lists).  Package maintainer
# scripts are kept from starting services (nginx, prometheus, …) with a temporary policy-rc.d:
# these tools are for validation and for processes the scripts start and stop themselves.
APT_UPDATED=${APT_UPDATED:-}
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "missing packages: $* (install them, or run as root on Debian)" >&2
        return 1
    fi
    echo "installing: $*" >&2
    local guard="" rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        guard=1
    fi
    if [ -z "$APT_UPDATED" ]; then
        apt-get update -qq >/dev/null || rc=$?
        APT_UPDATED=1
    fi
    if [ "$rc" = 0 ]; then
        env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
    fi
    [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
    return "$rc"
}

# mps_binary ROOT — prints the mps binary to run: $MPS_BIN when set; else the newer of
# target/release/mps and target/debug/mps; else it makes a debug build now (`cargo build --locked`,
# a few minutes cold) and prints target/debug/mps.  Says on stderr which one it chose.
mps_binary() {
    local root=$1 target b chosen=""
    if [ -n "${MPS_BIN:-}" ]; then
        [ -x "$MPS_BIN" ] || { echo "MPS_BIN=$MPS_BIN is not executable" >&2; return 1; }
        echo "$MPS_BIN"
        return 0
    fi
    target=${CARGO_TARGET_DIR:-$root/target}
    for b in "$target/release/mps" "$target/debug/mps"; do
        [ -x "$b" ] || continue
        if [ -z "$chosen" ] || [ "$b" -nt "$chosen" ]; then chosen=$b; fi
    done
    if [ -z "$chosen" ]; then
        command -v cargo >/dev/null 2>&1 \
            || { echo "no mps binary and no cargo: build it, or set MPS_BIN" >&2; return 1; }
        echo "no mps binary yet: building a debug one (cargo build --locked)" >&2
        (cd "$root" && cargo build --locked) >&2 || return 1
        chosen=$target/debug/mps
    fi
    echo "using $chosen (built $(date -r "$chosen" '+%F %T'))" >&2
    echo "$chosen"
}

# pg_db_name URL — the database name in a postgres:// URL.
pg_db_name() {
    local u=${1%%\?*}
    echo "${u##*/}"
}

# pg_admin_url URL — the same server and options, database `postgres` (to create or drop URL's).
pg_admin_url() {
    local u=$1 q=""
    [[ $u != *\?* ]] || q="?${u#*\?}"
    u=${u%%\?*}
    echo "${u%/*}/postgres$q"
}

# pg_db_exists URL — whether URL's database exists.
pg_db_exists() {
    [ "$(psql "$(pg_admin_url "$1")" -XAtqc "SELECT 1 FROM pg_database WHERE datname = '$(pg_db_name "$1")'")" = 1 ]
}

# pg_drop_db URL — drops URL's database, disconnecting its sessions.  Only plain names
# (letters, digits, _) are accepted, so nothing needs quoting.
pg_drop_db() {
    local name
    name=$(pg_db_name "$1")
    [[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "refusing to drop database '$name'" >&2; return 1; }
    PGOPTIONS="-c client_min_messages=warning" psql "$(pg_admin_url "$1")" -Xq -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"
}

# redis_del_prefix URL PREFIX — deletes every key starting with PREFIX (which must not be empty).
redis_del_prefix() {
    local url=$1 prefix=$2
    [ -n "$prefix" ] || return 1
    redis-cli -u "$url" --scan --pattern "$prefix*" | xargs -r -n 100 redis-cli -u "$url" del >/dev/null
}

# stop_pidfile FILE NAME — stops the process whose pid FILE holds, if it is still the program NAME
# (a recycled pid of some other program is left alone): TERM, then KILL after 15 s.
stop_pidfile() {
    local file=$1 name=$2 pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$name ($pid) did not stop on TERM; killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stopped $name ($pid)"
    fi
    rm -f "$file"
}

# True when the venv at $1 was made at that path: a venv copied or moved with target/ keeps
# scripts whose #! lines name the old path, and then nothing in it runs.
venv_made_here() {
    head -1 "$1/bin/pip" 2>/dev/null | grep -qx "#!$1/bin/python[0-9.]*"
}
