#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) exist, so `waybill up`
# and the tests can start a throwaway cluster. Installs Debian's package when run as root.
set -euo pipefail
for d in /usr/lib/postgresql/*/bin; do
  [[ -x "$d/initdb" && -x "$d/postgres" ]] && exit 0
done
command -v postgres >/dev/null && command -v initdb >/dev/null && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  exit 0
fi
echo "PostgreSQL server binaries (initdb, postgres) are missing: install them, e.g. 'sudo apt-get install -y postgresql', or set DATABASE_URL" >&2
exit 1
