#!/usr/bin/env bash
# e2e_cosign_bundle: cosign v3 signatures, made and checked by sigstore's own
# JavaScript libraries (npm @sigstore/sign, @sigstore/oci, @sigstore/verify,
# pinned in sigstore/package-lock.json) as an independent client.
#
# An image pushed by skopeo is quarantined from a reader's podman pull. A
# sigstore bundle attached by @sigstore/oci (cosign's BUNDLE_SPEC layout) with
# a key the namespace does not trust is refused; with a trusted key it makes
# the pull work. A reader fetches the bundle through the referrers API and
# @sigstore/verify accepts it; it also accepts the bundle `keepctl sign
# --format bundle` makes. Revoking the keys quarantines the image again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init cosign_bundle "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo node
podman_init
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE
export XDG_CONFIG_HOME="$T/config"

# Installed by `./keep.sh deps test` (and `./keep.sh test`) with npm ci from
# the lock file: this test runs offline and installs nothing.
check "sigstore's JavaScript libraries are installed, at the versions package.json pins"
SIGSTORE_JS=$(cd "$(dirname "$0")/sigstore" && pwd)
for dep in $(jq -r '.dependencies | keys[]' "$SIGSTORE_JS/package.json"); do
  want=$(jq -r --arg d "$dep" '.dependencies[$d]' "$SIGSTORE_JS/package.json")
  have=$(jq -r .version "$SIGSTORE_JS/node_modules/$dep/package.json" 2>/dev/null || true)
  [[ $have == "$want" ]] ||
    fail "sigstore's JavaScript libraries are not installed ($dep ${have:-missing}, pinned $want in $SIGSTORE_JS): run ./keep.sh deps test"
done
SIGSTORE=(node "$SIGSTORE_JS/client.js")
ok "node $(node --version), @sigstore/sign $(jq -r .version "$SIGSTORE_JS/node_modules/@sigstore/sign/package.json")"

# @sigstore/oci speaks plain HTTP to 127.0.0.1 and localhost, so keepd gets a
# certificate for keep.test, which the client looks up as 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=keep.test -addext "subjectAltName=DNS:keep.test,IP:127.0.0.1" \
  -keyout "$T/tls.key" -out "$T/tls.crt" 2>"$T/openssl-req.log"
export KEEP_TLS_CERT="$T/tls.crt" KEEP_TLS_KEY="$T/tls.key"
keep_start
export NODE_EXTRA_CA_CERTS="$KEEP_CA"

check "namespace 'signed', a publisher, a reader, a trusted P-256 key"
admin_api POST /namespaces '{"name":"signed"}' >/dev/null
admin_api POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/signed/members/pub '{"role":"publisher"}' >/dev/null
admin_api PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem"
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub"
KEY_ID=$(admin_api POST /namespaces/signed/keys \
  "$(jq -cn --rawfile k "$T/ec.pub" '{name:"release", public_key:$k}')" | jq -r .key_id)
ok "key $KEY_ID"

check "the publisher pushes an unsigned image with skopeo"
make_test_image "$T/src" v1
KEEP_CREDS=pub:publisher-password skopeo_to_keep "oci:$T/src:v1" signed/app:v1
fetch_manifest signed/app v1 "$ACCEPT_ALL_MANIFESTS" "$T/v1.json"
DIGEST=$(header "$T/v1.json.headers" Docker-Content-Digest)
ok "pushed $DIGEST"

ref="$KEEP_HOST/signed/app:v1"
# reader_pull NAME: a reader's podman pull of $ref; output in $T/NAME.log.
reader_pull() {
  "${PODMAN[@]}" rmi -f "$ref" >/dev/null 2>&1 || true
  "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$ref" >"$T/$1.log" 2>&1
}
podman_login_as rdr reader-password-1

check "the reader's podman pull is refused: the image is quarantined"
if reader_pull pull-unsigned; then fail "a reader pulled an unsigned image"; fi
grep -q quarantined "$T/pull-unsigned.log" || fail "no reason given: $(tail -n 2 "$T/pull-unsigned.log")"
ok

# attach KEY.pem NAME: sigstore's client signs $DIGEST and attaches the bundle
# as the publisher; its output in $T/NAME.log.
attach() {
  KEEP_USER=pub KEEP_PASSWORD=publisher-password \
    "${SIGSTORE[@]}" attach "keep.test:$KEEP_PORT/signed/app" "$DIGEST" "$1" >"$T/$2.log" 2>&1
}

check "a bundle by a key the namespace does not trust is refused, and the image stays quarantined"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/stranger.pem"
if attach "$T/stranger.pem" attach-stranger; then fail "Keep accepted a stranger's bundle"; fi
grep -q 403 "$T/attach-stranger.log" || fail "not refused with 403: $(cat "$T/attach-stranger.log")"
grep -q '"event":"signature refused"' "$KEEP_ERR" || fail "no audit line for the refused bundle"
grep '"event":"signature refused"' "$KEEP_ERR" | grep -q 'no signature in the envelope verifies' ||
  fail "the audit line does not say which check failed"
ok "sigstore's client says: $(tail -n 1 "$T/attach-stranger.log" | cut -c1-200)"
if reader_pull pull-after-stranger; then fail "the stranger's bundle made the image pullable"; fi
expect_eq "referrers of the image" 0 \
  "$(kcurl "$KEEP_URL/v2/signed/app/referrers/$DIGEST" | jq '.manifests | length')"

check "a bundle by the trusted key, attached by sigstore's client, is accepted"
attach "$T/ec.pem" attach-trusted || fail "attach failed: $(cat "$T/attach-trusted.log")"
REFERRER=$(tail -n 1 "$T/attach-trusted.log")
grep -q '"event":"signature accepted"' "$KEEP_ERR" || fail "no audit line for the accepted bundle"
verdict=$(admin_api GET "/verify?repository=signed/app&reference=v1")
expect_eq "trusted" true "$(jq -r .trusted <<<"$verdict")"
expect_eq "signature format" sigstore-bundle "$(jq -r '.signatures[0].format' <<<"$verdict")"
expect_eq "signature key" "$KEY_ID" "$(jq -r '.signatures[0].key_id' <<<"$verdict")"
expect_eq "signature manifest" "$REFERRER" "$(jq -r '.signatures[0].signature' <<<"$verdict")"

check "the reader's podman pull now works"
reader_pull pull-signed || fail "pull refused: $(tail -n 3 "$T/pull-signed.log")"
ok

# reader_bundle REFERRER OUT: the bundle blob of a referrer, fetched as the reader.
reader_bundle() {
  local blob
  blob=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -H "Accept: $MT_OCI_MANIFEST" \
    "$KEEP_URL/v2/signed/app/manifests/$1" | jq -r '.layers[0].digest')
  curl -sS --fail --cacert "$KEEP_CA" -u rdr:reader-password-1 -o "$2" \
    "$KEEP_URL/v2/signed/app/blobs/$blob"
}

check "the reader finds the bundle through the referrers API; sigstore's verifier accepts it"
index=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 \
  "$KEEP_URL/v2/signed/app/referrers/$DIGEST?artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson")
expect_eq "listed referrer" "$REFERRER" "$(jq -r '.manifests[0].digest' <<<"$index")"
reader_bundle "$REFERRER" "$T/bundle-js.json"
run_logged verify-js "${SIGSTORE[@]}" verify "$T/bundle-js.json" "$T/ec.pub" "$DIGEST"
if "${SIGSTORE[@]}" verify "$T/bundle-js.json" "$T/stranger.pem" "$DIGEST" >"$T/verify-wrong.log" 2>&1; then
  fail "sigstore's verifier accepted the bundle with another key"
fi
ok

check "keepctl sign --format bundle with an Ed25519 key; sigstore's verifier accepts keepctl's bundle"
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
run_logged keepctl-keygen "$KEEPCTL" key generate --out "$T/ci"
run_logged keepctl-key-add "$KEEPCTL" key add signed --name ci --file "$T/ci.pub"
run_logged keepctl-sign "$KEEPCTL" --output json sign "signed/app:v1" --key "$T/ci.key" --format bundle
KEEPCTL_REFERRER=$(jq -r .referrer "$T/keepctl-sign.log")
reader_bundle "$KEEPCTL_REFERRER" "$T/bundle-keepctl.json"
run_logged verify-keepctl "${SIGSTORE[@]}" verify "$T/bundle-keepctl.json" "$T/ci.pub" "$DIGEST"
ok "referrer $KEEPCTL_REFERRER"

check "revoking one key leaves the other's bundle; revoking both quarantines the image"
admin_api DELETE "/namespaces/signed/keys/$KEY_ID" >/dev/null
reader_pull pull-one-key || fail "pull refused with one key left: $(tail -n 3 "$T/pull-one-key.log")"
CI_ID=$(jq -r .key_id <<<"$("$KEEPCTL" --output json key list signed | jq -c '.keys[] | select(.name=="ci")')")
admin_api DELETE "/namespaces/signed/keys/$CI_ID" >/dev/null
if reader_pull pull-revoked; then fail "a reader pulled after every key was revoked"; fi
grep -q quarantined "$T/pull-revoked.log" || fail "no reason given: $(tail -n 2 "$T/pull-revoked.log")"
ok

log "e2e cosign_bundle passed"
