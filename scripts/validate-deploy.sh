#!/usr/bin/env bash
# Validates every deployment file with the real tool that reads it, then with
# scripts/deploy_policy.py for what the tools cannot see (no proxy cache, probes, every alert
# tested, every variable documented, …):
#
#   Dockerfile          BuildKit's parser (PyPI `dockerfile`) + policy
#   docker-compose.yml  docker-compose config (with .env.example as .env) + policy
#   nginx.conf          nginx -t with a throwaway certificate, upstream host "api" -> 127.0.0.1 + policy
#   prometheus.yml, config/  promtool check config, check rules, test rules + every alert tested both ways
#   k8s/                kubernetes-validate --strict (Kubernetes 1.37 and the 1.30 minimum) + policy
#   .env.example        policy: every SPEC §4 variable, commented, with SPEC defaults, placeholders
#   scripts/            bash -n and shellcheck
#   stack rendering     scripts/stack.sh render, then nginx -t and promtool check config on the result
#
# Usage: scripts/validate-deploy.sh [--self-test]
#   --self-test  also breaks each kind of file in a scratch copy and requires that the validation
#                above rejects it, so a validator that cannot fail is caught.
# Installs missing validators first (Debian packages, as root; Python tools into a venv under
# target/ unless already installed).  Starts no service; writes only to a temp dir and target/.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

SELF_TEST=0
case "${1:-}" in
    "") ;;
    --self-test) SELF_TEST=1 ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- tools --------------------------------------------------------------------------------------

install_tools() {
    ensure_commands nginx:nginx promtool:prometheus docker-compose:docker-compose \
        openssl:openssl shellcheck:shellcheck python3:python3 || return 1
    if command -v kubernetes-validate >/dev/null 2>&1 && python3 -c 'import yaml, dockerfile' 2>/dev/null; then
        PY=python3
        KV=kubernetes-validate
        return 0
    fi
    # A private venv: Debian's system Python refuses pip installs (PEP 668).
    local venv=${MPS_VALIDATE_VENV:-$ROOT/target/validate-venv}
    if ! venv_made_here "$venv" || ! "$venv/bin/python" -c 'import yaml, dockerfile, kubernetes_validate' 2>/dev/null; then
        python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv || return 1
        echo "installing kubernetes-validate, dockerfile, pyyaml into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" \
            && "$venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate dockerfile pyyaml \
            || return 1
    fi
    PY=$venv/bin/python
    KV=$venv/bin/kubernetes-validate
}

# ---- checks: each takes the root of a deployment tree (the repo, or a broken copy) --------------

policy() { "$PY" "$1/scripts/deploy_policy.py" "${@:2}"; }

check_dockerfile() {
    local r=$1
    policy "$r" dockerfile "$r/Dockerfile" || return 1
    # The allow-list must start by excluding everything (keeps .env and target/ out of the context).
    grep -qx '\*' "$r/.dockerignore" || { echo ".dockerignore does not start from '*' (allow-list)"; return 1; }
}

check_compose() {
    local r=$1 d
    d=$(mktemp -d "$WORK/compose.XXXX")
    cp -r "$r/docker-compose.yml" "$r/Dockerfile" "$r/.dockerignore" "$r/nginx.conf" "$r/prometheus.yml" "$r/config" "$d/"
    # The example must be enough for compose: every ${VAR:?} it requires is set there.
    cp "$r/.env.example" "$d/.env"
    mkdir -p "$d/certs"
    (cd "$d" && docker-compose -f docker-compose.yml config >"$d/rendered.yml") || return 1
    policy "$r" compose "$d/rendered.yml"
}

# A throwaway self-signed certificate for nginx -t (it opens the certificate files).
make_cert() {
    [ -s "$WORK/certs/tls.crt" ] && return 0
    mkdir -p "$WORK/certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
        -keyout "$WORK/certs/tls.key" -out "$WORK/certs/tls.crt" >/dev/null 2>&1
}

check_nginx() {
    local r=$1 d
    d=$(mktemp -d "$WORK/nginx.XXXX")
    make_cert || return 1
    # Only what cannot exist here changes: the compose host name "api" (nginx -t resolves upstream
    # names) and the certificate directory.
    sed -e 's/server api:8000 /server 127.0.0.1:8000 /' -e "s#/etc/nginx/certs/#$WORK/certs/#" \
        "$r/nginx.conf" >"$d/nginx.conf"
    nginx -t -q -c "$d/nginx.conf" -e stderr -g "pid $d/nginx.pid;" 2>&1 || return 1
    policy "$r" nginx "$r/nginx.conf"
}

check_prometheus() {
    local r=$1
    promtool check config "$r/prometheus.yml" || return 1
    promtool check rules "$r/config/alerts.yml" || return 1
    # Rule files in the test file are relative to it.
    (cd "$r/config" && promtool test rules alerts.test.yml) || return 1
    policy "$r" alerts "$r/config/alerts.yml" "$r/config/alerts.test.yml" "$r/docs/operations.md"
}

check_k8s() {
    local r=$1
    "$KV" --strict --quiet "$r"/k8s/*.yaml || return 1
    "$KV" --strict --quiet -k 1.30.0 "$r"/k8s/*.yaml || return 1
    policy "$r" k8s "$r/k8s"
}

check_env() {
    policy "$1" env "$1/.env.example"
}

check_shell() {
    local r=$1 f
    for f in "$r"/scripts/*.sh; do
        bash -n "$f" || return 1
    done
    (cd "$r" && shellcheck -x scripts/*.sh)
}

check_stack_render() {
    local r=$1 d
    d=$(mktemp -d "$WORK/stack.XXXX")
    "$r/scripts/stack.sh" render "$d" >/dev/null || return 1
    nginx -t -q -c "$d/nginx.conf" -e stderr -g "pid $d/nginx.pid;" 2>&1 || return 1
    promtool check config "$d/prometheus.yml"
}

CHECKS=(dockerfile compose nginx prometheus k8s env shell stack_render)

# ---- running ------------------------------------------------------------------------------------

PASSED=0
FAILED=0

run() { # run NAME ROOT — one check, its output shown only when it fails
    local name=$1 r=$2 log="$WORK/log"
    if "check_$name" "$r" >"$log" 2>&1; then
        PASSED=$((PASSED + 1))
        echo "  ok    $name"
    else
        FAILED=$((FAILED + 1))
        echo "  FAIL  $name"
        sed 's/^/        /' "$log"
    fi
}

# A scratch copy of every deployment file, laid out like the repo.
copy_tree() {
    local d
    d=$(mktemp -d "$WORK/case.XXXX")
    (cd "$ROOT" && cp -r Dockerfile .dockerignore docker-compose.yml nginx.conf prometheus.yml .env.example config k8s scripts docs "$d/")
    echo "$d"
}

# mutate FILE SED-SCRIPT — edits FILE and fails when the edit changed nothing (a self-test whose
# breakage no longer applies would prove nothing).
mutate() {
    local file=$1 before
    before=$(cat "$file")
    sed -i -e "$2" "$file"
    [ "$(cat "$file")" != "$before" ] || { echo "mutation '$2' did not change $file" >&2; return 1; }
}

# reason LOG — the line of a validator's output that says why it failed.
reason() {
    awk 'tolower($0) ~ /fail|error|emerg|invalid|missing|policy|did not|unexpected|no / {
             line = $0; if (line !~ /: *$/) { print line; exit } want = 1; next }
         want && NF { print line " " $0; exit }
         NR == 1 { first = $0 }
         END { if (!line) print first }' "$1" | sed 's/^ *//; s/  */ /g' | cut -c1-110
}

# broken NAME CHECK FILE SED-SCRIPT — the check must reject FILE broken by SED-SCRIPT.
broken() {
    local name=$1 check=$2 file=$3 edit=$4 d
    d=$(copy_tree)
    if ! mutate "$d/$file" "$edit"; then
        FAILED=$((FAILED + 1))
        echo "  FAIL  self-test $name: the breakage no longer applies to $file"
    elif "check_$check" "$d" >"$WORK/log" 2>&1; then
        FAILED=$((FAILED + 1))
        echo "  FAIL  self-test $name: $check accepted a broken $file"
    else
        PASSED=$((PASSED + 1))
        echo "  ok    self-test $name: rejected ($(reason "$WORK/log"))"
    fi
    rm -rf "$d"
}

# The sed scripts are literal on purpose ($a is sed's "append after the last line").
# shellcheck disable=SC2016
self_test() {
    echo "self-test: each check must reject a broken copy"
    broken dockerfile-unknown-instruction dockerfile Dockerfile 's/^HEALTHCHECK /HEALTHCHEK /'
    broken dockerfile-runs-as-root dockerfile Dockerfile '$a USER root'
    broken dockerfile-no-dependency-layer dockerfile Dockerfile '/^COPY Cargo.toml Cargo.lock/d'
    broken compose-bad-condition compose docker-compose.yml 's/condition: service_healthy/condition: service_healty/'
    broken compose-unknown-key compose docker-compose.yml 's/^    restart: unless-stopped$/    restarts: unless-stopped/'
    broken compose-env-lacks-secret compose .env.example '/^POSTGRES_PASSWORD=/d'
    broken compose-redis-not-aof compose docker-compose.yml 's/"--appendonly", "yes"/"--appendonly", "no"/'
    broken nginx-unknown-directive nginx nginx.conf 's/proxy_pass /proxy_passs /'
    broken nginx-proxy-cache nginx nginx.conf 's/^http {$/http {\n    proxy_cache_path \/tmp\/mps-cache keys_zone=mps:1m;/; s/^\( *\)proxy_pass http:\/\/mps_api;/&\n\1proxy_cache mps;/'
    broken nginx-metrics-public nginx nginx.conf 's/location ^~ \/metrics {/location ^~ \/metrix {/'
    broken nginx-old-tls nginx nginx.conf 's/ssl_protocols TLSv1.2 TLSv1.3;/ssl_protocols TLSv1 TLSv1.2 TLSv1.3;/'
    broken prometheus-bad-duration prometheus prometheus.yml 's/scrape_interval: 15s/scrape_interval: 15 seconds/'
    broken rules-bad-promql prometheus config/alerts.yml 's/> 0.05/> > 0.05/'
    broken rules-threshold-changed prometheus config/alerts.yml 's/> 0.05/> 0.5/'
    broken rules-test-expectation prometheus config/alerts.test.yml 's/5xx ratio is 10%/5xx ratio is 11%/'
    broken rules-untested-alert prometheus config/alerts.yml '$a \      - alert: MpsUntested\n        expr: vector(1)\n        labels: {severity: warning}\n        annotations: {runbook: none}'
    broken alert-without-runbook prometheus docs/operations.md 's/^### MpsInstanceDown$/### Instance down/'
    broken k8s-schema k8s k8s/deployment.yaml 's/replicas: 3/replicas: three/'
    broken k8s-unknown-field k8s k8s/deployment.yaml 's/^  revisionHistoryLimit:/  revisionHistoryLimits:/'
    broken k8s-writable-root k8s k8s/deployment.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
    broken k8s-impatient-liveness k8s k8s/deployment.yaml 's/failureThreshold: 12/failureThreshold: 1/'
    broken k8s-real-secret k8s k8s/secret.example.yaml 's/JWT_SECRET: change-me-run-openssl-rand-base64-48/JWT_SECRET: c3VwZXJzZWNyZXRyZWFsdmFsdWUxMjM0NTY3ODkw/'
    broken env-missing-variable env .env.example '/^LOGIN_IP_RATE_LIMIT=/d'
    broken env-wrong-default env .env.example 's/^QR_TTL_MAX=3600$/QR_TTL_MAX=36000/'
    broken env-real-secret env .env.example 's/^JWT_SECRET=.*/JWT_SECRET=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u/'
    broken shell-syntax shell scripts/stack.sh 's/^esac$/esa/'
    broken stack-render-token stack_render nginx.conf 's/listen 443 ssl/listen  443 ssl/'
}

# ---- main ---------------------------------------------------------------------------------------

install_tools || { echo "validate-deploy: could not install the validators" >&2; exit 1; }
echo "validating deployment files in $ROOT"
for c in "${CHECKS[@]}"; do
    run "$c" "$ROOT"
done
[ "$SELF_TEST" = 0 ] || self_test
echo "validate-deploy: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
