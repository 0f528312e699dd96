#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (Debian packages when missing,
# npm packages from the lock file), builds, type-checks, lints and runs every test.
# The last line it prints is `N passed, N failed[, N skipped]`, counted from the runner's results.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
artifacts="$root/test-artifacts"
mkdir -p "$artifacts"

step() { printf '\n== %s\n' "$*"; }

# --- Debian packages ----------------------------------------------------------------------
need=()
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  step "installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- PostgreSQL -----------------------------------------------------------------------------
# Tests create and drop their own databases. Use the machine's server when it takes
# password-less connections as postgres on 127.0.0.1:5432; otherwise run a private one.
pg_private=""
cleanup() {
  if [ -n "$pg_private" ]; then
    su postgres -s /bin/sh -c "$(ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1) -D '$pg_private/data' -m fast stop" >/dev/null 2>&1 || true
    rm -rf "$pg_private"
  fi
}
trap cleanup EXIT
if [ -z "${EDGESTELLE_TEST_POSTGRES_URL:-}" ] &&
  ! psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
  step "starting a private PostgreSQL for the tests"
  bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)")
  pg_private=$(mktemp -d /tmp/edgestelle-pg-XXXXXX)
  chown postgres "$pg_private"
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  su postgres -s /bin/sh -c "$bin/initdb -D '$pg_private/data' -A trust -U postgres >/dev/null"
  su postgres -s /bin/sh -c "$bin/pg_ctl -D '$pg_private/data' -o '-p $port -k $pg_private -c listen_addresses=127.0.0.1' -l '$pg_private/log' -w start >/dev/null"
  export EDGESTELLE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
fi

# --- npm ---------------------------------------------------------------------------------------
step "npm ci"
npm ci --no-audit --no-fund --loglevel=error
step "build"
npm run build --silent
step "typecheck"
npm run typecheck --silent
step "lint"
npm run lint --silent
step "bench smoke (it must run and write its JSON; the figures are not checked)"
rm -f bench/results/smoke.json
npm run bench --silent -- --smoke --json
test -s bench/results/smoke.json

# --- tests -------------------------------------------------------------------------------------
step "tests"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$artifacts/vitest.json" || status=$?
node scripts/test-summary.mjs "$artifacts/vitest.json" || status=1
exit "$status"
