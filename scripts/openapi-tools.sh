#!/usr/bin/env bash
# Installs the npm tools pinned by tools/openapi/package-lock.json (npm ci), unless
# tools/openapi/node_modules already holds exactly what the lock file pins.
set -euo pipefail
cd "$(dirname "$0")/../tools/openapi"
if ! cmp -s package-lock.json node_modules/.waybill-installed-lock.json; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.waybill-installed-lock.json
fi
