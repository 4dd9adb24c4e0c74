#!/usr/bin/env bash
# StrykerJS mutation testing of the authorization core (see docs/testing.md, "Mutation testing").
# Installs this folder's own dependencies (Stryker and its plugins; they use the project's vitest
# and typescript) when missing or stale, then runs Stryker from the repository root in incremental
# mode: a rerun tests only the mutants whose code or tests changed. Arguments go to `stryker run`
# (e.g. --force for a full run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x "$root/node_modules/.bin/vitest" ]; then
  echo "mutation: the project's dependencies are missing; run npm ci at the repository root" >&2
  exit 2
fi
stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
  # legacy-peer-deps (.npmrc): vitest and typescript come from the root, never a second copy.
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi

cd "$root"
exec "$here/node_modules/.bin/stryker" run "$here/stryker.config.mjs" "$@"
