#!/usr/bin/env bash
# tests/scale/with_postgres.sh COMMAND [ARGS...]
#
# Runs COMMAND with a throw-away PostgreSQL 15 (tests/scale/postgres.sh):
# KEEP_TEST_POSTGRES and KEEP_TEST_POSTGRES_PASSWORD are set, so that every
# keepd the C++ test support starts keeps its metadata there, each in a
# schema of its own (tests/support/keepd_process.h); and KEEP_CONFIG_EXTRA
# gains metadata.driver "postgres" and KEEP_POSTGRES_PASSWORD is set, for
# the keepd of an end-to-end test (keep_start in tests/e2e/lib.sh). After
# COMMAND, the database must hold keepd's tables, or the command did not run
# against it. The server is stopped and its files removed at the end.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/keep-pg.XXXXXX)
cleanup() {
  bash "$here/postgres.sh" stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT

# shellcheck source=tests/e2e/free_port.sh
source "$here/../e2e/free_port.sh"
port=$(free_port)

bash "$here/postgres.sh" start "$dir" "$port" >/dev/null
# shellcheck disable=SC1091
source "$dir/pg.env"
export KEEP_TEST_POSTGRES=$PG_CONNINFO KEEP_TEST_POSTGRES_PASSWORD=$PG_PASSWORD
export KEEP_POSTGRES_PASSWORD=$PG_PASSWORD
KEEP_CONFIG_EXTRA="${KEEP_CONFIG_EXTRA:+$KEEP_CONFIG_EXTRA,}\"metadata\":{\"driver\":\"postgres\",\"postgres\":{\"conninfo\":\"$PG_CONNINFO\"}}"
export KEEP_CONFIG_EXTRA
status=0
"$@" || status=$?
tables=$(PGPASSWORD=$PG_PASSWORD psql "$PG_CONNINFO" -Atc \
  "SELECT count(*) FROM pg_tables WHERE tablename = 'manifests'" 2>&1) || true
if [ "$status" = 0 ] && ! [ "${tables:-0}" -gt 0 ] 2>/dev/null; then
  echo "with_postgres.sh: FAIL: the database holds no keepd tables after the command ($tables)" >&2
  status=1
fi
exit $status
