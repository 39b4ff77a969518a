#!/usr/bin/env bash
# Writes GEN_DIR/openapi's API description from the Swagger 2.0 document that buf generate
# left there (protoc-gen-openapiv2): the OpenAPI 3 document waybill.openapi.json
# (tools/openapi converts it and refuses one that fails its checks) and docs.html, the
# /docs page (Redoc, with its scripts and the document inlined: it loads nothing at run
# time). `make generate` runs it on gen/, scripts/generate-check.sh on a scratch copy.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/openapi-generate.sh GEN_DIR}/openapi
scripts/openapi-tools.sh
go run ./tools/openapi -in "$dir/waybill.swagger.json" -out "$dir/waybill.openapi.json"
rm "$dir/waybill.swagger.json"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Redocly prints a Node.js deprecation notice on every run: show its output only on failure.
if ! REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true tools/openapi/node_modules/.bin/redocly \
  build-docs "$dir/waybill.openapi.json" --inlineBundle --title "Waybill API reference" \
  --output "$dir/docs.html" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
