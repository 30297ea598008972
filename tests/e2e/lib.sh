# tests/e2e/lib.sh — shared steps of Keep's end-to-end tests.
#
# Each test script is run by ctest as `bash SCRIPT PATH/TO/keepd PATH/TO/keepctl`
# (scripts that do not use keepctl ignore the second argument), sets
# `set -euo pipefail` and sources this file, then calls e2e_init. Everything
# a test makes lives in one temp dir ($T); daemons it starts are recorded and
# stopped by PID in the EXIT trap, together with any /etc/docker/certs.d entry
# and network namespace it created. Clients used: skopeo, podman, dockerd +
# docker, ctr, as Debian 12 packages them.

# shellcheck disable=SC2034  # (variables set here are read by the test scripts)
E2E_ADMIN_USER="admin"
E2E_ADMIN_PASSWORD="e2e-$RANDOM$RANDOM-pw"
E2E_PIDS=()          # daemons to stop, in start order
E2E_CLEANUP_PATHS=() # paths outside $T to remove
E2E_CLEANUP_DIRS=()  # directories outside $T it made: removed if left empty
E2E_CLEANUP_CMDS=()  # commands (strings) run after the daemons stop, before $T goes
E2E_NETNS=""         # the test's own network namespace (netns_init), deleted at exit
E2E_IN_NS=()         # runs a command in that namespace; empty: on the host
E2E_STEP=""

# ---- messages ---------------------------------------------------------------

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
check() {
  E2E_STEP="$*"
  printf '[%s] CHECK: %s\n' "$(date +%T)" "$*"
}
ok() { printf '[%s]   ok: %s\n' "$(date +%T)" "${*:-$E2E_STEP}"; }
fail() {
  printf '[%s] FAIL: %s\n' "$(date +%T)" "$*" >&2
  [[ -n "$E2E_STEP" ]] && printf '  while checking: %s\n' "$E2E_STEP" >&2
  exit 1
}
need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || fail "required tool '$c' is not installed"
  done
}
# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
  [[ "$2" == "$3" ]] || fail "$1: expected '$2', got '$3'"
  ok "$1 = $3"
}
# run_logged NAME CMD...: runs a client command with its output in $T/NAME.log;
# on failure shows that output and fails.
run_logged() {
  local name=$1
  shift
  log "$ ${*//$T/\$T}"
  if ! "$@" >"$T/$name.log" 2>&1; then
    sed 's/^/    | /' "$T/$name.log" >&2
    fail "$name: the command failed (output above): ${*//$T/\$T}"
  fi
}

# ---- setup and teardown -----------------------------------------------------

# e2e_init NAME KEEPD [KEEPCTL]: makes $T, checks tools, installs the EXIT trap.
# ctest passes every script keepctl's path as its second argument; KEEPCTL is
# set (absolute) when it is given, and left empty otherwise.
e2e_init() {
  E2E_NAME=$1
  KEEPD=${2:-}
  KEEPCTL=${3:-}
  [[ -n "$KEEPD" && -x "$KEEPD" ]] || fail "usage: $0 PATH/TO/keepd [PATH/TO/keepctl] (got '${KEEPD}')"
  KEEPD=$(readlink -f "$KEEPD")
  if [[ -n "$KEEPCTL" ]]; then
    [[ -x "$KEEPCTL" ]] || fail "keepctl '$KEEPCTL' is not an executable file"
    KEEPCTL=$(readlink -f "$KEEPCTL")
  fi
  [[ $(id -u) == 0 ]] || fail "the end-to-end tests run as root (dockerd, podman vfs)"
  need curl jq openssl sha256sum tar gzip
  # Lower case only: podman derives an image name from an oci: layout's path.
  T="${TMPDIR:-/tmp}/keep-e2e-${E2E_NAME//_/-}-$(openssl rand -hex 4)"
  mkdir -m 755 "$T" || fail "cannot make the temp dir $T"
  trap e2e_cleanup EXIT
  # A command that fails under `set -e` says where, instead of exiting silently.
  set -E
  trap 'e2e_on_err $? "$BASH_COMMAND" "${BASH_SOURCE[0]}" $LINENO' ERR
  trap 'exit 130' INT TERM
  e2e_watchdog "${E2E_TIMEOUT:-0}"
  # Registry credentials for skopeo/podman go to a private file, not /run/containers.
  export REGISTRY_AUTH_FILE="$T/containers-auth.json"
  echo '{}' >"$REGISTRY_AUTH_FILE"  # podman wants it to exist
  log "e2e $E2E_NAME: temp dir $T"
}

# e2e_watchdog SECONDS: past the budget, stops the running client command and
# the script (by PID) so that the EXIT trap still cleans up; ctest's own timeout
# would SIGKILL everything and leave daemons, temp dirs and certs.d entries.
e2e_watchdog() {
  local limit=$1 main=$$
  ((limit > 0)) || return 0
  (
    trap - ERR EXIT
    for ((i = 0; i < limit; i++)); do
      sleep 1
      kill -0 "$main" 2>/dev/null || exit 0
    done
    echo "FAIL: e2e $E2E_NAME ran past its budget of ${limit}s; stopping it" >&2
    kill -TERM "$main"
    for pid in $(ps -o pid= --ppid "$main"); do
      [[ $pid == "$BASHPID" ]] || kill -TERM "$pid" 2>/dev/null
    done
  ) &
  E2E_PIDS+=($!)
}

e2e_on_err() {
  [[ $BASH_SUBSHELL == 0 ]] || return 0  # reported once, by the main shell
  printf '[%s] FAIL: command exited with %s at %s:%s: %s\n' "$(date +%T)" "$1" "${3##*/}" "$4" "$2" >&2
  [[ -n "$E2E_STEP" ]] && printf '  while checking: %s\n' "$E2E_STEP" >&2
  return 0
}

e2e_cleanup() {
  local rc=$?
  set +e
  trap - ERR
  if [[ $rc != 0 && -n "${KEEP_LOG:-}" && -f "$KEEP_LOG" ]]; then
    echo "---- keepd stderr (last 30 lines) ----" >&2
    tail -n 30 "$KEEP_ERR" >&2
    echo "---- keepd request log (last 40 lines) ----" >&2
    tail -n 40 "$KEEP_LOG" >&2
    if [[ -n "${DOCKERD_LOG:-}" && -f "$DOCKERD_LOG" ]]; then
      echo "---- dockerd log (last 20 lines) ----" >&2
      tail -n 20 "$DOCKERD_LOG" >&2
    fi
  fi
  local i pid c
  for ((i = ${#E2E_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${E2E_PIDS[i]}
    stop_pid "$pid"
  done
  for c in "${E2E_CLEANUP_CMDS[@]}"; do eval "$c"; done
  if [[ -n $E2E_NETNS ]]; then
    # Only this test's daemons live in its namespace: anything left there
    # (a containerd a killed dockerd left behind) is stopped before it goes.
    for pid in $(ip netns pids "$E2E_NETNS" 2>/dev/null); do stop_pid "$pid"; done
    ip netns del "$E2E_NETNS" || echo "cannot delete the network namespace $E2E_NETNS" >&2
  fi
  for p in "${E2E_CLEANUP_PATHS[@]}"; do rm -rf -- "$p"; done
  for p in "${E2E_CLEANUP_DIRS[@]}"; do rmdir -- "$p" 2>/dev/null; done
  if [[ -n "${T:-}" && -d "$T" ]]; then
    # vfs/overlay layers of dockerd/containerd may hold mounts below $T.
    grep -o " ${T}[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null
    done
    if [[ $rc != 0 && -n "${E2E_KEEP_TMP:-}" ]]; then
      echo "E2E_KEEP_TMP set: leaving $T" >&2
    else
      rm -rf -- "$T"
    fi
  fi
  if [[ $rc == 0 ]]; then
    log "PASS: e2e $E2E_NAME"
  else
    echo "FAILED: e2e $E2E_NAME (exit $rc)" >&2
  fi
  exit $rc
}

# stop_pid PID: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  kill -CONT "$pid" 2>/dev/null  # a stopped process acts on TERM only once continued
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# free_port: see free_port.sh.
# shellcheck source=tests/e2e/free_port.sh
source "$(dirname "${BASH_SOURCE[0]}")/free_port.sh"

# netns_init ADDR...: a network namespace of the test's own, with lo up and
# each ADDR (an IPv4 address, not loopback) on it as a /32. Daemons and
# clients started through E2E_IN_NS (and keep_start, kcurl, dockerd_start,
# which use it) run there. It is entered with nsenter --net only: `ip netns
# exec` would also remount /sys, which hides the cgroup mounts dockerd needs.
# Deleted at exit, once every process in it is stopped.
netns_init() {
  need ip nsenter
  local a
  E2E_NETNS="keep-e2e-${E2E_NAME//_/-}-$(openssl rand -hex 4)"
  ip netns add "$E2E_NETNS" || { E2E_NETNS=""; fail "cannot make a network namespace"; }
  E2E_IN_NS=(nsenter "--net=/run/netns/$E2E_NETNS")
  ip -n "$E2E_NETNS" link set lo up
  for a in "$@"; do ip -n "$E2E_NETNS" addr add "$a/32" dev lo; done
  log "network namespace $E2E_NETNS with $* on lo"
}

# ---- keepd ------------------------------------------------------------------

# keep_start: starts keepd on a free port with a fresh data dir. Sets
# KEEP_PID KEEP_PORT KEEP_HOST (KEEP_ADDR:PORT) KEEP_URL CERT_DIR (holds ca.crt)
# KEEP_CA KEEP_CREDS (user:password) KEEP_LOG (JSON request lines) KEEP_ERR.
# KEEP_ADDR is 127.0.0.1 unless set. With KEEP_TLS_CERT and KEEP_TLS_KEY
# exported, keepd serves that certificate (which must name KEEP_ADDR) instead
# of making its own; KEEP_TLS_CA is the CA that signed it (default: itself).
keep_start() {
  local tries cert
  for tries in 1 2 3; do
    KEEP_PORT=$(free_port)
    KEEP_HOST="${KEEP_ADDR:-127.0.0.1}:$KEEP_PORT"
    KEEP_URL="https://$KEEP_HOST"
    KEEP_DATA="$T/keep-data"
    KEEP_LOG="$T/keepd.requests.log"
    KEEP_ERR="$T/keepd.stderr.log"
    cert=${KEEP_TLS_CERT:-$KEEP_DATA/tls/server.crt}
    # KEEP_CONFIG_EXTRA: more keys for keepd's config, e.g. '"tls":{...}'.
    printf '{"listen":"%s","data_dir":"%s"%s}\n' "$KEEP_HOST" "$KEEP_DATA" \
      "${KEEP_CONFIG_EXTRA:+,$KEEP_CONFIG_EXTRA}" >"$T/keepd.json"
    # Emptied here, not only by the redirections below: those happen in the
    # child, and a restarted keepd's predecessor's "listening on" must not be
    # read before the child gets to them.
    : >"$KEEP_LOG"
    : >"$KEEP_ERR"
    KEEP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" "${E2E_IN_NS[@]}" "$KEEPD" --config "$T/keepd.json" --allow-root \
      >"$KEEP_LOG" 2>"$KEEP_ERR" &
    KEEP_PID=$!
    E2E_PIDS+=("$KEEP_PID")
    local i
    for ((i = 0; i < 100; i++)); do
      if ! kill -0 "$KEEP_PID" 2>/dev/null; then break; fi
      if [[ -s "$cert" ]] && grep -q 'listening on' "$KEEP_ERR"; then
        break
      fi
      sleep 0.1
    done
    if kill -0 "$KEEP_PID" 2>/dev/null && grep -q 'listening on' "$KEEP_ERR"; then break; fi
    if grep -qi 'cannot listen' "$KEEP_ERR" 2>/dev/null && ((tries < 3)); then
      log "port $KEEP_PORT was taken meanwhile; retrying"
      stop_pid "$KEEP_PID"
      rm -rf "$KEEP_DATA"
      continue
    fi
    sed 's/^/    | /' "$KEEP_ERR" >&2
    fail "keepd did not start listening on $KEEP_HOST within 10 s"
  done
  CERT_DIR="$T/certs"
  mkdir -p "$CERT_DIR"
  cp "${KEEP_TLS_CA:-$cert}" "$CERT_DIR/ca.crt"
  KEEP_CA="$CERT_DIR/ca.crt"
  KEEP_CREDS="$E2E_ADMIN_USER:$E2E_ADMIN_PASSWORD"
  check "keepd answers GET /v2/ over TLS with the generated certificate"
  local code
  code=$("${E2E_IN_NS[@]}" curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert "$KEEP_CA" "$KEEP_URL/v2/") ||
    fail "TLS handshake with keepd failed using its own certificate as CA"
  expect_eq "GET /v2/ without credentials" 401 "$code"
  code=$("${E2E_IN_NS[@]}" curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert "$KEEP_CA" -u "$KEEP_CREDS" "$KEEP_URL/v2/")
  expect_eq "GET /v2/ as admin" 200 "$code"
  log "keepd pid $KEEP_PID on $KEEP_URL (data $KEEP_DATA)"
}

# kcurl ARGS...: curl against keepd with its CA and admin credentials.
kcurl() { "${E2E_IN_NS[@]}" curl -sS --max-time 120 --cacert "$KEEP_CA" -u "$KEEP_CREDS" "$@"; }

# admin_api METHOD PATH [JSON]: keepd's admin API as its admin; prints the
# body, and fails the test (printing status and body) unless the answer is 2xx.
admin_api() {
  local out code
  out=$(mktemp "$T/admin-api.XXXXXX")
  code=$(kcurl -o "$out" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$KEEP_URL/admin/v1$2") || fail "admin API $1 $2: curl failed"
  if [[ $code != 2?? ]]; then
    fail "admin API $1 $2: HTTP $code, expected 2xx: $(head -c 400 "$out")"
  fi
  cat "$out"
  rm -f "$out"
}

# ---- images made without a daemon --------------------------------------------

MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_LAYER_GZ=application/vnd.oci.image.layer.v1.tar+gzip
MT_OCI_LAYER=application/vnd.oci.image.layer.v1.tar
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DOCKER_CONFIG=application/vnd.docker.container.image.v1+json
MT_DOCKER_LAYER_GZ=application/vnd.docker.image.rootfs.diff.tar.gzip
ACCEPT_ALL_MANIFESTS="$MT_OCI_MANIFEST, $MT_OCI_INDEX, $MT_DOCKER_MANIFEST, $MT_DOCKER_LIST"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# layout_init DIR: an empty OCI image layout.
layout_init() {
  mkdir -p "$1/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
  [[ -f "$1/index.json" ]] || printf '{"schemaVersion":2,"manifests":[]}' >"$1/index.json"
}

# layout_add_blob DIR FILE: moves FILE into the layout, prints its digest.
layout_add_blob() {
  local d
  d=$(sha256_of "$2")
  mv -f "$2" "$1/blobs/sha256/$d"
  echo "sha256:$d"
}

# descriptor MEDIATYPE LAYOUT DIGEST [EXTRA-JSON]: an OCI descriptor object.
descriptor() {
  local size
  size=$(size_of "$2/blobs/sha256/${3#sha256:}")
  jq -cn --arg mt "$1" --arg d "$3" --argjson s "$size" --argjson x "${4:-{\}}" \
    '{mediaType:$mt, digest:$d, size:$s} + $x'
}

# make_layer LAYOUT NAME SIZE: a gzipped tar layer with a random file
# /keep-e2e/NAME.bin of SIZE bytes and a text file. Prints "DIGEST DIFFID".
make_layer() {
  local layout=$1 name=$2 size=$3 root="$T/layer-src-$2"
  rm -rf "$root"
  mkdir -p "$root/keep-e2e"
  head -c "$size" /dev/urandom >"$root/keep-e2e/$name.bin"
  printf 'layer %s made by the Keep e2e test at %s (%s)\n' "$name" "$(date -u +%FT%TZ)" \
    "$RANDOM$RANDOM" >"$root/keep-e2e/$name.txt"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$T/$name.tar" .
  local diffid
  diffid=$(sha256_of "$T/$name.tar")
  gzip -n -1 -c "$T/$name.tar" >"$T/$name.tar.gz"
  rm -rf "$root" "$T/$name.tar"
  echo "$(layout_add_blob "$layout" "$T/$name.tar.gz") sha256:$diffid"
}

# make_image LAYOUT ARCH [LAYER_SIZE]: a two-layer linux/ARCH image in LAYOUT
# (random content, so digests differ on each run). Prints the manifest digest;
# sets IMG_MANIFEST IMG_CONFIG IMG_LAYERS (array) for the caller.
make_image() {
  local layout=$1 arch=$2 lsize=${3:-65536} l1 l2
  layout_init "$layout"
  l1=$(make_layer "$layout" "$arch-one" "$lsize")
  l2=$(make_layer "$layout" "$arch-two" "$((lsize / 2 + 1))")
  jq -n --arg arch "$arch" --arg d1 "${l1#* }" --arg d2 "${l2#* }" '{
      architecture: $arch, os: "linux", created: "2024-01-01T00:00:00Z",
      config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
               Cmd: ["/keep-e2e/none"], Labels: {"org.keep.e2e": "yes"}},
      rootfs: {type: "layers", diff_ids: [$d1, $d2]},
      history: [{created: "2024-01-01T00:00:00Z", created_by: "keep e2e layer one"},
                {created: "2024-01-01T00:00:00Z", created_by: "keep e2e layer two"}]
    }' >"$T/config.json"
  IMG_CONFIG=$(layout_add_blob "$layout" "$T/config.json")
  IMG_LAYERS=("${l1%% *}" "${l2%% *}")
  jq -n --argjson c "$(descriptor "$MT_OCI_CONFIG" "$layout" "$IMG_CONFIG")" \
    --argjson a "$(descriptor "$MT_OCI_LAYER_GZ" "$layout" "${IMG_LAYERS[0]}")" \
    --argjson b "$(descriptor "$MT_OCI_LAYER_GZ" "$layout" "${IMG_LAYERS[1]}")" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: $c, layers: [$a, $b]}' >"$T/manifest.json"
  IMG_MANIFEST=$(layout_add_blob "$layout" "$T/manifest.json")
}

# layout_tag LAYOUT MEDIATYPE DIGEST TAG [PLATFORM-JSON]: names a manifest in index.json.
layout_tag() {
  local layout=$1 desc
  desc=$(descriptor "$2" "$layout" "$3" \
    "$(jq -cn --arg t "$4" --argjson p "${5:-null}" \
      '{annotations: {"org.opencontainers.image.ref.name": $t}} + (if $p then {platform: $p} else {} end)')")
  jq --argjson d "$desc" --arg t "$4" \
    '.manifests = [.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] != $t)] + [$d]' \
    "$layout/index.json" >"$layout/index.json.new"
  mv "$layout/index.json.new" "$layout/index.json"
}

# make_test_image LAYOUT TAG: the usual single-platform (linux/amd64) test image.
make_test_image() {
  make_image "$1" amd64
  layout_tag "$1" "$MT_OCI_MANIFEST" "$IMG_MANIFEST" "$2"
  log "test image $1:$2 manifest $IMG_MANIFEST config $IMG_CONFIG layers ${IMG_LAYERS[*]}"
}

# make_multiarch_image LAYOUT TAG: an OCI index of linux/amd64 and linux/arm64
# images. Sets MULTI_INDEX, AMD64_MANIFEST AMD64_CONFIG, ARM64_MANIFEST ARM64_CONFIG.
make_multiarch_image() {
  local layout=$1
  make_image "$layout" amd64
  AMD64_MANIFEST=$IMG_MANIFEST AMD64_CONFIG=$IMG_CONFIG
  make_image "$layout" arm64
  ARM64_MANIFEST=$IMG_MANIFEST ARM64_CONFIG=$IMG_CONFIG
  jq -n \
    --argjson a "$(descriptor "$MT_OCI_MANIFEST" "$layout" "$AMD64_MANIFEST" '{"platform":{"architecture":"amd64","os":"linux"}}')" \
    --argjson b "$(descriptor "$MT_OCI_MANIFEST" "$layout" "$ARM64_MANIFEST" '{"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}')" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [$a, $b]}' \
    >"$T/index.json"
  MULTI_INDEX=$(layout_add_blob "$layout" "$T/index.json")
  layout_tag "$layout" "$MT_OCI_INDEX" "$MULTI_INDEX" "$2"
  log "multi-platform image $layout:$2 index $MULTI_INDEX (amd64 $AMD64_MANIFEST, arm64 $ARM64_MANIFEST)"
}

# layout_manifest_digest LAYOUT TAG: the digest index.json names for TAG.
layout_manifest_digest() {
  jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
    "$1/index.json"
}

# layout_blob LAYOUT DIGEST: the path of a blob in a layout.
layout_blob() { echo "$1/blobs/sha256/${2#sha256:}"; }

# ---- registry reads over HTTP ----------------------------------------------

# fetch_manifest REPO REF ACCEPT OUTFILE: GET a manifest; writes the body to
# OUTFILE and the response headers to OUTFILE.headers; fails on non-200.
fetch_manifest() {
  local code
  code=$(kcurl -o "$4" -D "$4.headers" -w '%{http_code}' -H "Accept: $3" \
    "$KEEP_URL/v2/$1/manifests/$2") || fail "GET /v2/$1/manifests/$2: curl failed"
  [[ $code == 200 ]] || fail "GET /v2/$1/manifests/$2: HTTP $code: $(head -c 400 "$4")"
}
# header FILE NAME: a response header's value (case-insensitive name).
header() {
  grep -i "^$2:" "$1" | head -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'
}

# expect_accept_lines GET|HEAD REPO TAG TYPE...: fetches the tag with each TYPE
# on its own Accept header line, as containers/image (skopeo, podman) and
# dockerd send them; dockerd's order is random (a Go map). RFC 9110 makes
# repeated lines equal to one comma-separated line, so every rotation of the
# list must be answered 200.
expect_accept_lines() {
  local method=$1 repo=$2 tag=$3 i j code args
  shift 3
  local types=("$@") n=$#
  for ((i = 0; i < n; i++)); do
    args=()
    for ((j = 0; j < n; j++)); do args+=(-H "Accept: ${types[(i + j) % n]}"); done
    if [[ $method == HEAD ]]; then args+=(-I); fi
    code=$(kcurl -o /dev/null -w '%{http_code}' "${args[@]}" \
      "$KEEP_URL/v2/$repo/manifests/$tag" 2>/dev/null || true)
    [[ $code == 200 ]] || fail "$method $repo:$tag with $n Accept lines, the first '${types[i]}': HTTP $code, expected 200"
  done
  ok "$method $repo:$tag answers 200 whichever of its $n Accept lines comes first"
}

# ---- skopeo and podman -----------------------------------------------------

# skopeo_to_keep SRC REPO:TAG [SKOPEO-OPTIONS...]
skopeo_to_keep() {
  local src=$1 dst=$2
  shift 2
  run_logged skopeo-push skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" \
    --dest-creds "$KEEP_CREDS" "$@" "$src" "docker://$KEEP_HOST/$dst"
}
# skopeo_from_keep REPO:TAG DST [SKOPEO-OPTIONS...]
skopeo_from_keep() {
  local src=$1 dst=$2
  shift 2
  run_logged skopeo-pull skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" \
    --src-creds "$KEEP_CREDS" "$@" "docker://$KEEP_HOST/$src" "$dst"
}

# gpg_key_init OUT.asc: a fresh GPG signing key (Ed25519, no passphrase) in a
# keyring of its own under $T (GNUPGHOME, exported); FPR is its fingerprint
# and OUT.asc its armored public key.
gpg_key_init() {
  need gpg
  export GNUPGHOME="$T/gnupg"
  mkdir -m 700 "$GNUPGHOME"
  run_logged gpg-gen gpg --batch --passphrase '' --quick-gen-key 'Keep E2E <e2e@keep.invalid>' \
    ed25519 sign never
  FPR=$(gpg --with-colons --fingerprint e2e@keep.invalid | awk -F: '$1=="fpr"{print $10; exit}')
  gpg --armor --export "$FPR" >"$1"
}

# podman_init: PODMAN (array) runs podman with private vfs storage in $T.
podman_init() {
  need podman
  # podman (as root) always makes /run/containers/networks: removed after if empty.
  [[ -d /run/containers/networks ]] || E2E_CLEANUP_DIRS+=(/run/containers/networks)
  [[ -d /run/containers ]] || E2E_CLEANUP_DIRS+=(/run/containers)
  local p="$T/podman"
  mkdir -p "$p/root" "$p/run" "$p/tmp" "$p/libpod" "$p/networks"
  # Everything in $T: storage, run state, libpod state and events (else /run/libpod),
  # network configs, big temporary files (else /var/tmp).
  PODMAN=(env TMPDIR="$p/tmp" podman --root "$p/root" --runroot "$p/run" --tmpdir "$p/libpod"
    --network-config-dir "$p/networks" --storage-driver vfs --cgroup-manager cgroupfs
    --events-backend file)
}

# podman_login_as USER PASSWORD: logs podman in to keepd as that user.
podman_login_as() {
  printf '%s' "$2" >"$T/pw"
  run_logged "podman-login-$1" "${PODMAN[@]}" login --cert-dir "$CERT_DIR" -u "$1" \
    --password-stdin "$KEEP_HOST" <"$T/pw"
}

# podman_login: logs podman in to keepd (credentials in $REGISTRY_AUTH_FILE).
podman_login() {
  check "podman login $KEEP_HOST"
  printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
  run_logged podman-login "${PODMAN[@]}" login --cert-dir "$CERT_DIR" \
    -u "$E2E_ADMIN_USER" --password-stdin "$KEEP_HOST" <"$T/pw"
  grep -q "Login Succeeded" "$T/podman-login.log" || fail "podman login did not say 'Login Succeeded'"
  ok
}

# ---- dockerd and containerd ---------------------------------------------------

# docker_load LAYOUT:TAG REF: loads an image of an OCI layout (made by
# make_test_image) into dockerd as REF, through a docker-archive skopeo makes,
# and checks docker sees its config ($IMG_CONFIG) as the image ID.
docker_load() {
  run_logged skopeo-archive skopeo copy "oci:$1" "docker-archive:$T/img.tar:$2"
  run_logged docker-load "${DOCKER[@]}" load -i "$T/img.tar"
  expect_eq "image ID after load" "$IMG_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$2")"
}

# docker_trust HOST:PORT: dockerd trusts keepd's certificate (KEEP_CA) for
# HOST:PORT through /etc/docker/certs.d/HOST:PORT/ca.crt, removed at exit.
docker_trust() {
  local certs="/etc/docker/certs.d/$1"
  [[ -e $certs ]] && fail "$certs already exists; refusing to touch another test's trust"
  [[ -d /etc/docker/certs.d ]] || E2E_CLEANUP_DIRS+=(/etc/docker/certs.d)
  [[ -d /etc/docker ]] || E2E_CLEANUP_DIRS+=(/etc/docker)
  mkdir -p "$certs"
  E2E_CLEANUP_PATHS+=("$certs")
  cp "$KEEP_CA" "$certs/ca.crt"
}

# dockerd_start: a private dockerd (vfs, no networking) on $T/docker.sock
# (in the test's network namespace, if it has one); trusts keepd's
# certificate through /etc/docker/certs.d/KEEP_HOST/ca.crt.
# Sets DOCKER (array), DOCKER_CONFIG, DOCKERD_PID, CONTAINERD_SOCK.
dockerd_start() {
  need dockerd
  local client=/usr/bin/docker  # same release as dockerd; /usr/local/bin may hold another
  [[ -x $client ]] || client=$(command -v docker) || fail "docker client not installed"
  docker_trust "$KEEP_HOST"
  # dockerd always makes /run/docker/plugins: removed after if empty.
  [[ -d /run/docker/plugins ]] || E2E_CLEANUP_DIRS+=(/run/docker/plugins)
  [[ -d /run/docker ]] || E2E_CLEANUP_DIRS+=(/run/docker)
  local d="$T/docker"
  mkdir -p "$d/data" "$d/exec" "$d/config"
  # Its own config, not the host's /etc/docker/daemon.json; its identity key in
  # $T rather than /etc/docker/key.json.
  # DOCKERD_MIRROR, when set, is its registry-mirrors entry (Docker Hub's pulls go there).
  jq -n --arg k "$d/key.json" --arg m "${DOCKERD_MIRROR:-}" \
    '{"deprecated-key-path": $k} + (if $m != "" then {"registry-mirrors": [$m]} else {} end)' \
    >"$d/daemon.json"
  export DOCKER_CONFIG="$d/config"
  DOCKERD_LOG="$d/dockerd.log"
  # A short exec-root: containerd's socket path must fit in sun_path (108 bytes).
  "${E2E_IN_NS[@]}" dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
    -H "unix://$d/docker.sock" --config-file "$d/daemon.json" >"$DOCKERD_LOG" 2>&1 &
  DOCKERD_PID=$!
  E2E_PIDS+=("$DOCKERD_PID")
  DOCKER=("$client" -H "unix://$d/docker.sock")
  CONTAINERD_SOCK="$d/exec/containerd/containerd.sock"
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    "${DOCKER[@]}" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! "${DOCKER[@]}" version >/dev/null 2>&1; then
    tail -n 30 "$DOCKERD_LOG" >&2
    fail "dockerd did not come up on unix://$d/docker.sock within 30 s"
  fi
  log "dockerd pid $DOCKERD_PID on unix://$d/docker.sock ($("${DOCKER[@]}" version -f '{{.Server.Version}}'))"
}

# ---- upstream registries (for the mirror) -------------------------------------

# upstream_start NAME: Debian's docker-registry (CNCF Distribution) over TLS
# on a free loopback port, with a certificate of its own for 127.0.0.1, its
# data in $T/NAME/data and its log (with the access log) in $T/NAME/log.
# Sets UPSTREAM_HOST and UPSTREAM_HOST_<NAME> (127.0.0.1:PORT); its CA is
# $T/NAME/ca.crt (also as $T/NAME/certs/ca.crt for skopeo's --cert-dir).
upstream_start() {
  need docker-registry openssl
  local dir="$T/$1" port i attempt
  mkdir -p "$dir/data" "$dir/certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=upstream $1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$dir/tls.key" -out "$dir/ca.crt" 2>/dev/null
  cp "$dir/ca.crt" "$dir/certs/ca.crt"
  # A port free when chosen may be taken before Distribution binds it (by
  # another test's connection, running at the same time): another port then.
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=$(free_port)
    cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: info, formatter: text}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, tls: {certificate: $dir/ca.crt, key: $dir/tls.key}}
EOF
    # REGISTRY_AUTH_FILE (exported for skopeo and podman) would be read by
    # Distribution as its auth.file setting.
    env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    E2E_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
      curl -s --cacert "$dir/ca.crt" -o /dev/null "https://127.0.0.1:$port/v2/" && break 2
      grep -q "address already in use" "$dir/log" && break
      sleep 0.1
    done
    grep -q "address already in use" "$dir/log" || break
  done
  curl -sf --cacert "$dir/ca.crt" -o /dev/null "https://127.0.0.1:$port/v2/" ||
    fail "upstream $1 (docker-registry) did not start: $(tail -n 3 "$dir/log")"
  UPSTREAM_HOST="127.0.0.1:$port"
  printf -v "UPSTREAM_HOST_${1//-/_}" '%s' "$UPSTREAM_HOST"
  log "upstream $1 (Distribution) at https://$UPSTREAM_HOST"
}

# upstream_stop NAME: SIGKILL, as a crash or a cut network would end it.
upstream_stop() {
  local pid
  pid=$(pgrep -f "docker-registry serve $T/$1/config.yml") || fail "upstream $1 is not running"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
}

# upstream_restart NAME: starts a stopped upstream again, on its port and data.
upstream_restart() {
  local dir="$T/$1" host_var="UPSTREAM_HOST_${1//-/_}" i
  env -u REGISTRY_AUTH_FILE docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
  E2E_PIDS+=($!)
  for ((i = 0; i < 100; i++)); do
    curl -s --cacert "$dir/ca.crt" -o /dev/null "https://${!host_var}/v2/" && return 0
    sleep 0.1
  done
  fail "upstream $1 did not start again"
}

# upstream_copy NAME LAYOUT:TAG REPO:TAG [SKOPEO-ARGS...]: skopeo puts an
# image upstream (--all for every platform of an index).
upstream_copy() {
  local host_var="UPSTREAM_HOST_${1//-/_}"
  run_logged "upstream-$RANDOM" skopeo copy --retry-times 0 --preserve-digests \
    --dest-cert-dir "$T/$1/certs" "${@:4}" "oci:$2" "docker://${!host_var}/$3"
}

# cosign_layout_sign KEY.pem LAYOUT REFERENCE DIGEST: a cosign-layout
# signature of DIGEST (ECDSA P-256 over the simple-signing payload naming
# REFERENCE, made with openssl alone) in a new OCI layout, tagged "sig".
cosign_layout_sign() {
  local keyfile=$1 layout=$2 ref=$3 digest=$4 sig payload config
  layout_init "$layout"
  jq -cn --arg ref "$ref" --arg d "$digest" \
    '{critical:{identity:{"docker-reference":$ref},image:{"docker-manifest-digest":$d},
      type:"cosign container image signature"},optional:null}' | tr -d '\n' >"$T/payload.json"
  sig=$(openssl dgst -sha256 -sign "$keyfile" "$T/payload.json" | base64 -w0)
  payload=$(layout_add_blob "$layout" "$T/payload.json")
  jq -cn --arg p "$payload" '{architecture:"",created:"0001-01-01T00:00:00Z",os:"",
      rootfs:{type:"layers",diff_ids:[$p]},config:{}}' >"$T/sigconfig.json"
  config=$(layout_add_blob "$layout" "$T/sigconfig.json")
  jq -n --argjson c "$(descriptor "$MT_OCI_CONFIG" "$layout" "$config")" \
    --argjson l "$(descriptor application/vnd.dev.cosign.simplesigning.v1+json "$layout" "$payload" \
      "$(jq -cn --arg s "$sig" '{annotations:{"dev.cosignproject.cosign/signature":$s}}')")" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json", config:$c, layers:[$l]}' \
    >"$T/sigmanifest.json"
  layout_tag "$layout" "$MT_OCI_MANIFEST" "$(layout_add_blob "$layout" "$T/sigmanifest.json")" sig
}

# upstream_sign NAME KEY.pem REPO DIGEST: a cosign-layout signature of
# DIGEST (cosign_layout_sign), put upstream at REPO:sha256-<hex>.sig.
upstream_sign() {
  local host_var="UPSTREAM_HOST_${1//-/_}" layout="$T/sig-$RANDOM"
  cosign_layout_sign "$2" "$layout" "${!host_var}/$3" "$4"
  upstream_copy "$1" "$layout:sig" "$3:sha256-${4#sha256:}.sig"
}
