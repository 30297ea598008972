#!/usr/bin/env bash
# e2e_gpg: GPG simple signing as Debian's podman and skopeo do it, unchanged.
# `podman push --sign-by FPR` and `skopeo copy --sign-by FPR` store their
# signatures through Keep's signature extension API; Keep verifies them
# against the namespace's OpenPGP key, so a reader may pull; podman with a
# `signedBy` policy verifies what Keep serves; an unsigned push stays
# quarantined from readers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init gpg "${1:-}"
need skopeo gpg
podman_init
keep_start

check "GET /v2/ announces the signature extension"
kcurl -D "$T/base.headers" -o /dev/null "$KEEP_URL/v2/"
expect_eq "X-Registry-Supports-Signatures" 1 "$(header "$T/base.headers" X-Registry-Supports-Signatures)"

check "a GPG key of the publisher, trusted by namespace 'signed'"
gpg_key_init "$T/pub.asc"
gpg --export "$FPR" >"$T/pub.gpg"
admin_api POST /namespaces '{"name":"signed"}' >/dev/null
admin_api POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/signed/members/pub '{"role":"publisher"}' >/dev/null
admin_api PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
key=$(admin_api POST /namespaces/signed/keys "$(jq -cn --rawfile k "$T/pub.asc" '{name:"release", public_key:$k}')")
expect_eq "key id: the fingerprint" "$FPR" "$(jq -r .key_id <<<"$key")"

make_test_image "$T/src" v1
id=$("${PODMAN[@]}" pull -q "oci:$T/src:v1") || fail "podman could not load the OCI layout"

# reader_pull REF LOGNAME [PODMAN-PULL-OPTIONS...]
reader_pull() {
  local ref=$1 name=$2
  shift 2
  "${PODMAN[@]}" rmi -f "$ref" >/dev/null 2>&1 || true
  "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$@" "$ref" >"$T/$name.log" 2>&1
}

check "podman push --sign-by $FPR: the signature goes through the extension API"
podman_login_as pub publisher-password
ref="$KEEP_HOST/signed/app:v1"
run_logged podman-tag "${PODMAN[@]}" tag "$id" "$ref"
run_logged podman-push-signed "${PODMAN[@]}" push --cert-dir "$CERT_DIR" --sign-by "$FPR" \
  --digestfile "$T/v1.digest" "$ref"
DIGEST=$(cat "$T/v1.digest")
sigs=$(kcurl "$KEEP_URL/extensions/v2/signed/app/signatures/$DIGEST")
expect_eq "signatures stored for $DIGEST" 1 "$(jq '.signatures | length' <<<"$sigs")"
verify=$(admin_api GET "/verify?repository=signed/app&reference=v1")
expect_eq "verify: trusted" true "$(jq -r .trusted <<<"$verify")"
expect_eq "verify: format" gpg "$(jq -r '.signatures[0].format' <<<"$verify")"

check "the reader pulls it, with a signedBy policy that checks Keep's signature"
podman_login_as rdr reader-password-1
jq -n --arg scope "$KEEP_HOST/signed" --arg key "$T/pub.gpg" \
  '{default:[{type:"reject"}], transports:{docker:{($scope):[{type:"signedBy",keyType:"GPGKeys",keyPath:$key}]},
    oci:{"":[{type:"insecureAcceptAnything"}]}}}' >"$T/policy.json"
reader_pull "$ref" pull-signedby --signature-policy "$T/policy.json" ||
  fail "the signedBy pull failed: $(tail -n 3 "$T/pull-signedby.log")"
expect_eq "image ID" "${IMG_CONFIG#sha256:}" "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$ref")"

check "skopeo copy --sign-by: signed the same way, pullable by the reader"
run_logged skopeo-signed skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" \
  --dest-creds pub:publisher-password --sign-by "$FPR" "oci:$T/src:v1" "docker://$KEEP_HOST/signed/tool:v1"
reader_pull "$KEEP_HOST/signed/tool:v1" pull-skopeo-signed --signature-policy "$T/policy.json" ||
  fail "the reader could not pull what skopeo signed: $(tail -n 3 "$T/pull-skopeo-signed.log")"
ok

check "skopeo copies the signed image out as the reader, verifying it with the signedBy policy"
# (--remove-signatures: an oci: layout cannot hold them; the source is still verified.)
run_logged skopeo-out skopeo --policy "$T/policy.json" copy --retry-times 0 --remove-signatures \
  --src-cert-dir "$CERT_DIR" \
  --src-creds rdr:reader-password-1 "docker://$ref" "oci:$T/out:v1"
expect_eq "config digest of the copy" "$IMG_CONFIG" \
  "$(jq -r .config.digest "$T/out/blobs/sha256/$(jq -r '.manifests[0].digest' "$T/out/index.json" | cut -d: -f2)")"
check "with another key in the policy, the same copy is refused by skopeo itself"
gpg --batch --passphrase '' --quick-gen-key 'Other <other@keep.invalid>' ed25519 sign never >/dev/null 2>&1
gpg --export other@keep.invalid >"$T/other.gpg"
jq --arg key "$T/other.gpg" '(.transports.docker[] | .[0].keyPath) = $key' "$T/policy.json" >"$T/other-policy.json"
if skopeo --policy "$T/other-policy.json" copy --retry-times 0 --remove-signatures --src-cert-dir "$CERT_DIR" \
  --src-creds rdr:reader-password-1 "docker://$ref" "oci:$T/out2:v1" >"$T/skopeo-other.log" 2>&1; then
  fail "skopeo accepted a signature by a key its policy does not name"
fi
grep -qi "signature" "$T/skopeo-other.log" || fail "refused, but not for its signature: $(tail -n 2 "$T/skopeo-other.log")"
ok "$(tail -n 1 "$T/skopeo-other.log" | cut -c1-160)"

check "an unsigned push stays quarantined from the reader"
podman_login_as pub publisher-password
ref3="$KEEP_HOST/signed/unsigned:v1"
run_logged podman-tag3 "${PODMAN[@]}" tag "$id" "$ref3"
run_logged podman-push-unsigned "${PODMAN[@]}" push --cert-dir "$CERT_DIR" --remove-signatures "$ref3"
podman_login_as rdr reader-password-1
if reader_pull "$ref3" pull-unsigned; then fail "a reader pulled an unsigned image"; fi
grep -q quarantined "$T/pull-unsigned.log" || fail "not refused as quarantined: $(tail -n 3 "$T/pull-unsigned.log")"
ok
