#!/usr/bin/env bash
# Builds the web console (web/) into web/dist/, which the mps binary embeds and serves at /console/.
# The toolchain is pinned by web/package-lock.json (esbuild, TypeScript; jsQR and qrcode-generator
# are bundled in) and installed with `npm ci`; the same sources give the same bytes.
#
# Usage: scripts/console-build.sh [--check]
#   (none)    type-check, run the unit tests, rebuild web/dist/ (commit the result)
#   --check   the same into a scratch directory, then fail if it differs from the committed
#             web/dist/ (CI: the embedded assets are exactly what the sources build)
# Needs Node.js ≥ 18 with npm (installed from Debian's packages when missing, as root).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

check=false
for arg in "$@"; do
    case "$arg" in
        --check) check=true ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "console-build: unknown argument $arg" >&2; exit 2 ;;
    esac
done
say() { echo "console-build: $*"; }

ensure_commands node:nodejs npm:npm
cd web
# `npm ci` installs exactly the lockfile, and only when it changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.mps-installed-lock; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.mps-installed-lock
fi
npx --no-install tsc --noEmit -p .
node build.mjs --test
if $check; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    node build.mjs --out "$scratch/dist"
    if ! diff -r "$scratch/dist" dist >/dev/null; then
        diff -r "$scratch/dist" dist | head -n 20 >&2 || true
        echo "console-build: web/dist/ is not what the sources build; run scripts/console-build.sh and commit web/dist/" >&2
        exit 1
    fi
    say "web/dist/ matches its sources ($(find dist -type f | wc -l) files)"
else
    node build.mjs
    say "built web/dist/ ($(find dist -type f | wc -l) files); rebuild mps to embed it"
fi
