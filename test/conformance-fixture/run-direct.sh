#!/usr/bin/env bash
# Every server scenario of the official MCP conformance suite (both vendored versions) directly
# against the conformance fixture, no gateway (see docs/conformance-fixture.md). Installs
# test/conformance's own dependencies (the suite and its Node 22) when missing or stale, then
# runs run-direct.ts on the project's Node. Arguments go to run-direct.ts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
conformance="$root/test/conformance"

if [ ! -x "$root/node_modules/.bin/tsx" ]; then
  echo "conformance-fixture: the project's dependencies are missing; run npm ci at the repository root" >&2
  exit 2
fi
stamp="$conformance/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$conformance/package-lock.json" -nt "$stamp" ]; then
  # Registry tarballs only, no install scripts (the Node 22 binary is a plain platform package).
  (cd "$conformance" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

# A hard ceiling over everything (run-direct.ts also bounds each scenario and the whole run).
exec timeout --kill-after=15s "${CONFORMANCE_FIXTURE_RUN_TIMEOUT:-900}s" \
  "$root/node_modules/.bin/tsx" "$here/run-direct.ts" "$@"
