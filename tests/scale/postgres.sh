#!/usr/bin/env bash
# tests/scale/postgres.sh start DIR [PORT]
# tests/scale/postgres.sh stop DIR
# tests/scale/postgres.sh restart DIR
#
# Brings up a throw-away PostgreSQL 15 for the scale tests: a cluster made
# by initdb under DIR/pg, listening on 127.0.0.1:PORT (default 5433) and on
# a socket in DIR/pg, with a role and a database named keep whose password
# is random. Durability is off (fsync, synchronous_commit, full-page
# writes): the data is thrown away with DIR. Nothing under /etc/postgresql
# or /var/lib/postgresql is read or written. As root, the server runs as the
# postgres user (PostgreSQL refuses root); otherwise as the invoking user.
#
# `start` writes DIR/pg.env and prints it:
#   PG_CONNINFO='host=127.0.0.1 port=PORT dbname=keep user=keep'
#   PG_PASSWORD=...
# Progress goes to stderr. `stop` stops the server if it runs; it is safe
# to run twice or after a failed start. `restart` starts a stopped server
# again, with its data (a test's database that went away and came back).
#
# Environment: PG_TIMEOUT (seconds the server may take to start, default
# 60). Needs Debian's postgresql-15 and openssl.
set -euo pipefail

readonly TIMEOUT=${PG_TIMEOUT:-60}
readonly BIN=/usr/lib/postgresql/15/bin

die() {
  echo "postgres.sh: error: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start DIR [PORT] | stop DIR | restart DIR" >&2
  exit 2
}

# Runs a command as the user the server runs as.
as_server() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --clear-groups env HOME=/tmp "$@"
  else
    "$@"
  fi
}

start() {
  local dir=$1 port=$2
  [ -x "$BIN/initdb" ] || die "no $BIN/initdb: install postgresql-15"
  mkdir -p "$dir/pg"
  dir=$(cd "$dir" && pwd)
  local pg=$dir/pg data=$dir/pg/data
  [ -e "$data" ] && die "$data exists: stop and remove it first"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$pg"
    # The server's user must reach its directory through DIR's parents.
    local up=$dir
    while [ "$up" != / ]; do
      chmod o+x "$up" 2>/dev/null || true
      up=$(dirname "$up")
    done
  fi
  local password
  password=$(openssl rand -hex 16)
  as_server sh -c "umask 077; openssl rand -hex 16 >'$pg/superuser.pw'"
  echo "postgres.sh: initdb $data" >&2
  as_server "$BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$pg/superuser.pw" -E UTF8 --locale=C.UTF-8 --no-sync >"$pg/initdb.log" 2>&1 ||
    { tail -20 "$pg/initdb.log" >&2; die "initdb failed"; }
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pg'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
max_connections = 200
CONF
  echo "postgres.sh: starting on 127.0.0.1:$port" >&2
  as_server "$BIN/pg_ctl" -D "$data" -l "$pg/server.log" -w -t "$TIMEOUT" start >/dev/null ||
    { tail -20 "$pg/server.log" >&2; die "the server did not start"; }
  as_server psql -h "$pg" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE keep LOGIN PASSWORD '$password'" -c "CREATE DATABASE keep OWNER keep" >&2
  umask 077
  cat >"$dir/pg.env" <<ENV
PG_CONNINFO='host=127.0.0.1 port=$port dbname=keep user=keep'
PG_PASSWORD=$password
ENV
  cat "$dir/pg.env"
}

stop() {
  local dir=$1
  local data=$dir/pg/data
  [ -f "$data/postmaster.pid" ] || return 0
  as_server "$BIN/pg_ctl" -D "$data" -m immediate -w -t "$TIMEOUT" stop >/dev/null 2>&1 || true
}

restart() {
  local pg=$1/pg
  as_server "$BIN/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t "$TIMEOUT" start >/dev/null ||
    { tail -20 "$pg/server.log" >&2; die "the server did not start again"; }
}

case "${1:-}" in
  start) [ $# -ge 2 ] || usage; start "$2" "${3:-5433}" ;;
  stop) [ $# -ge 2 ] || usage; stop "$2" ;;
  restart) [ $# -ge 2 ] || usage; restart "$2" ;;
  *) usage ;;
esac
