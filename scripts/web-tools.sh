#!/usr/bin/env bash
# Installs the npm packages pinned by sdk/typescript/package-lock.json and
# web/package-lock.json (npm ci), each unless its node_modules already holds exactly what
# its lock file pins.
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in sdk/typescript web; do
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.waybill-installed-lock.json"; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$dir/node_modules/.waybill-installed-lock.json"
  fi
done
