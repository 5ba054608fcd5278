#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, no password) and Redis (127.0.0.1:6379)
# answer, installing and starting them from Debian's packages when they do not. Machines of this
# project's kind start both before a session; a fresh Debian machine gets them here.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
postgres_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }
redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

apt_updated=false
apt_install() {
  $apt_updated || { as_root apt-get update -qq; apt_updated=true; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! postgres_up; then
  echo "ensure-services: PostgreSQL is not answering on 127.0.0.1:5432; starting it"
  ls /etc/postgresql >/dev/null 2>&1 || apt_install postgresql
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # Tests connect as postgres over TCP without a password: trust loopback only.
  if ! grep -q "mps: trust loopback" "$hba"; then
    as_root sed -i '1i # mps: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
  postgres_up || { echo "ensure-services: PostgreSQL did not start" >&2; exit 1; }
fi

if ! redis_up; then
  echo "ensure-services: Redis is not answering on 127.0.0.1:6379; starting it"
  command -v redis-server >/dev/null || apt_install redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/mps.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  redis_up || { echo "ensure-services: Redis did not start" >&2; exit 1; }
fi
echo "ensure-services: PostgreSQL and Redis are up"
