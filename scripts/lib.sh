# Shared helpers of scripts/validate-deploy.sh and scripts/stack.sh (sourced, not run).
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

# apt_install PACKAGE ... — quiet apt-get install.  apt-get update runs only when the first attempt
# fails (fresh machine, empty or stale package lists).  Package maintainer scripts are kept from
# starting services (nginx, prometheus, …) with a temporary policy-rc.d: these tools are for
# validation and for processes the scripts start and stop themselves.
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
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends)
    if ! "${apt[@]}" "$@" >/dev/null 2>&1; then
        { apt-get update -qq >/dev/null && "${apt[@]}" "$@" >/dev/null; } || rc=$?
    fi
    [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
    return "$rc"
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
