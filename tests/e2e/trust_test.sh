#!/usr/bin/env bash
# e2e_trust: an unsigned image pushed by podman is quarantined: a reader's
# podman pull is refused with Keep's message. A cosign-layout signature made
# with `openssl dgst -sign` and moved into Keep by skopeo makes the same pull
# work; a signature by a key the namespace does not trust is refused, and
# revoking the trusted key quarantines the image again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init trust "${1:-}"
need skopeo
podman_init
keep_start

check "namespace 'signed' (quarantine by default), a publisher, a reader, a trusted P-256 key"
admin_api POST /namespaces '{"name":"signed"}' >/dev/null
expect_eq "policy of signed" quarantine "$(admin_api GET /namespaces/signed/policy | jq -r .mode)"
admin_api POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/signed/members/pub '{"role":"publisher"}' >/dev/null
admin_api PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec.pem"
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub"
key=$(admin_api POST /namespaces/signed/keys "$(jq -cn --rawfile k "$T/ec.pub" '{name:"release", public_key:$k}')")
KEY_ID=$(jq -r .key_id <<<"$key")
expect_eq "key id (sha256 of the DER public key)" \
  "$(openssl pkey -pubin -in "$T/ec.pub" -outform DER | sha256sum | cut -d' ' -f1)" "$KEY_ID"

make_test_image "$T/src" v1
id=$("${PODMAN[@]}" pull -q "oci:$T/src:v1") || fail "podman could not load the OCI layout"
ref="$KEEP_HOST/signed/app:v1"
run_logged podman-tag "${PODMAN[@]}" tag "$id" "$ref"

check "the publisher pushes the unsigned image with podman: accepted"
podman_login_as pub publisher-password
run_logged podman-push "${PODMAN[@]}" push --cert-dir "$CERT_DIR" "$ref"
fetch_manifest signed/app v1 "$ACCEPT_ALL_MANIFESTS" "$T/v1.json"
DIGEST=$(header "$T/v1.json.headers" Docker-Content-Digest)
log "pushed manifest $DIGEST"
grep -q '"event":"manifest accepted, quarantined"' "$KEEP_ERR" || fail "no audit line for the quarantined push"
ok

# reader_pull NAME: a reader's podman pull of $ref; output in $T/NAME.log.
reader_pull() {
  "${PODMAN[@]}" rmi -f "$ref" >/dev/null 2>&1 || true
  "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$ref" >"$T/$1.log" 2>&1
}

check "the reader's pull is refused, and podman shows Keep's message"
podman_login_as rdr reader-password-1
if reader_pull pull-unsigned; then fail "a reader pulled an unsigned image"; fi
grep -q "quarantined" "$T/pull-unsigned.log" ||
  fail "the refusal does not say why: $(tail -n 3 "$T/pull-unsigned.log")"
ok "$(grep -o 'denied:.*' "$T/pull-unsigned.log" | head -n1 | cut -c1-160)"

# sign_with KEY.pem LAYOUT: a cosign-layout signature of $DIGEST in a new OCI
# layout, tagged "sig"; made with openssl only.
sign_with() { cosign_layout_sign "$1" "$2" "$KEEP_HOST/signed/app" "$DIGEST"; }
SIG_TAG="sha256-${DIGEST#sha256:}.sig"

check "a signature by a key the namespace does not trust is refused"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/stranger.pem"
sign_with "$T/stranger.pem" "$T/sig-stranger"
if skopeo copy --retry-times 0 --preserve-digests --dest-cert-dir "$CERT_DIR" \
  --dest-creds pub:publisher-password "oci:$T/sig-stranger:sig" \
  "docker://$KEEP_HOST/signed/app:$SIG_TAG" >"$T/stranger.log" 2>&1; then
  fail "a signature by an untrusted key was accepted"
fi
grep -qi "denied" "$T/stranger.log" || fail "not refused as denied: $(tail -n 3 "$T/stranger.log")"
ok "$(grep -io 'denied:.*' "$T/stranger.log" | head -n1 | cut -c1-160)"
if reader_pull pull-after-stranger; then fail "the image became pullable after an untrusted signature"; fi
ok "the image stays quarantined"

check "skopeo moves the trusted signature in; the reader's pull now works"
sign_with "$T/ec.pem" "$T/sig-good"
run_logged skopeo-sig skopeo copy --retry-times 0 --preserve-digests --dest-cert-dir "$CERT_DIR" \
  --dest-creds pub:publisher-password "oci:$T/sig-good:sig" "docker://$KEEP_HOST/signed/app:$SIG_TAG"
reader_pull pull-signed || fail "the reader's pull failed: $(tail -n 3 "$T/pull-signed.log")"
expect_eq "image ID the reader pulled" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$ref")"
verify=$(admin_api GET "/verify?repository=signed/app&reference=v1")
expect_eq "verify: trusted" true "$(jq -r .trusted <<<"$verify")"
expect_eq "verify: signed by" "$KEY_ID" "$(jq -r '.signatures[0].key_id' <<<"$verify")"

check "revoking the key quarantines the image again at once"
admin_api DELETE "/namespaces/signed/keys/$KEY_ID" >/dev/null
if reader_pull pull-revoked; then fail "a reader pulled after the key was revoked"; fi
grep -q "quarantined" "$T/pull-revoked.log" || fail "not refused as quarantined: $(tail -n 3 "$T/pull-revoked.log")"
ok
