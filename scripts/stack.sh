#!/usr/bin/env bash
# The docker-compose topology, run natively on loopback (no Docker needed):
#
#   PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379   used when already running, started otherwise;
#                        the stack's own database (mps_stack) and Redis key prefix (mps_stack:)
#   mps serve            127.0.0.1:$STACK_API_PORT    (18000) $MPS_BIN, else the newer of
#                        target/release/mps and target/debug/mps, else a debug build made by `up`
#   nginx                127.0.0.1:$STACK_HTTP_PORT   (18080) -> HTTPS 127.0.0.1:$STACK_HTTPS_PORT (18443)
#                        the repo's nginx.conf, rendered for loopback, with a generated certificate
#   Prometheus           127.0.0.1:$STACK_PROM_PORT   (19090) the repo's prometheus.yml and
#                        alerts.yml, rendered for loopback, with a throwaway storage directory
#
# Usage: scripts/stack.sh up | down | status | smoke | render DIR
#   up      start everything (creates and migrates the database, creates the admin
#           admin@example.com with `mps create-admin`), wait until healthy
#   smoke   the money path over HTTPS through nginx (balance checked to the cent), then asks
#           Prometheus that it scraped it; last line "N passed, M failed", non-zero on a failure
#   down    stop exactly what `up` started (pids and "started" markers in $STACK_STATE), drop the
#           database `up` created and delete the stack's Redis keys
#   render  only write the loopback nginx.conf (+ certificate) and prometheus.yml into DIR
#
# State, logs, the admin password and the JWT secret live in $STACK_STATE (target/stack).
# Override the binary with MPS_BIN, the database with STACK_DATABASE_URL (on Debian's default
# pg_hba.conf TCP needs a password: postgres://postgres:PASSWORD@127.0.0.1:5432/mps_stack), the
# Redis key prefix with STACK_REDIS_KEY_PREFIX.  Installs missing tools (Debian, as root).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

STATE=${STACK_STATE:-$ROOT/target/stack}
# Not the compose ports (8000, 80/443, 9090): a developer's `cargo run` keeps 8000.
API_PORT=${STACK_API_PORT:-18000}
HTTP_PORT=${STACK_HTTP_PORT:-18080}
HTTPS_PORT=${STACK_HTTPS_PORT:-18443}
PROM_PORT=${STACK_PROM_PORT:-19090}
DATABASE_URL=${STACK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mps_stack}
REDIS_URL=${STACK_REDIS_URL:-redis://127.0.0.1:6379}
REDIS_KEY_PREFIX=${STACK_REDIS_KEY_PREFIX:-mps_stack:}
ADMIN_EMAIL=admin@example.com

die() { echo "stack: $*" >&2; exit 1; }
say() { echo "stack: $*"; }

# ---- render -------------------------------------------------------------------------------------

# render DIR — loopback copies of nginx.conf and prometheus.yml.  Each substitution is checked
# afterwards, so a change of spelling in the source files fails here instead of rendering a
# config that silently points at the wrong place.
render() {
    local dir=$1
    mkdir -p "$dir/certs"
    dir=$(cd "$dir" && pwd)
    if [ ! -s "$dir/certs/tls.crt" ] || [ ! -s "$dir/certs/tls.key" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$dir/certs/tls.key" -out "$dir/certs/tls.crt" >/dev/null 2>&1 \
            || die "openssl could not make a certificate"
        chmod 0600 "$dir/certs/tls.key"
    fi

    sed -e "s/server api:8000 /server 127.0.0.1:$API_PORT /" \
        -e "s/listen 80 /listen 127.0.0.1:$HTTP_PORT /" \
        -e "s/listen 443 /listen 127.0.0.1:$HTTPS_PORT /" \
        -e "s#https://\$host\$request_uri#https://\$host:$HTTPS_PORT\$request_uri#" \
        -e "s#/etc/nginx/certs/#$dir/certs/#" \
        "$ROOT/nginx.conf" >"$dir/nginx.conf"
    local want
    for want in "server 127.0.0.1:$API_PORT " "listen 127.0.0.1:$HTTP_PORT " \
        "listen 127.0.0.1:$HTTPS_PORT ssl" "https://\$host:$HTTPS_PORT\$request_uri" \
        "ssl_certificate     $dir/certs/tls.crt;" "ssl_certificate_key $dir/certs/tls.key;"; do
        grep -qF -- "$want" "$dir/nginx.conf" || die "render: nginx.conf has no '$want' after rendering"
    done

    # The compose file discovers replicas by DNS; here there is one static target.  Scrape every
    # 5 s so smoke does not wait long for the next scrape.
    sed -e 's/^    dns_sd_configs:$/    static_configs:/' \
        -e "s/^      - names: \[\"api\"\]$/      - targets: [\"127.0.0.1:$API_PORT\"]/" \
        -e '/^        type: A$/d' -e '/^        port: 8000$/d' -e '/^        refresh_interval: 30s$/d' \
        -e "s/\"localhost:9090\"/\"127.0.0.1:$PROM_PORT\"/" \
        -e 's/^  scrape_interval: 15s$/  scrape_interval: 5s/' \
        -e 's/^  scrape_timeout: 10s$/  scrape_timeout: 4s/' \
        "$ROOT/prometheus.yml" >"$dir/prometheus.yml"
    mkdir -p "$dir/config"
    cp "$ROOT/config/alerts.yml" "$dir/config/alerts.yml"
    if ! grep -qF "targets: [\"127.0.0.1:$API_PORT\"]" "$dir/prometheus.yml" \
        || grep -v '^ *#' "$dir/prometheus.yml" | grep -q 'dns_sd_configs\|names:\|api:8000'; then
        die "render: prometheus.yml did not render to a static 127.0.0.1:$API_PORT target"
    fi
}

# ---- up -----------------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

wait_for() { # wait_for WHAT SECONDS PIDNAME COMMAND...
    local what=$1 secs=$2 name=$3 i
    shift 3
    for ((i = 0; i < secs * 4; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        alive "$name" || { tail -n 30 "$STATE/$name.log" >&2 || true; die "$what exited during start-up (log: $STATE/$name.log)"; }
        sleep 0.25
    done
    tail -n 30 "$STATE/$name.log" >&2 || true
    die "$what not ready after ${secs}s (log: $STATE/$name.log)"
}

ensure_postgres() {
    port_open 5432 && return 0
    command -v pg_ctlcluster >/dev/null 2>&1 || ensure_commands pg_ctlcluster:postgresql
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is not running on 5432 and no cluster is configured"
    pg_ctlcluster "$version" main start
    echo "$version" >"$STATE/started-postgres"
    say "started PostgreSQL $version (down will stop it)"
    local i
    for ((i = 0; i < 60; i++)); do port_open 5432 && return 0; sleep 0.5; done
    die "PostgreSQL did not open 5432"
}

ensure_redis() {
    port_open 6379 && return 0
    ensure_commands redis-server:redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
        --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
    say "started Redis (down will stop it)"
    local i
    for ((i = 0; i < 40; i++)); do port_open 6379 && return 0; sleep 0.25; done
    die "Redis did not open 6379"
}

# The server's environment: production rules (a strong JWT secret), loopback listener, nginx on
# 127.0.0.1 as the trusted proxy.  It runs with $STATE as its working directory so that a
# developer's ./.env is not read.
mps_env() {
    MPS_ENV=(APP_ENV=production DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL"
        REDIS_KEY_PREFIX="$REDIS_KEY_PREFIX"
        JWT_SECRET="$(cat "$STATE/jwt-secret")" API_HOST=127.0.0.1 API_PORT="$API_PORT"
        TRUSTED_PROXIES=127.0.0.1 LOG_FORMAT=json METRICS_ENABLED=true)
}

up() {
    mkdir -p "$STATE"
    local p
    for p in mps nginx prometheus; do
        ! alive "$p" || die "$p is already running (pid $(cat "$STATE/$p.pid")): run down first"
    done
    for p in "$API_PORT" "$HTTP_PORT" "$HTTPS_PORT" "$PROM_PORT"; do
        ! port_open "$p" || die "port $p is already in use"
    done
    ensure_commands nginx:nginx prometheus:prometheus openssl:openssl curl:curl \
        psql:postgresql-client redis-cli:redis-tools
    local bin reused=""
    bin=$(mps_binary "$ROOT") || die "no mps binary"
    echo "$bin" >"$STATE/mps.bin"
    # Anything that fails from here on (a failed command or a die) undoes what was started.
    trap 'echo "stack: up failed; stopping what it started" >&2; down' EXIT

    ensure_postgres
    ensure_redis
    # The stack's own database: created here (by `mps migrate`) and dropped by down.  One that
    # exists without our marker belongs to someone else and is left alone.
    if pg_db_exists "$DATABASE_URL"; then
        [ "$(cat "$STATE/created-database" 2>/dev/null)" = "$DATABASE_URL" ] \
            || die "database $(pg_db_name "$DATABASE_URL") exists and was not created by stack.sh: drop it or set STACK_DATABASE_URL"
        reused=1
        say "reusing database $(pg_db_name "$DATABASE_URL") from an earlier up (down drops it)"
    fi
    echo "$DATABASE_URL" >"$STATE/created-database"
    [ -s "$STATE/jwt-secret" ] || openssl rand -base64 48 | tr -d '\n' >"$STATE/jwt-secret"
    [ -s "$STATE/admin-password" ] || openssl rand -hex 16 >"$STATE/admin-password"
    chmod 0600 "$STATE/jwt-secret" "$STATE/admin-password"

    mps_env
    say "migrating $DATABASE_URL with $bin"
    (cd "$STATE" && env "${MPS_ENV[@]}" "$bin" migrate) >>"$STATE/mps.log" 2>&1 \
        || { tail -n 20 "$STATE/mps.log" >&2; false; }
    # In a reused database the admin exists already, with the same saved password.
    if (cd "$STATE" && MPS_ADMIN_PASSWORD="$(cat "$STATE/admin-password")" \
        env "${MPS_ENV[@]}" "$bin" create-admin --email "$ADMIN_EMAIL" --name Admin) >>"$STATE/mps.log" 2>&1; then
        say "created admin $ADMIN_EMAIL with mps create-admin (password in $STATE/admin-password)"
    elif [ -n "$reused" ]; then
        say "create-admin failed in the reused database (admin exists?); see $STATE/mps.log"
    else
        tail -n 5 "$STATE/mps.log" >&2
        die "mps create-admin failed"
    fi

    (cd "$STATE" && exec nohup env "${MPS_ENV[@]}" "$bin" serve) >>"$STATE/mps.log" 2>&1 </dev/null &
    echo $! >"$STATE/mps.pid"
    wait_for "mps" 90 mps curl -fsS "http://127.0.0.1:$API_PORT/health"
    say "mps serving on 127.0.0.1:$API_PORT (pid $(cat "$STATE/mps.pid"))"

    render "$STATE/nginx"
    nginx -t -q -c "$STATE/nginx/nginx.conf" -e stderr -g "pid $STATE/nginx/nginx.pid;"
    nohup nginx -c "$STATE/nginx/nginx.conf" -p "$STATE/nginx/" -e stderr \
        -g "daemon off; pid $STATE/nginx/nginx.pid;" >>"$STATE/nginx.log" 2>&1 </dev/null &
    echo $! >"$STATE/nginx.pid"
    wait_for "nginx" 20 nginx curl -fksS "https://127.0.0.1:$HTTPS_PORT/ready"
    say "nginx on http://127.0.0.1:$HTTP_PORT and https://127.0.0.1:$HTTPS_PORT (pid $(cat "$STATE/nginx.pid"))"

    mkdir -p "$STATE/prometheus/data" "$STATE/prometheus/config"
    cp "$STATE/nginx/prometheus.yml" "$STATE/prometheus/"
    cp "$STATE/nginx/config/alerts.yml" "$STATE/prometheus/config/"
    nohup prometheus --config.file="$STATE/prometheus/prometheus.yml" \
        --storage.tsdb.path="$STATE/prometheus/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >>"$STATE/prometheus.log" 2>&1 </dev/null &
    echo $! >"$STATE/prometheus.pid"
    wait_for "prometheus" 30 prometheus curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready"
    say "prometheus on http://127.0.0.1:$PROM_PORT (pid $(cat "$STATE/prometheus.pid"))"
    trap - EXIT
    say "up. Try: scripts/stack.sh smoke; stop with: scripts/stack.sh down"
}

# ---- down / status ------------------------------------------------------------------------------

down() {
    trap - EXIT
    [ -d "$STATE" ] || { say "nothing to stop"; return 0; }
    stop_pidfile "$STATE/prometheus.pid" prometheus
    stop_pidfile "$STATE/nginx.pid" nginx
    local bin=mps
    [ ! -s "$STATE/mps.bin" ] || bin=$(basename "$(cat "$STATE/mps.bin")")
    stop_pidfile "$STATE/mps.pid" "$bin"
    if [ -f "$STATE/created-database" ]; then
        local url
        url=$(cat "$STATE/created-database")
        if pg_drop_db "$url"; then
            rm -f "$STATE/created-database"
            say "dropped database $(pg_db_name "$url")"
        else
            echo "stack: could not drop database $(pg_db_name "$url")" >&2
        fi
    fi
    if [ -f "$STATE/redis.pid" ]; then
        stop_pidfile "$STATE/redis.pid" redis-server # started by up: its keys go with it
    elif command -v redis-cli >/dev/null 2>&1 && redis_del_prefix "$REDIS_URL" "$REDIS_KEY_PREFIX" 2>/dev/null; then
        say "deleted Redis keys $REDIS_KEY_PREFIX*"
    fi
    if [ -f "$STATE/started-postgres" ]; then
        pg_ctlcluster "$(cat "$STATE/started-postgres")" main stop || true
        rm -f "$STATE/started-postgres"
        say "stopped PostgreSQL"
    fi
    # Prometheus' samples are throwaway; logs, secrets and the admin password stay for inspection.
    rm -rf "$STATE/prometheus/data"
}

status() {
    local p
    for p in mps nginx prometheus redis; do
        if alive "$p"; then echo "$p: running (pid $(cat "$STATE/$p.pid"))"; else echo "$p: not started by stack"; fi
    done
    [ ! -f "$STATE/started-postgres" ] || echo "postgres: started by stack"
    [ ! -f "$STATE/created-database" ] || echo "database: $(pg_db_name "$(cat "$STATE/created-database")") (created by stack)"
}

# ---- smoke --------------------------------------------------------------------------------------

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "  ok    $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL  $*"; } # stdout: in order with the summary

# call METHOD PATH TOKEN BODY [HEADER...] — sets CODE, BODY, HEADERS.
call() {
    local method=$1 path=$2 token=$3 body=$4
    shift 4
    local args=(-sk -X "$method" -o "$STATE/smoke-body" -D "$STATE/smoke-headers" -w '%{http_code}'
        -H 'Content-Type: application/json' -H "X-Request-Id: smoke-$RUN-$((PASSED + FAILED))")
    [ -z "$token" ] || args+=(-H "Authorization: Bearer $token")
    [ -z "$body" ] || args+=(--data "$body")
    local h
    for h in "$@"; do args+=(-H "$h"); done
    CODE=$(curl "${args[@]}" "https://127.0.0.1:$HTTPS_PORT$path") || CODE=000
    BODY=$(cat "$STATE/smoke-body")
    HEADERS=$(cat "$STATE/smoke-headers")
}

# expect STEP PATTERN JQ_FILTER — the last call answered a status matching PATTERN (e.g. 2??) and
# JQ_FILTER is true of its body.
expect() {
    local step=$1 pattern=$2 filter=${3:-true}
    # shellcheck disable=SC2053 # PATTERN is a glob on purpose
    if [[ $CODE == $pattern ]] && jq -e "$filter" >/dev/null 2>&1 <<<"$BODY"; then
        ok "$step ($CODE)"
        return 0
    fi
    fail "$step: got $CODE $(head -c 400 <<<"$BODY")"
    return 1
}

# cents AMOUNT — "87.66" -> 8766; anything not of the form digits.two-digits -> "invalid"
cents() {
    if [[ $1 =~ ^([0-9]+)\.([0-9]{2})$ ]]; then echo $((10#${BASH_REMATCH[1]} * 100 + 10#${BASH_REMATCH[2]}))
    else echo invalid; fi
}

promql() { # promql QUERY — the first sample's value, or empty
    curl -fsS -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" \
        | jq -r '.data.result[0].value[1] // empty'
}

smoke() {
    if ! { alive mps && alive nginx && alive prometheus; }; then die "the stack is not up: scripts/stack.sh up"; fi
    ensure_commands jq:jq curl:curl
    RUN=$(date +%s)$RANDOM
    local before admin member merchant card_id qr phone code amount charge
    local balance_before balance_after
    before=$(promql 'sum(mps_api_requests_total)') || before=""
    before=${before:-0}

    echo "smoke (run $RUN) through https://127.0.0.1:$HTTPS_PORT"
    CODE=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$HTTP_PORT/health") || true
    if [ "$CODE" = "301 https://127.0.0.1:$HTTPS_PORT/health" ]; then ok "HTTP redirects to HTTPS"; else fail "HTTP redirect: $CODE"; fi

    call GET /metrics "" ""
    expect "/metrics is not public" 404 '.error.code == "NOT_FOUND"' || true
    call GET /health "" ""
    expect "GET /health" 200 '.status == "healthy" or .status == "degraded"' || true
    if grep -qi '^x-request-id: smoke-' <<<"$HEADERS"; then ok "X-Request-Id passed through"
    else fail "X-Request-Id not echoed: $(grep -i request-id <<<"$HEADERS")"; fi

    call POST /auth/login "" "{\"role\":\"admin\",\"identifier\":\"$ADMIN_EMAIL\",\"password\":\"$(cat "$STATE/admin-password")\"}"
    expect "admin login (admin made by mps create-admin)" 200 '.token | length > 0' || return 1
    admin=$(jq -r .token <<<"$BODY")

    phone="139${RUN: -8}"
    call POST /admin/members "$admin" "{\"name\":\"Smoke $RUN\",\"phone\":\"$phone\",\"password\":\"smoke-member-$RUN\"}"
    expect "create member" 201 '.member.id and .card.id and .card.card_no' || return 1
    card_id=$(jq -r .card.id <<<"$BODY")

    code="SMK${RUN: -10}"
    call POST /admin/merchants "$admin" "{\"code\":\"$code\",\"name\":\"Smoke shop $RUN\",\"password\":\"smoke-merchant-$RUN\"}"
    expect "create merchant" 201 ".code == \"$code\"" || return 1

    call POST "/admin/cards/$card_id/recharge" "$admin" '{"amount":"100.00"}' "Idempotency-Key: smoke-rcg-$RUN"
    expect "admin recharge 100.00" 201 '.transaction.status == "completed" and .transaction.final_amount == "100.00"' || return 1

    call POST /auth/login "" "{\"role\":\"member\",\"identifier\":\"$phone\",\"password\":\"smoke-member-$RUN\"}"
    expect "member login" 200 '.token | length > 0' || return 1
    member=$(jq -r .token <<<"$BODY")

    call GET /member/cards "$member" ""
    expect "member sees the credited card: balance 100.00" 200 \
        ".items[] | select(.id == \"$card_id\") | .balance == \"100.00\"" || return 1
    balance_before=$(jq -r ".items[] | select(.id == \"$card_id\") | .balance" <<<"$BODY")

    call POST /member/qr "$member" "{\"card_id\":\"$card_id\"}"
    expect "member QR" 201 '.qr_plain | length > 0' || return 1
    qr=$(jq -r .qr_plain <<<"$BODY")

    call POST /auth/login "" "{\"role\":\"merchant\",\"identifier\":\"$code\",\"password\":\"smoke-merchant-$RUN\",\"operator\":\"till-1\"}"
    expect "merchant login" 200 '.token | length > 0' || return 1
    merchant=$(jq -r .token <<<"$BODY")

    amount=12.34
    charge="{\"qr_plain\":\"$qr\",\"amount\":\"$amount\"}"
    call POST /merchant/charge "$merchant" "$charge" "Idempotency-Key: smoke-pay-$RUN"
    expect "charge $amount" 201 ".transaction.status == \"completed\" and .transaction.final_amount == \"$amount\"
        and .transaction.card_id == \"$card_id\"" || return 1
    call POST /merchant/charge "$merchant" "$charge" "Idempotency-Key: smoke-pay-$RUN"
    expect "charge replay (same Idempotency-Key)" 201 ".transaction.final_amount == \"$amount\"" || true
    if grep -qi '^idempotent-replayed: true' <<<"$HEADERS"; then ok "replay marked Idempotent-Replayed"
    else fail "replay without Idempotent-Replayed: true"; fi

    # The balance moved by exactly the amount, once (the replay charged nothing), as the member sees
    # it (a merchant's answer does not show balances).  Compared in cents, as integers.
    call GET /member/cards "$member" ""
    expect "member cards after the charge" 200 '.items | length > 0' || return 1
    balance_after=$(jq -r ".items[] | select(.id == \"$card_id\") | .balance" <<<"$BODY")
    local want=invalid
    if [[ $(cents "$balance_before") != invalid ]]; then want=$(($(cents "$balance_before") - $(cents "$amount"))); fi
    if [ "$want" != invalid ] && [ "$(cents "$balance_after")" = "$want" ]; then
        ok "balance moved exactly: $balance_before - $amount = $balance_after (charged once)"
    else
        fail "balance: before $balance_before, charged $amount, now ${balance_after:-?}; want $want cents"
    fi

    # Prometheus scrapes every 5 s in the rendered config.
    local i up after
    for ((i = 0; i < 30; i++)); do
        up=$(promql 'up{job="mps-api"}') || up=""
        after=$(promql 'sum(mps_api_requests_total)') || after=""
        [ "$up" = 1 ] && [ -n "$after" ] && awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }' && break
        sleep 1
    done
    if [ "$up" = 1 ]; then ok "Prometheus: mps-api target up"
    else fail "Prometheus: up{job=\"mps-api\"} is '${up:-absent}'"; fi
    if [ -n "$after" ] && awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }'; then
        ok "Prometheus: mps_api_requests_total rose from $before to $after"
    else
        fail "Prometheus: mps_api_requests_total did not rise (before $before, after ${after:-absent})"
    fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    render) [ -n "${2:-}" ] || die "usage: $0 render DIR"; ensure_commands openssl:openssl; render "$2"; say "rendered into $2" ;;
    smoke)
        smoke || true
        echo "$PASSED passed, $FAILED failed"
        [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
        ;;
    *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
