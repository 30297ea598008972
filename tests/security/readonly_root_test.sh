#!/usr/bin/env bash
# keepd on a read-only root filesystem: in a mount namespace of its own where
# every mount is read-only but its data directory, keepd starts, takes a push
# of an image (blobs and manifest) and serves it back, collects garbage, and
# writes nothing elsewhere (it could not). Run by ctest as
# `bash readonly_root_test.sh PATH/TO/keepd`. Skips (exit 77) only where a
# mount namespace cannot be made.
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init readonly_root "${1:-}"
need unshare nsenter mount findmnt

if ! unshare -m --propagation private true 2>"$T/unshare.err"; then
  echo "SKIP: cannot make a mount namespace here (unshare -m: $(cat "$T/unshare.err"))"
  exit 77
fi

# ro_root DATA CMD...: runs CMD in a new mount namespace where every mount is
# read-only except DATA (bind-mounted onto itself first, so that it is a
# mount of its own that stays writable). exec all the way down: CMD keeps
# this process.
cat >"$T/ro_root.sh" <<'EOF'
set -euo pipefail
data=$1
shift
mount --bind "$data" "$data"
# Each mount point is changed on its own (the flag belongs to this
# namespace's copy of the mount); the data directory's stays as it is. The
# root must take it; a special mount that refuses (some under /proc or
# /sys) is left, and the test checks below what keepd can write.
findmnt -rn -o TARGET | while read -r target; do
  target=$(printf '%b' "$target")  # findmnt escapes spaces as \x20
  [[ $target == "$data" ]] && continue
  if ! mount -o remount,bind,ro "$target" 2>/dev/null; then
    [[ $target != / ]] || { echo "cannot remount / without writing" >&2; exit 1; }
    echo "ro_root: $target left as it was" >&2
  fi
done
exec "$@"
EOF

KEEP_DATA="$T/keep-data"
mkdir -m 700 "$KEEP_DATA"
check "keepd starts in a mount namespace where all but $KEEP_DATA is read-only"
E2E_IN_NS=(unshare -m --propagation private bash "$T/ro_root.sh" "$KEEP_DATA")
keep_start
E2E_IN_NS=()
ok

check "in keepd's mount namespace, / and the temp dirs are read-only and the data dir is not"
for dir in / /tmp /var/tmp "$T"; do
  if nsenter -t "$KEEP_PID" -m touch "$dir/keep-ro-probe" 2>/dev/null; then
    rm -f "$dir/keep-ro-probe"
    fail "$dir is writable in keepd's mount namespace"
  fi
done
nsenter -t "$KEEP_PID" -m touch "$KEEP_DATA/keep-ro-probe" || fail "the data dir is not writable"
nsenter -t "$KEEP_PID" -m rm "$KEEP_DATA/keep-ro-probe"
expect_eq "keepd's root mount options" ro "$(nsenter -t "$KEEP_PID" -m findmnt -rn -o OPTIONS / | cut -d, -f1)"

check "a push of an image works"
admin_api POST /namespaces '{"name":"ro"}' >/dev/null
admin_api PUT /namespaces/ro/policy '{"mode":"open"}' >/dev/null
make_test_image "$T/layout" v1
push_blob() {
  local digest=$1 file code
  file=$(layout_blob "$T/layout" "$digest")
  code=$(kcurl -o "$T/push.out" -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$file" "$KEEP_URL/v2/ro/app/blobs/uploads/?digest=$digest")
  [[ $code == 201 ]] || fail "blob $digest: HTTP $code: $(head -c 300 "$T/push.out")"
}
for digest in "$IMG_CONFIG" "${IMG_LAYERS[@]}"; do push_blob "$digest"; done
manifest_file=$(layout_blob "$T/layout" "$IMG_MANIFEST")
code=$(kcurl -o "$T/push.out" -w '%{http_code}' -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
  --data-binary "@$manifest_file" "$KEEP_URL/v2/ro/app/manifests/v1")
expect_eq "PUT manifest" 201 "$code"

check "the image is pulled back byte for byte"
fetch_manifest ro/app v1 "$MT_OCI_MANIFEST" "$T/pulled.json"
expect_eq "manifest digest" "$IMG_MANIFEST" "sha256:$(sha256_of "$T/pulled.json")"
for digest in "$IMG_CONFIG" "${IMG_LAYERS[@]}"; do
  kcurl -o "$T/pulled.blob" "$KEEP_URL/v2/ro/app/blobs/$digest"
  expect_eq "blob" "$digest" "sha256:$(sha256_of "$T/pulled.blob")"
done

check "garbage collection (database sorts included) runs"
admin_api POST /gc >"$T/gc.json"
ok "$(head -c 200 "$T/gc.json")"

check "keepd is still serving, and met no read-only filesystem"
kill -0 "$KEEP_PID" || fail "keepd exited"
if grep -qi 'read-only' "$KEEP_ERR"; then
  sed 's/^/    | /' "$KEEP_ERR" >&2
  fail "keepd tried to write outside its data dir"
fi
ok
log "PASS: keepd served pushes and pulls on a read-only root"
