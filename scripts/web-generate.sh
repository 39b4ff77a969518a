#!/usr/bin/env bash
# Writes what is generated from the OpenAPI document and the pages' sources:
#   sdk/typescript/src/schema.ts  the SDK's types (openapi-typescript, from gen/openapi/waybill.openapi.json)
#   sdk/typescript/dist/          the SDK compiled to JavaScript with its declarations (tsc)
#   web/dist/                     the pages, built by Vite; the gateway embeds them (package web)
# `make generate` runs it after gen/ is written. With --check it writes everything into a
# scratch folder and fails if the committed files differ (`make generate-check`).
set -euo pipefail
cd "$(dirname "$0")/.."
check=false
[[ ${1:-} == --check ]] && check=true
scripts/web-tools.sh
out=$PWD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if $check; then
  out=$(mktemp -d)
  trap 'rm -f "$log"; rm -rf "$out"' EXIT
  mkdir -p "$out/sdk/typescript/src"
fi
sdk=sdk/typescript
# openapi-typescript prints a banner on every run: show its output only on failure.
if ! "$sdk/node_modules/.bin/openapi-typescript" gen/openapi/waybill.openapi.json -o "$out/$sdk/src/schema.ts" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -rf "$out/$sdk/dist"
if $check; then
  # Compile the committed sources: a stale schema.ts is reported by its own diff below.
  "$sdk/node_modules/.bin/tsc" -p "$sdk" --outDir "$out/$sdk/dist"
else
  "$sdk/node_modules/.bin/tsc" -p "$sdk"
fi
(cd web && node_modules/.bin/vite build --outDir "$out/web/dist" --emptyOutDir)
$check || exit 0
status=0
diff -q "$out/$sdk/src/schema.ts" "$sdk/src/schema.ts" >/dev/null || { echo "$sdk/src/schema.ts differs"; status=1; }
diff -r "$out/$sdk/dist" "$sdk/dist" >/dev/null || { diff -rq "$out/$sdk/dist" "$sdk/dist"; status=1; }
diff -r "$out/web/dist" web/dist >/dev/null || { diff -rq "$out/web/dist" web/dist; status=1; }
if [[ $status -ne 0 ]]; then
  echo "the TypeScript SDK or the pages are out of date: run 'make generate' and commit the result" >&2
fi
exit $status
