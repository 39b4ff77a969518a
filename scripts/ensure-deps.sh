#!/usr/bin/env bash
# Makes sure what `make run` and `make test` need from the machine is there: PostgreSQL's
# server binaries (initdb, pg_ctl, postgres) for the throwaway clusters, curl and jq
# for scripts/demo.sh (which the end-to-end test runs), and Chromium for the browser tests
# of the pages (web/, driven by playwright-core: its own browser download cannot work
# here). Installs Debian's packages when run as root; otherwise says what to install.
# Node.js and npm (for the OpenAPI tools, the SDK and the pages) come with the machine
# image.
set -euo pipefail
missing=()
have_postgres() {
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" && -x "$d/postgres" ]] && return 0
  done
  command -v postgres >/dev/null && command -v initdb >/dev/null
}
have_postgres || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v chromium >/dev/null || missing+=(chromium)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing Debian's packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "missing: ${missing[*]}: install them, e.g. 'sudo apt-get install -y ${missing[*]}' (PostgreSQL is not needed with DATABASE_URL set)" >&2
exit 1
