#!/usr/bin/env bash
# Lints the OpenAPI document with a standard linter and a standard consumer: Redocly's
# recommended rules must report no error (the warnings are counted, by rule), and
# openapi-typescript must turn the document into types that TypeScript compiles.
# `make lint` runs it on gen/openapi/waybill.openapi.json; an argument names another document.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=${1:-gen/openapi/waybill.openapi.json}
bin=tools/openapi/node_modules/.bin
scripts/openapi-tools.sh
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true

status=0
"$bin/redocly" lint --format=json "$doc" >"$scratch/lint.json" 2>"$scratch/lint.log" || status=$?
node -e '
const r = require(process.argv[1]);
const byRule = {};
for (const p of r.problems) byRule[`${p.severity} ${p.ruleId}`] = (byRule[`${p.severity} ${p.ruleId}`] || 0) + 1;
console.log(`redocly lint: ${r.totals.errors} errors, ${r.totals.warnings} warnings` +
  Object.entries(byRule).map(([k, n]) => `\n  ${k}: ${n}`).join(""));
' "$scratch/lint.json" || { cat "$scratch/lint.log" >&2; exit 1; }
if [[ $status -ne 0 ]]; then
  "$bin/redocly" lint --format=stylish --max-problems=50 "$doc" 2>/dev/null || true
  echo "redocly lint failed on $doc" >&2
  exit 1
fi

"$bin/openapi-typescript" "$doc" --output "$scratch/waybill.d.ts" >"$scratch/ts.log" 2>&1 ||
  { cat "$scratch/ts.log" >&2; echo "openapi-typescript failed on $doc" >&2; exit 1; }
"$bin/tsc" --noEmit --strict "$scratch/waybill.d.ts"
echo "openapi-typescript: $(wc -l <"$scratch/waybill.d.ts") lines of types that compile"
