#!/usr/bin/env bash
# e2e_readme: README.md's quick start, run as written, so that it cannot
# drift from what works. Every ```sh block of README.md that the line
# `<!-- quickstart ... -->` precedes is read from README.md itself and run
# line by line (a line ending in `\` continues on the next) with the real
# clients, each in a terminal of its own (as a user types them): prompts for
# a user name or password are answered with admin and admin's password, as
# the README says. Only the placeholders the README defines are replaced:
# CERTDIR (a directory holding keepd's certificate as ca.crt) and PASSWORD
# (admin's password); `layout` is an OCI layout the test makes in the
# directory the commands run in. A command that fails fails the test with its
# README line and output.
#
# keepd starts as `./keep.sh run` starts it, with its embedded defaults (no
# config file: HTTPS on 0.0.0.0:5000, a self-signed certificate, a generated
# admin password), its data in the test's temp dir, as root with
# --allow-root. So that localhost:5000 is free and the test's own, keepd,
# dockerd and the clients run in a network namespace of the test's own; and
# the test runs in a mount namespace of its own over a private
# /etc/docker/certs.d, so that a localhost:5000/ca.crt the machine's user
# placed there is neither used nor touched.
#
# The outcome the README promises is checked too: the image docker pulled is
# the one pushed; the user the keepctl block adds is refused the image before
# the `keepctl sign` line (quarantined) and may pull it after.
set -euo pipefail
if [[ -z ${KEEP_E2E_README_MOUNT_NS:-} ]]; then
  exec unshare --mount --propagation private env KEEP_E2E_README_MOUNT_NS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
e2e_init readme "${1:-}" "${2:-}"
[[ -n $KEEPCTL ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo podman dockerd script perl ip nsenter
README=$(readlink -f "$(dirname "$0")/../../README.md")
[[ -f $README ]] || fail "no README.md at $README"
ADMIN="admin" # the first admin's name, as the README says
QS_TIMEOUT=120 # seconds one README command may take

if [[ -d /etc/docker/certs.d ]]; then
  mount -t tmpfs -o mode=0755 keep-e2e-readme /etc/docker/certs.d ||
    fail "cannot mount a private /etc/docker/certs.d"
fi

# ---- the quick start, from README.md -------------------------------------------

# Prints each command of the marked blocks as BLOCK<TAB>LINE<TAB>COMMAND;
# a marker not followed by a ```sh block prints "BAD<TAB>LINE".
readme_commands() {
  awk '
    /^<!-- *quickstart/ { if (armed) print "BAD\t" armed; armed = NR; next }
    armed && /^```sh[[:space:]]*$/ { armed = 0; inblock = 1; block++; next }
    armed && !/^[[:space:]]*$/ { print "BAD\t" armed; armed = 0 }
    inblock && /^```/ { if (cmd != "") print "BAD\t" start; inblock = 0; cmd = ""; next }
    inblock {
      if (cmd == "") {
        if ($0 ~ /^[[:space:]]*(#.*)?$/) next   # blank or comment only
        start = NR
      }
      if ($0 ~ /\\$/) { cmd = cmd substr($0, 1, length($0) - 1); next }
      print block "\t" start "\t" cmd $0
      cmd = ""
    }
    END { if (armed || inblock) print "BAD\t" (armed ? armed : start) }
  ' "$README"
}

check "README.md's quick-start blocks"
mapfile -t QS < <(readme_commands)
for c in "${QS[@]}"; do
  [[ $c != BAD$'\t'* ]] || fail "README.md:${c#BAD$'\t'}: a quickstart marker must come right before a \`\`\`sh block, closed"
done
nblocks=$(printf '%s\n' "${QS[@]}" | cut -f1 | sort -u | wc -l)
((nblocks >= 2)) || fail "README.md marks $nblocks quickstart block(s), expected 2 (the clients, then keepctl)"
ok "${#QS[@]} commands in $nblocks blocks"
grep -qE $'\tkeepctl sign ' < <(printf '%s\n' "${QS[@]}") ||
  fail "README.md's quick start has no 'keepctl sign' line, whose outcome this test checks"
grep -qE $'\tkeepctl user add ' < <(printf '%s\n' "${QS[@]}") ||
  fail "README.md's quick start has no 'keepctl user add' line, whose outcome this test checks"

# ---- keepd with the embedded defaults ------------------------------------------

netns_init  # lo only: keepd on localhost:5000, as on the README's machine
check "keepd with its defaults (no config file), as ./keep.sh run starts it"
KEEP_DATA="$T/keep-data"
KEEP_LOG="$T/keepd.requests.log"
KEEP_ERR="$T/keepd.stderr.log"
# Nothing but the data directory, which ./keep.sh run also sets this way.
"${E2E_IN_NS[@]}" env -u KEEP_LISTEN -u KEEP_TLS_CERT -u KEEP_TLS_KEY -u KEEP_THREADS \
  -u KEEP_ALLOW_ROOT -u KEEP_LOG_REQUESTS -u KEEP_ADMIN_PASSWORD KEEP_DATA_DIR="$KEEP_DATA" \
  "$KEEPD" --allow-root >"$KEEP_LOG" 2>"$KEEP_ERR" &
KEEP_PID=$!
E2E_PIDS+=("$KEEP_PID")
for ((i = 0; i < 100; i++)); do
  kill -0 "$KEEP_PID" 2>/dev/null || break
  grep -q 'listening on' "$KEEP_ERR" && break
  sleep 0.1
done
if ! kill -0 "$KEEP_PID" 2>/dev/null || ! grep -q 'listening on' "$KEEP_ERR"; then
  sed 's/^/    | /' "$KEEP_ERR" >&2
  fail "keepd did not start listening within 10 s"
fi
grep -q 'listening on https://0.0.0.0:5000 ' "$KEEP_ERR" ||
  fail "keepd's default is not 0.0.0.0:5000: $(grep 'listening on' "$KEEP_ERR")"
ok "$(grep 'listening on' "$KEEP_ERR" | sed "s|$T|\$T|g")"
KEEP_HOST=localhost:5000
KEEP_URL="https://$KEEP_HOST"

check "keepd printed its certificate's path and, with no terminal, the file holding admin's password"
cert=$(sed -n 's/^keepd: made a self-signed TLS certificate \(.*\)$/\1/p' "$KEEP_ERR")
[[ -n $cert && -s $cert ]] || fail "no 'made a self-signed TLS certificate PATH' line naming a file: $(cat "$KEEP_ERR")"
pwfile=$(sed -n 's/^keepd: created the first admin user "admin"; its password is in \(.*\) (readable.*/\1/p' "$KEEP_ERR")
[[ -n $pwfile && -s $pwfile ]] || fail "no line naming the file of admin's password: $(cat "$KEEP_ERR")"
expect_eq "mode of $(basename "$pwfile")" 600 "$(stat -c %a "$pwfile")"
ADMIN_PASSWORD=$(head -n1 "$pwfile")
CERT_DIR="$T/certs"
mkdir -p "$CERT_DIR"
cp "$cert" "$CERT_DIR/ca.crt"
KEEP_CA="$CERT_DIR/ca.crt"
KEEP_CREDS="$ADMIN:$ADMIN_PASSWORD"
code=$("${E2E_IN_NS[@]}" curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert "$KEEP_CA" \
  -u "$KEEP_CREDS" "$KEEP_URL/v2/") || fail "curl could not reach $KEEP_URL with the printed certificate"
expect_eq "GET $KEEP_URL/v2/ as admin, the printed certificate as CA" 200 "$code"

# ---- what the commands run with --------------------------------------------------

# The clients the README names, each with private state in $T: podman's
# storage, docker's engine (a dockerd of the test's own, which trusts the
# certificate through /etc/docker/certs.d/localhost:5000/ca.crt as the
# README says), and keepctl, on the PATH as ./keep.sh run puts it there.
podman_init
dockerd_start
WORK="$T/work"
mkdir -p "$WORK" "$T/bin"
ln -s "$KEEPCTL" "$T/bin/keepctl"
make_test_image "$WORK/layout" latest
export KEEPCTL_CONFIG="$T/keepctl.json"
# shellcheck disable=SC2016  # (written for the command's shell to expand)
{
  echo "# The environment of one README command."
  declare -p PODMAN DOCKER
  echo 'podman() { "${PODMAN[@]}" "$@"; }'
  echo 'docker() { "${DOCKER[@]}" "$@"; }'
  printf 'export PATH=%q:"$PATH"\n' "$T/bin"
  printf 'cd %q\n' "$WORK"
} >"$T/qs-env.sh"

# in_terminal OUT FILE: runs `bash FILE` in a terminal of its own (in the
# network namespace), its output in OUT; answers a prompt for a user name
# with admin, one for a password with admin's password. Returns its status.
in_terminal() {
  local out=$1 file=$2 pid fd answered=0 size tail i
  rm -f "$T/tty.in"
  mkfifo "$T/tty.in"
  SHELL=/bin/bash "${E2E_IN_NS[@]}" script -qfec "bash --noprofile --norc $file" /dev/null \
    <"$T/tty.in" >"$out" 2>&1 &
  pid=$!
  exec {fd}>"$T/tty.in"
  for ((i = 0; i < QS_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    size=$(stat -c %s "$out")
    if ((size > answered)); then
      tail=$(tail -c 200 "$out" | tr -d '\r' | tail -n1)
      if [[ $tail =~ [Uu]sername.*:\ ?$ ]]; then
        printf '%s\n' "$ADMIN" >&"$fd"
        answered=$size
      elif [[ $tail =~ [Pp]assword.*:\ ?$ ]]; then
        printf '%s\n' "$ADMIN_PASSWORD" >&"$fd"
        answered=$size
      fi
    fi
    sleep 0.1
  done
  exec {fd}>&-
  if kill -0 "$pid" 2>/dev/null; then
    stop_pid "$pid"
    echo "(still running after ${QS_TIMEOUT}s: stopped)" >>"$out"
    return 124
  fi
  wait "$pid"
}

# alice_pull EXPECT: the user the README added pulls the signed reference
# with skopeo; EXPECT is "refused" or "allowed".
alice_pull() {
  local out="$T/alice-pull-$1.log" rc=0
  rm -rf "$T/alice-pulled"
  "${E2E_IN_NS[@]}" skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" \
    --src-creds "$QS_USER:$QS_USER_PASSWORD" "docker://$KEEP_HOST/$QS_SIGNED" \
    "oci:$T/alice-pulled:latest" >"$out" 2>&1 || rc=$?
  if [[ $1 == refused ]]; then
    ((rc != 0)) || fail "$QS_USER pulled $QS_SIGNED before it was signed"
    grep -q quarantined "$out" || fail "$QS_USER's pull failed, but not as quarantined: $(cat "$out")"
    ok "refused: $(grep -o 'denied:.*quarantined[^"]*' "$out" | head -n1)"
  else
    ((rc == 0)) || { sed 's/^/    | /' "$out" >&2; fail "$QS_USER cannot pull $QS_SIGNED after it was signed"; }
    expect_eq "manifest $QS_USER pulled" "$IMG_MANIFEST" "$(layout_manifest_digest "$T/alice-pulled" latest)"
  fi
}

# ---- the quick start, command by command ---------------------------------------

export QS_CERTDIR QS_PASSWORD
QS_CERTDIR=$(printf %q "$CERT_DIR")
QS_PASSWORD=$(printf %q "$ADMIN_PASSWORD")
QS_USER="" QS_USER_PASSWORD="" QS_SIGNED="" QS_DOCKER_PULLED=""
n=0
for c in "${QS[@]}"; do
  IFS=$'\t' read -r _ lineno cmd <<<"$c"
  n=$((n + 1))
  if [[ $cmd =~ ^keepctl\ sign\ ([^ ]+) ]]; then
    QS_SIGNED=${BASH_REMATCH[1]}
    [[ -n $QS_USER ]] || fail "README.md:$lineno: signs before adding a user"
    check "before README.md:$lineno signs it, $QS_USER may not pull $QS_SIGNED"
    alice_pull refused
  fi
  check "README.md:$lineno \$ $cmd"
  run=$(perl -pe 's/\bCERTDIR\b/$ENV{QS_CERTDIR}/g; s/\bPASSWORD\b/$ENV{QS_PASSWORD}/g' <<<"$cmd")
  { cat "$T/qs-env.sh"; printf '%s\n' "$run"; } >"$T/qs-$n.sh"
  rc=0
  in_terminal "$T/qs-$n.log" "$T/qs-$n.sh" || rc=$?
  if ((rc != 0)); then
    tr -d '\r' <"$T/qs-$n.log" | sed 's/^/    | /' >&2
    fail "README.md:$lineno: this quick-start command failed (exit $rc): $cmd"
  fi
  ok "exit 0: $(tr -d '\r' <"$T/qs-$n.log" | grep -v '^[[:space:]]*$' | tail -n1 | cut -c1-150)"
  if [[ $cmd =~ ^keepctl\ user\ add\ ([^ ]+) ]]; then
    QS_USER=${BASH_REMATCH[1]}
    QS_USER_PASSWORD=$(tr -d '\r' <"$T/qs-$n.log" | sed -n 's/^Password: //p' | head -n1)
    [[ -n $QS_USER_PASSWORD ]] || fail "README.md:$lineno: keepctl user add printed no 'Password: ...' line"
  fi
  if [[ $cmd =~ ^docker\ pull\ ([^ ]+) ]]; then QS_DOCKER_PULLED=${BASH_REMATCH[1]}; fi
done

# ---- what the README promised ---------------------------------------------------

if [[ -n $QS_DOCKER_PULLED ]]; then
  check "docker holds $QS_DOCKER_PULLED, the image of the OCI layout the README's skopeo line pushed"
  expect_eq "image ID" "$IMG_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$QS_DOCKER_PULLED")"
fi
check "after README's 'keepctl sign', $QS_USER may pull $QS_SIGNED (\"now alice may pull it\")"
alice_pull allowed
