#!/usr/bin/env bash
# deploy_unit: the systemd unit shipped in deploy/ keeps keepd on a short
# leash. systemd's own offline assessment (`systemd-analyze security
# --offline=yes`) must rate it 2.0 or lower ("OK" or better), and the
# settings the README promises must be there: no capabilities, its own user,
# the system read-only but for the data directory, private /tmp and /proc,
# a system call filter that still lets keepd install its own.
#
# usage: deploy_unit_test.sh UNIT_FILE
set -uo pipefail
UNIT=${1:?usage: deploy_unit_test.sh UNIT_FILE}
MAX=${KEEP_UNIT_MAX_EXPOSURE:-2.0}
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze not found (package systemd)"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
# The assessment names the unit by its file name.
cp "$UNIT" "$T/keepd.service"
out=$(cd "$T" && systemd-analyze security --offline=yes "$T/keepd.service" 2>&1)
status=0
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for keepd.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  echo "FAIL: no exposure level in systemd-analyze's answer:"; printf '%s\n' "$out"; exit 1
fi
if awk -v s="$score" -v m="$MAX" 'BEGIN {exit !(s <= m)}'; then
  echo "PASS: exposure $score (at most $MAX)"
else
  echo "FAIL: exposure $score, above $MAX; what counts against it:"
  printf '%s\n' "$out" | grep '✗'
  status=1
fi
want() {  # key=value that must be set (exactly, as the last such line)
  local key=${1%%=*} got
  got=$(grep -E "^$key=" "$UNIT" | tail -1)
  if [ "$got" = "$1" ]; then echo "PASS: $1"; else echo "FAIL: want $1, found '${got:-nothing}'"; status=1; fi
}
want "User=keep"
want "CapabilityBoundingSet="
want "NoNewPrivileges=yes"
want "ProtectSystem=strict"
want "ReadWritePaths=/var/lib/keep"
want "PrivateTmp=yes"
want "PrivateUsers=yes"
want "ProtectProc=invisible"
want "UMask=0077"
# keepd installs its own seccomp filter at start (security.seccomp, on by
# default): the unit's filter must let that call through, or keepd cannot start.
if grep -E '^SystemCallFilter=' "$UNIT" | grep -v '^SystemCallFilter=~' | grep -qw seccomp; then
  echo "PASS: SystemCallFilter allows seccomp"
else
  echo "FAIL: SystemCallFilter must allow seccomp (keepd's own filter)"; status=1
fi
if grep -qE '^AmbientCapabilities=.+' "$UNIT"; then
  echo "FAIL: AmbientCapabilities set: $(grep -E '^AmbientCapabilities=' "$UNIT")"; status=1
fi
# The data directory the unit opens is the one the shipped config uses.
CONFIG=$(dirname "$UNIT")/keep.json
if [ -f "$CONFIG" ]; then
  dir=$(sed -n 's/.*"data_dir": *"\([^"]*\)".*/\1/p' "$CONFIG")
  if [ "$dir" = /var/lib/keep ]; then echo "PASS: keep.json data_dir is /var/lib/keep"
  else echo "FAIL: keep.json data_dir is '$dir', the unit writes only /var/lib/keep"; status=1; fi
fi
exit $status
