#!/usr/bin/env bash
# The official MCP conformance suite against the embedded gateway (see docs/conformance.md).
# Installs this folder's own dependencies (the suite and the Node 22 it needs) when missing or
# stale, then runs the driver on the project's Node. Arguments go to the driver.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x "$root/node_modules/.bin/tsx" ]; then
  echo "conformance: the project's dependencies are missing; run npm ci at the repository root" >&2
  exit 2
fi
stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
  # Only registry tarballs, no install scripts: the Node 22 binary is a plain platform package.
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

# A hard ceiling over the whole run (each scenario has its own, smaller one inside the driver).
exec timeout --kill-after=15s "${CONFORMANCE_RUN_TIMEOUT:-600}s" \
  "$root/node_modules/.bin/tsx" "$here/run-conformance.ts" "$@"
