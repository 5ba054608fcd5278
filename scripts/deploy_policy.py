#!/usr/bin/env python3
"""Checks of the deployment files that their own tools do not make (run by validate-deploy.sh).

nginx -t, promtool, docker-compose and kubernetes-validate prove that a file is well-formed; these
checks prove that it still says what issue 6 and SPEC §4 require (no proxy cache, /metrics hidden,
probes and security context, every alert tested, every variable documented, …), so a well-formed
but wrong edit fails CI too.

    deploy_policy.py dockerfile Dockerfile
    deploy_policy.py compose RENDERED.yml        (output of `docker-compose config`)
    deploy_policy.py nginx nginx.conf
    deploy_policy.py alerts alerts.yml alerts.test.yml docs/operations.md
    deploy_policy.py k8s DIR
    deploy_policy.py env .env.example

Exit status 1 with one line per problem, 0 when all hold.
"""

import re
import sys
from pathlib import Path

import yaml

PROBLEMS: list[str] = []


def need(condition: bool, message: str) -> None:
    if not condition:
        PROBLEMS.append(message)


# ---- Dockerfile ---------------------------------------------------------------------------------

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}


def check_dockerfile(path: str) -> None:
    # BuildKit's own parser (the `dockerfile` package wraps it): what `docker build` would read.
    import dockerfile

    try:
        commands = dockerfile.parse_file(path)
    except dockerfile.GoParseError as e:
        need(False, f"Dockerfile does not parse: {e}")
        return
    stages: list[dict] = []
    for c in commands:
        # The parser accepts any word; docker build rejects unknown instructions.
        need(c.cmd in INSTRUCTIONS, f"line {c.start_line}: unknown instruction {c.cmd}")
        if c.cmd == "FROM":
            name = c.value[2].lower() if len(c.value) >= 3 and c.value[1].upper() == "AS" else None
            stages.append({"image": c.value[0], "name": name, "cmds": []})
        elif not stages:
            need(c.cmd == "ARG", f"line {c.start_line}: {c.cmd} before the first FROM")
        else:
            stages[-1]["cmds"].append(c)
    need(len(stages) >= 2, "Dockerfile is not multi-stage")
    if len(stages) < 2:
        return
    names = [s["name"] for s in stages if s["name"]]
    need(len(names) == len(set(names)), "duplicate stage names")

    # Stage references: COPY --from must name an earlier stage.
    for i, s in enumerate(stages):
        earlier = {t["name"] for t in stages[:i]} | {str(j) for j in range(i)}
        for c in s["cmds"]:
            for flag in c.flags:
                if flag.startswith("--from="):
                    need(flag[7:].lower() in earlier, f"line {c.start_line}: COPY {flag} names no earlier stage")

    # Build stage: manifests first, a dependency build, then the sources.
    build = stages[0]["cmds"]
    order = []
    for c in build:
        text = " ".join(c.value)
        if c.cmd == "COPY" and "Cargo.toml" in c.value and "Cargo.lock" in c.value:
            order.append("manifests")
        elif c.cmd == "RUN" and "cargo build" in text:
            need("--release" in text and "--locked" in text, f"line {c.start_line}: cargo build without --release --locked")
            order.append("build")
        elif c.cmd in ("COPY", "ADD") and ("src" in text or c.value[0] == "."):
            order.append("sources")
    need(order[:4] == ["manifests", "build", "sources", "build"],
         f"build stage is not manifests -> dependency build -> sources -> build (got {order})")

    final = stages[-1]
    base = final["image"]
    need(bool(re.search(r"(debian:.*slim|distroless/cc)", base)), f"runtime image {base} is not a slim Debian or distroless cc")
    users = [c for c in final["cmds"] if c.cmd == "USER"]
    need(bool(users) and users[-1].value[0].split(":")[0] not in ("root", "0"), "runtime stage does not end as a non-root USER")
    health = [c for c in final["cmds"] if c.cmd == "HEALTHCHECK"]
    need(bool(health) and health[-1].json and list(health[-1].value[-2:]) == ["mps", "healthcheck"],
         'runtime stage has no HEALTHCHECK CMD ["mps", "healthcheck"]')
    need(any(c.cmd == "EXPOSE" and "8000" in c.value for c in final["cmds"]), "runtime stage does not EXPOSE 8000")


# ---- docker-compose -----------------------------------------------------------------------------

def volume_target(v) -> str:
    """docker-compose 1.x prints volumes as SOURCE:TARGET[:MODE], `docker compose` v2 as mappings."""
    return v.get("target", "") if isinstance(v, dict) else (v.split(":") + ["", ""])[1]


def check_compose(path: str) -> None:
    doc = yaml.safe_load(Path(path).read_text())
    services = doc.get("services", {})
    need(set(services) >= {"api", "postgres", "redis", "nginx", "prometheus"},
         f"services are {sorted(services)}, want api, postgres, redis, nginx, prometheus")

    def healthy_dep(svc: str, dep: str) -> None:
        cond = services.get(svc, {}).get("depends_on", {}).get(dep, {}).get("condition")
        need(cond == "service_healthy", f"{svc} does not wait for {dep} to be healthy (condition {cond})")

    healthy_dep("api", "postgres")
    healthy_dep("api", "redis")
    healthy_dep("nginx", "api")
    api = services.get("api", {})
    need("build" in api, "api is not built from the Dockerfile")
    need("healthcheck" in api, "api has no healthcheck")
    pg = services.get("postgres", {})
    need("pg_isready" in " ".join(pg.get("healthcheck", {}).get("test", [])), "postgres healthcheck is not pg_isready")
    need(any(volume_target(v) == "/var/lib/postgresql/data" for v in pg.get("volumes", [])), "postgres data is not on a volume")
    redis = services.get("redis", {})
    cmd = redis.get("command", [])
    cmd = " ".join(cmd) if isinstance(cmd, list) else str(cmd)
    need("--appendonly yes" in cmd, "redis is not append-only")
    need("healthcheck" in redis, "redis has no healthcheck")
    targets = {volume_target(v) for v in services.get("nginx", {}).get("volumes", [])}
    need({"/etc/nginx/nginx.conf", "/etc/nginx/certs"} <= targets, "nginx does not mount nginx.conf and the certificates")
    targets = {volume_target(v) for v in services.get("prometheus", {}).get("volumes", [])}
    need({"/etc/prometheus/prometheus.yml", "/etc/prometheus/config/alerts.yml"} <= targets,
         "prometheus does not mount prometheus.yml and alerts.yml")
    env = api.get("environment", {})
    need(bool(env.get("JWT_SECRET")), "api gets no JWT_SECRET from .env")
    need(not any(isinstance(p, dict) and p.get("target") == 8000 and p.get("published") or "8000" in str(p)
                 for p in api.get("ports", [])),
         "api port is published past nginx")


# ---- nginx --------------------------------------------------------------------------------------

def strip_comments(text: str) -> str:
    out = []
    for line in text.splitlines():
        quote = None
        for i, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "#":
                line = line[:i]
                break
        out.append(line)
    return "\n".join(out)


def check_nginx(path: str) -> None:
    conf = strip_comments(Path(path).read_text())
    need(not re.search(r"\b(proxy_cache|proxy_cache_path|fastcgi_cache|uwsgi_cache|proxy_store)\b", conf),
         "nginx caches responses (proxy_cache & co.): authenticated responses must never be cached")
    need(bool(re.search(r"limit_req_zone\s+\$binary_remote_addr\s+zone=\w+:\w+\s+rate=10r/s", conf)),
         "no per-IP limit_req_zone at 10r/s")
    need(bool(re.search(r"limit_req\s+zone=\w+\s+burst=20\b", conf)), "no limit_req with burst=20")
    protocols = re.findall(r"ssl_protocols\s+([^;]+);", conf)
    need(bool(protocols) and all(p.split() == ["TLSv1.2", "TLSv1.3"] for p in protocols), "ssl_protocols is not exactly TLSv1.2 TLSv1.3")
    need(bool(re.search(r"return\s+301\s+https://", conf)), "no HTTP -> HTTPS redirect")
    for header in ("X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Request-Id"):
        need(bool(re.search(rf"proxy_set_header\s+{header}\s", conf)), f"{header} is not passed to the api")
    need(bool(re.search(r"upstream\s+\w+\s*\{[^}]*\bkeepalive\s+\d+", conf)), "upstream has no keepalive")
    need(bool(re.search(r"proxy_set_header\s+Connection\s+\"\"", conf)), 'keepalive needs proxy_set_header Connection ""')
    need("client_max_body_size" in conf, "no client_max_body_size")
    for t in ("proxy_connect_timeout", "proxy_read_timeout", "client_body_timeout"):
        need(t in conf, f"no {t}")
    m = re.search(r"location\s+(?:\^~|=)\s*/metrics\s*\{([^}]*)\}", conf)
    need(bool(m) and bool(re.search(r"\b(deny\s+all|return\s+40[34])\b", m.group(1))),
         "/metrics is not blocked (location ^~ /metrics with deny all or return 404)")


# ---- alerts -------------------------------------------------------------------------------------

REQUIRED_ALERTS = {"MpsHighErrorRate", "MpsHighLatencyP95", "MpsInstanceDown", "MpsPaymentFailureRateRising"}


def check_alerts(rules_path: str, tests_path: str, runbook_path: str) -> None:
    rules = yaml.safe_load(Path(rules_path).read_text())
    alerts = {r["alert"] for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r}
    need(REQUIRED_ALERTS <= alerts, f"missing alerts: {sorted(REQUIRED_ALERTS - alerts)}")
    tests = yaml.safe_load(Path(tests_path).read_text())
    firing, silent = set(), set()
    for t in tests.get("tests", []):
        for a in t.get("alert_rule_test", []):
            (firing if a.get("exp_alerts") else silent).add(a["alertname"])
    for name in sorted(alerts):
        need(name in firing, f"alert {name} has no test where it fires")
        need(name in silent, f"alert {name} has no test where it stays silent")
    for r in (r for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r):
        need("severity" in r.get("labels", {}), f"alert {r['alert']} has no severity label")
        need("runbook" in r.get("annotations", {}), f"alert {r['alert']} has no runbook annotation")
    # Every runbook link lands on a heading of the operations guide (GitHub's anchor of "### Name").
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", Path(runbook_path).read_text(), re.M)}
    for r in (r for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r):
        link = r.get("annotations", {}).get("runbook", "")
        need("#" in link and link.split("#", 1)[1] in anchors, f"alert {r['alert']}: runbook {link!r} is no heading of {runbook_path}")


# ---- k8s ----------------------------------------------------------------------------------------

def check_k8s(directory: str) -> None:
    docs = []
    for f in sorted(Path(directory).glob("*.y*ml")):
        docs += [(f.name, d) for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {}
    for name, d in docs:
        kinds.setdefault(d["kind"], []).append((name, d))
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job"):
        need(kind in kinds, f"k8s has no {kind}")
    for name, hpa in kinds.get("HorizontalPodAutoscaler", []):
        need(hpa["apiVersion"] == "autoscaling/v2", f"{name}: HPA is not autoscaling/v2")
    for name, secret in kinds.get("Secret", []):
        for key, value in {**secret.get("stringData", {}), **secret.get("data", {})}.items():
            need(value == "" or "change-me" in str(value), f"{name}: {key} is not a placeholder in the template")

    def containers(d):
        spec = d["spec"]["template"]["spec"]
        return spec, spec["containers"]

    for name, dep in kinds.get("Deployment", []):
        need(dep["spec"].get("replicas") == 3, f"{name}: replicas is not 3")
        ann = dep["spec"]["template"]["metadata"].get("annotations", {})
        need(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "8000",
             f"{name}: pod template has no Prometheus scrape annotations")
        spec, cs = containers(dep)
        for c in cs:
            for probe in ("livenessProbe", "readinessProbe"):
                need(c.get(probe, {}).get("httpGet", {}).get("path") == "/health", f"{name}: {probe} is not on /health")
            need(c.get("livenessProbe", {}).get("failureThreshold", 3) >= 6,
                 f"{name}: livenessProbe failureThreshold < 6 restarts pods on a short database blip")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            need(env.get("MIGRATE_ON_START") == "false", f"{name}: MIGRATE_ON_START is not false")
            refs = {k for e in c.get("envFrom", []) for k in e}
            need(refs >= {"configMapRef", "secretRef"}, f"{name}: env not from a ConfigMap and a Secret")
    for name, d in kinds.get("Deployment", []) + kinds.get("Job", []):
        spec, cs = containers(d)
        for c in cs:
            res = c.get("resources", {})
            need({"cpu", "memory"} <= set(res.get("requests", {})) and {"cpu", "memory"} <= set(res.get("limits", {})),
                 f"{name}: container {c['name']} lacks cpu/memory requests and limits")
            sc = c.get("securityContext", {})
            need(sc.get("runAsNonRoot") is True or spec.get("securityContext", {}).get("runAsNonRoot") is True,
                 f"{name}: not runAsNonRoot")
            need(sc.get("readOnlyRootFilesystem") is True, f"{name}: root filesystem is writable")
            need(sc.get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation allowed")
    need(any(c.get("args") == ["migrate"] for _, j in kinds.get("Job", []) for c in containers(j)[1]),
         "no Job runs `mps migrate`")


# ---- .env.example -------------------------------------------------------------------------------

# SPEC §4's table, with its defaults ("" = none).
SPEC_VARS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mps", "DB_MAX_CONNECTIONS": "20",
    "REDIS_URL": "redis://127.0.0.1:6379", "JWT_SECRET": None, "JWT_SECRET_PREVIOUS": "",
    "JWT_EXPIRE_HOURS": "24", "API_HOST": "0.0.0.0", "API_PORT": "8000", "CORS_ORIGINS": "",
    "RATE_LIMIT_REQUESTS": "600", "RATE_LIMIT_WINDOW": "60", "LOGIN_RATE_LIMIT": "5",
    "LOGIN_IP_RATE_LIMIT": "30", "TRUSTED_PROXIES": "", "QR_TTL_DEFAULT": "900", "QR_TTL_MIN": "60",
    "QR_TTL_MAX": "3600", "MAX_AMOUNT": "50000.00", "BUSINESS_TIMEZONE": "UTC",
    "SETTLEMENT_MARGIN_SECONDS": "60", "PAYMENT_WEBHOOK_SECRET": "", "MIGRATE_ON_START": "true",
    "LOG_LEVEL": "info", "LOG_FORMAT": "json", "METRICS_ENABLED": "true", "APP_ENV": None,
}


def check_env(path: str) -> None:
    lines = Path(path).read_text().splitlines()
    values, commented = {}, set()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if not m:
            need(line == "" or line.startswith("#"), f"line {i + 1}: neither KEY=value, comment nor blank: {line!r}")
            continue
        key, value = m.groups()
        need(key not in values, f"{key} is set twice")
        values[key] = value
        need(not re.search(r"""['"]|\s#""", value), f"{key}: quotes or an inline comment (docker-compose keeps them)")
        # The comment block right above (a run of variables may share one).
        j = i - 1
        while j >= 0 and re.match(r"^[A-Z][A-Z0-9_]*=", lines[j]):
            j -= 1
        if j >= 0 and lines[j].startswith("#"):
            commented.add(key)
    for key, default in SPEC_VARS.items():
        need(key in values, f"{key} (SPEC §4) is missing")
        need(key not in values or key in commented, f"{key} has no comment")
        if key in values and default is not None:
            need(values[key] == default, f"{key}={values[key]} differs from the SPEC default {default!r}")
    need("change-me" in values.get("JWT_SECRET", ""), "JWT_SECRET is not an obvious placeholder")
    for key, value in values.items():
        if re.search(r"SECRET|PASSWORD", key) and value:
            need("change-me" in value, f"{key} has a value that is not an obvious placeholder")
    need("openssl rand" in "\n".join(lines), "no `openssl rand` recipe for making a secret")


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    what, args = sys.argv[1], sys.argv[2:]
    checks = {"dockerfile": check_dockerfile, "compose": check_compose, "nginx": check_nginx,
              "alerts": check_alerts, "k8s": check_k8s, "env": check_env}
    if what not in checks:
        print(f"unknown check {what}", file=sys.stderr)
        return 2
    checks[what](*args)
    for p in PROBLEMS:
        print(f"policy({what}): {p}", file=sys.stderr)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
