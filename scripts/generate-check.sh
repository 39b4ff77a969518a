#!/usr/bin/env bash
# Regenerates gen/ into a scratch folder and fails if it differs from the committed gen/
# (all of gen/waybill, and the OpenAPI document and its /docs page).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
go tool buf generate --output "$scratch"
scripts/openapi-generate.sh "$scratch/gen"
status=0
diff -r "$scratch/gen/waybill" gen/waybill || status=1
diff -r "$scratch/gen/openapi" gen/openapi -x '*.go' -x '*.html' || status=1
# The /docs page holds inlined scripts in lines of hundreds of kilobytes: report a
# difference, do not print it.
cmp -s "$scratch/gen/openapi/docs.html" gen/openapi/docs.html || { echo "gen/openapi/docs.html differs"; status=1; }
if [[ $status -ne 0 ]]; then
  echo "gen/ is out of date: run 'make generate' and commit the result" >&2
fi
exit $status
