#!/usr/bin/env bash
# e2e_keyless: keyless signatures, as a GitHub Actions workflow makes them,
# signed by the tests' private sigstore (keep_keyless_sign, built beside
# keepd; a third argument or KEEP_KEYLESS_SIGN names another).
#
# An admin installs the private sigstore's trusted_root.json with keepctl
# trust-root set, and a maintainer trusts the release workflow of acme/app
# with keepctl identity add (a subject expression and a required extension).
# Images pushed by skopeo are quarantined from a reader's podman pull. A
# signature by another workflow is refused naming the identity check. The
# release workflow's signatures make the pulls work: cosign's keyless
# signature moved in by skopeo at the tag sha256-<hex>.sig for one image, a
# sigstore bundle attached as an OCI 1.1 referrer by sigstore's JavaScript
# client for the other; the bundle a reader gets through the referrers API
# verifies with sigstore's own verifier against the same trust root. keepctl
# identity remove quarantines both images again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init keyless "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl [PATH/TO/keep_keyless_sign]"
SIGN=${3:-${KEEP_KEYLESS_SIGN:-$(dirname "$KEEPD")/tests/e2e/keep_keyless_sign}}
[[ -x "$SIGN" ]] || fail "keep_keyless_sign not found at '$SIGN': build it, or name it as the third argument"
need skopeo node
podman_init
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE
export XDG_CONFIG_HOME="$T/config"

# Installed by `./keep.sh deps test` with npm ci from the lock file.
check "sigstore's JavaScript libraries are installed, at the versions package.json pins"
SIGSTORE_JS=$(cd "$(dirname "$0")/sigstore" && pwd)
for dep in $(jq -r '.dependencies | keys[]' "$SIGSTORE_JS/package.json"); do
  want=$(jq -r --arg d "$dep" '.dependencies[$d]' "$SIGSTORE_JS/package.json")
  have=$(jq -r .version "$SIGSTORE_JS/node_modules/$dep/package.json" 2>/dev/null || true)
  [[ $have == "$want" ]] ||
    fail "sigstore's JavaScript libraries are not installed ($dep ${have:-missing}, pinned $want in $SIGSTORE_JS): run ./keep.sh deps test"
done
ok

# @sigstore/oci speaks plain HTTP to 127.0.0.1 and localhost, so keepd gets a
# certificate for keep.test too, which client.js looks up as 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=keep.test -addext "subjectAltName=DNS:keep.test,IP:127.0.0.1" \
  -keyout "$T/tls.key" -out "$T/tls.crt" 2>"$T/openssl-req.log"
export KEEP_TLS_CERT="$T/tls.crt" KEEP_TLS_KEY="$T/tls.key"
keep_start
export NODE_EXTRA_CA_CERTS="$KEEP_CA"

# The workflow the private sigstore's certificates name (keyless_fixture.h).
ISSUER=https://token.actions.githubusercontent.com
WORKFLOW=https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0
STRANGER=https://github.com/mallory/app/.github/workflows/release.yml@refs/tags/v1.2.0

check "namespace 'signed' (quarantine), a publisher and a reader"
admin_api POST /namespaces '{"name":"signed"}' >/dev/null
expect_eq "policy of signed" quarantine "$(admin_api GET /namespaces/signed/policy | jq -r .mode)"
admin_api POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/signed/members/pub '{"role":"publisher"}' >/dev/null
admin_api PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
ok

check "the publisher pushes two unsigned images with skopeo"
make_test_image "$T/src" v1
make_test_image "$T/src" v2
KEEP_CREDS=pub:publisher-password skopeo_to_keep "oci:$T/src:v1" signed/app:v1
KEEP_CREDS=pub:publisher-password skopeo_to_keep "oci:$T/src:v2" signed/app:v2
fetch_manifest signed/app v1 "$ACCEPT_ALL_MANIFESTS" "$T/v1.json"
fetch_manifest signed/app v2 "$ACCEPT_ALL_MANIFESTS" "$T/v2.json"
D1=$(header "$T/v1.json.headers" Docker-Content-Digest)
D2=$(header "$T/v2.json.headers" Docker-Content-Digest)
ok "v1 $D1, v2 $D2"

check "the private sigstore signs: v1 in cosign's tag layout, v2 as a bundle, v1 by another workflow"
# One run: every signature chains to the one trust root it writes.
run_logged keyless-sign "$SIGN" "$T/keyless" \
  cosign sig-v1 "$KEEP_HOST/signed/app" "$D1" \
  bundle bundle-v2.json "$KEEP_HOST/signed/app" "$D2" \
  --subject "$STRANGER" cosign sig-stranger "$KEEP_HOST/signed/app" "$D1"
# signer_of LAYOUT: the subject of the certificate in a cosign signature layout.
signer_of() {
  local manifest
  manifest=$(layout_blob "$1" "$(jq -r '.manifests[0].digest' "$1/index.json")")
  jq -r '.layers[0].annotations["dev.sigstore.cosign/certificate"]' "$manifest" |
    openssl x509 -noout -ext subjectAltName | sed -n 's/^ *URI://p'
}
expect_eq "certificate subject of v1's signature" "$WORKFLOW" "$(signer_of "$T/keyless/sig-v1")"
expect_eq "certificate subject of the other signature" "$STRANGER" "$(signer_of "$T/keyless/sig-stranger")"

check "keepctl trust-root set and identity add: the release workflow of acme/app"
run_logged trust-root-set "$KEEPCTL" trust-root set private-sigstore "$T/keyless/trusted_root.json"
run_logged identity-add "$KEEPCTL" identity add signed release --issuer "$ISSUER" \
  --subject-regexp 'https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*' \
  --extension source-repository-uri=https://github.com/acme/app
run_logged identity-show "$KEEPCTL" --output json identity show signed release
expect_eq "identity's signer id" identity:release "$(jq -r .signer_id "$T/identity-show.log")"

# reader_pull TAG NAME: a reader's podman pull of signed/app:TAG; output in $T/NAME.log.
reader_pull() {
  "${PODMAN[@]}" rmi -f "$KEEP_HOST/signed/app:$1" >/dev/null 2>&1 || true
  "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$KEEP_HOST/signed/app:$1" >"$T/$2.log" 2>&1
}
# expect_refused TAG NAME: the reader's pull of TAG is refused as quarantined.
expect_refused() {
  if reader_pull "$1" "$2"; then fail "a reader pulled signed/app:$1"; fi
  grep -q quarantined "$T/$2.log" || fail "refused without saying why: $(tail -n 2 "$T/$2.log")"
  ok "signed/app:$1 refused: $(grep -o 'denied:.*' "$T/$2.log" | head -n1 | cut -c1-120)"
}
# expect_served TAG DIGEST NAME: the reader's pull of TAG works and gets DIGEST.
expect_served() {
  reader_pull "$1" "$3" || fail "the reader's pull of signed/app:$1 failed: $(tail -n 3 "$T/$3.log")"
  expect_eq "digest of the image the reader pulled" "$2" \
    "$("${PODMAN[@]}" image inspect --format '{{.Digest}}' "$KEEP_HOST/signed/app:$1")"
}
podman_login_as rdr reader-password-1

check "the reader's podman pulls are refused: both images are quarantined"
expect_refused v1 pull-v1-unsigned
expect_refused v2 pull-v2-unsigned

# skopeo_sig LAYOUT DIGEST NAME: skopeo moves the signature layout's "sig"
# manifest to signed/app:sha256-<hex>.sig as the publisher; output in $T/NAME.log.
skopeo_sig() {
  skopeo copy --retry-times 0 --preserve-digests --dest-cert-dir "$CERT_DIR" \
    --dest-creds pub:publisher-password "oci:$1:sig" \
    "docker://$KEEP_HOST/signed/app:sha256-${2#sha256:}.sig" >"$T/$3.log" 2>&1
}

check "a keyless signature by another workflow is refused, naming the identity check"
if skopeo_sig "$T/keyless/sig-stranger" "$D1" sig-stranger; then
  fail "Keep accepted a signature by a workflow the namespace does not trust"
fi
grep -q 'denied' "$T/sig-stranger.log" || fail "not refused as denied: $(tail -n 3 "$T/sig-stranger.log")"
grep -q "keyless signature: identity: the certificate's subject" "$T/sig-stranger.log" ||
  fail "the refusal does not name the identity check: $(tail -n 3 "$T/sig-stranger.log")"
ok "$(grep -o 'denied:.*' "$T/sig-stranger.log" | head -n1 | cut -c1-200)"
expect_refused v1 pull-v1-after-stranger

check "skopeo moves the release workflow's keyless cosign signature in; the reader's pull works"
skopeo_sig "$T/keyless/sig-v1" "$D1" sig-v1 || fail "the signature was refused: $(tail -n 3 "$T/sig-v1.log")"
grep -q '"event":"signature accepted"' "$KEEP_ERR" || fail "no audit line for the accepted signature"
expect_served v1 "$D1" pull-v1-signed
verdict=$(admin_api GET "/verify?repository=signed/app&reference=v1")
expect_eq "v1 trusted" true "$(jq -r .trusted <<<"$verdict")"
expect_eq "v1 signed by" identity:release "$(jq -r '.signatures[0].key_id' <<<"$verdict")"
expect_eq "v1 signature format" cosign "$(jq -r '.signatures[0].format' <<<"$verdict")"
# Its certificate and chain are verified now, so readers may fetch it too.
expect_eq "the reader's GET of the signature manifest" 200 \
  "$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -o /dev/null -w '%{http_code}' \
    -H "Accept: $MT_OCI_MANIFEST" "$KEEP_URL/v2/signed/app/manifests/sha256-${D1#sha256:}.sig")"
expect_refused v2 pull-v2-still-unsigned

check "sigstore's client attaches the release workflow's bundle to v2 as a referrer; the reader's pull works"
KEEP_USER=pub KEEP_PASSWORD=publisher-password run_logged attach-bundle \
  node "$SIGSTORE_JS/client.js" attach-bundle "keep.test:$KEEP_PORT/signed/app" "$D2" \
  "$T/keyless/bundle-v2.json"
REFERRER=$(tail -n 1 "$T/attach-bundle.log")
expect_served v2 "$D2" pull-v2-signed
verdict=$(admin_api GET "/verify?repository=signed/app&reference=v2")
expect_eq "v2 trusted" true "$(jq -r .trusted <<<"$verdict")"
expect_eq "v2 signed by" identity:release "$(jq -r '.signatures[0].key_id' <<<"$verdict")"
expect_eq "v2 signature format" sigstore-bundle "$(jq -r '.signatures[0].format' <<<"$verdict")"
expect_eq "v2 signature manifest" "$REFERRER" "$(jq -r '.signatures[0].signature' <<<"$verdict")"

check "the reader fetches the bundle through the referrers API; sigstore's verifier accepts it against the trust root"
# rdr_get PATH [CURL-ARGS...]: GET $KEEP_URL/v2/signed/app/PATH as the reader.
rdr_get() {
  curl -sS --fail --cacert "$KEEP_CA" -u rdr:reader-password-1 "${@:2}" "$KEEP_URL/v2/signed/app/$1"
}
expect_eq "referrer of v2 the reader sees" "$REFERRER" \
  "$(rdr_get "referrers/$D2" | jq -r '.manifests[0].digest')"
bundle_blob=$(rdr_get "manifests/$REFERRER" -H "Accept: $MT_OCI_MANIFEST" | jq -r '.layers[0].digest')
rdr_get "blobs/$bundle_blob" -o "$T/bundle-served.json"
cmp -s "$T/bundle-served.json" "$T/keyless/bundle-v2.json" || fail "the bundle served differs from the one attached"
run_logged verify-keyless node "$SIGSTORE_JS/client.js" verify-keyless "$T/bundle-served.json" \
  "$T/keyless/trusted_root.json" "$D2" "$ISSUER" "$WORKFLOW"
if node "$SIGSTORE_JS/client.js" verify-keyless "$T/bundle-served.json" "$T/keyless/trusted_root.json" \
  "$D2" "$ISSUER" "$STRANGER" >"$T/verify-keyless-stranger.log" 2>&1; then
  fail "sigstore's verifier accepted the bundle as another workflow's"
fi
ok

check "keepctl trust-root remove withdraws what the root vouched for; setting it back restores it"
run_logged trust-root-remove "$KEEPCTL" trust-root remove private-sigstore
expect_refused v1 pull-v1-rootless
expect_refused v2 pull-v2-rootless
run_logged trust-root-set-again "$KEEPCTL" trust-root set private-sigstore "$T/keyless/trusted_root.json"
expect_served v1 "$D1" pull-v1-root-back
expect_served v2 "$D2" pull-v2-root-back
ok

check "keepctl identity remove quarantines both images again"
run_logged identity-remove "$KEEPCTL" identity remove signed release
expect_refused v1 pull-v1-revoked
expect_refused v2 pull-v2-revoked

log "e2e keyless passed"
