#!/usr/bin/env bash
# Installs, builds and starts the embedded default: master + embedded MQTT broker + SQLite +
# a local demo agent. Prints the console URL and the admin login. Ctrl-C stops everything.
# Data (database, master secret, demo agent state) lives in ./.data unless EDGESTELLE_DATA_DIR says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  echo "EdgeStelle needs Node.js 20.19 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Install it from your distribution or https://nodejs.org, then run this again." >&2
  exit 69
fi

# Install only when the lock file changed since the last install (better-sqlite3 compiles for about a minute).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "Building…"
npm run build --silent

export EDGESTELLE_DATA_DIR="${EDGESTELLE_DATA_DIR:-$PWD/.data}"
exec node packages/cli/dist/main.js master --demo "$@"
