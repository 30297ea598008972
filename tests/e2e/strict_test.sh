#!/usr/bin/env bash
# e2e_strict: a namespace in strict mode refuses skopeo's push of an unsigned
# image with Keep's DENIED message, and accepts the same push once `keepctl
# sign --manifest-file` has stored a signature for those exact bytes. Raising
# the threshold to 2 withholds the image from a reader's skopeo copy until a
# second key signs it (a cosign v3 bundle this time).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init strict "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo
keep_start
export XDG_CONFIG_HOME="$T/keepctl-config"
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE

check "namespace 'locked' in strict mode, a reader, two trusted keys"
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
run_logged keepctl-ns "$KEEPCTL" namespace create locked
run_logged keepctl-strict "$KEEPCTL" policy set locked --mode strict
printf '%s' reader-password-1 >"$T/pw"
run_logged keepctl-user "$KEEPCTL" user add rdr --password-stdin <"$T/pw"
run_logged keepctl-member "$KEEPCTL" member add locked rdr --role reader
for k in first second; do
  run_logged "keygen-$k" "$KEEPCTL" key generate --out "$T/$k"
  run_logged "key-add-$k" "$KEEPCTL" key add locked --name "$k" --file "$T/$k.pub"
done
expect_eq "keys of locked" 2 "$("$KEEPCTL" --output json key list locked | jq ".keys | length")"

make_test_image "$T/src" v1
MANIFEST_FILE=$(layout_blob "$T/src" "$IMG_MANIFEST")

check "skopeo's push of the unsigned image is refused, with Keep's message"
if skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" --dest-creds "$KEEP_CREDS" \
  "oci:$T/src:v1" "docker://$KEEP_HOST/locked/app:v1" >"$T/push-unsigned.log" 2>&1; then
  fail "strict mode took an unsigned push"
fi
grep -q "strict mode" "$T/push-unsigned.log" ||
  fail "skopeo does not show why: $(tail -n 2 "$T/push-unsigned.log")"
ok "$(grep -o 'denied:.*' "$T/push-unsigned.log" | head -n1 | cut -c1-160)"
expect_eq "tags of locked/app" "[]" "$(kcurl "$KEEP_URL/v2/locked/app/tags/list" | jq -c '.tags // []')"

check "keepctl sign --manifest-file signs the bytes first; the same push is then accepted"
run_logged keepctl-sign "$KEEPCTL" sign locked/app:v1 --key "$T/first.key" --manifest-file "$MANIFEST_FILE"
skopeo_to_keep "oci:$T/src:v1" locked/app:v1
fetch_manifest locked/app v1 "$ACCEPT_ALL_MANIFESTS" "$T/v1.json"
expect_eq "digest pushed (the one signed)" "$IMG_MANIFEST" "$(header "$T/v1.json.headers" Docker-Content-Digest)"

# reader_copy NAME: the reader's skopeo copy out; output in $T/NAME.log.
reader_copy() {
  rm -rf "$T/out"
  skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" --src-creds rdr:reader-password-1 \
    "docker://$KEEP_HOST/locked/app:v1" "oci:$T/out:v1" >"$T/$1.log" 2>&1
}
check "the reader copies it out"
reader_copy copy-one-key || fail "the reader's copy failed: $(tail -n 2 "$T/copy-one-key.log")"
expect_eq "manifest the reader got" "$IMG_MANIFEST" "$(layout_manifest_digest "$T/out" v1)"

check "threshold 2: one signature is no longer enough for the reader"
run_logged keepctl-threshold "$KEEPCTL" policy set locked --threshold 2
if reader_copy copy-threshold-2; then fail "the reader copied an image signed by one key of two"; fi
grep -q quarantined "$T/copy-threshold-2.log" || fail "not refused as quarantined: $(tail -n 2 "$T/copy-threshold-2.log")"
ok

check "a second key signs (a cosign v3 bundle): the reader copies it again"
run_logged keepctl-sign-2 "$KEEPCTL" sign locked/app:v1 --key "$T/second.key" --format bundle
reader_copy copy-two-keys || fail "the reader's copy failed: $(tail -n 2 "$T/copy-two-keys.log")"
run_logged keepctl-verify "$KEEPCTL" verify locked/app:v1
grep -q "trusted: yes (policy: strict, threshold 2)" "$T/keepctl-verify.log" ||
  fail "verify says: $(cat "$T/keepctl-verify.log")"
ok
