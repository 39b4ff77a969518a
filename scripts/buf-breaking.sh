#!/usr/bin/env bash
# Runs `buf breaking` against the main branch, when main has a proto tree to compare with.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --verify -q main >/dev/null && git cat-file -e main:proto 2>/dev/null; then
  go tool buf breaking --against '.git#branch=main'
else
  echo "buf breaking: no proto/ on main yet; nothing to compare"
fi
