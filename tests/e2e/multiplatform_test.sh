#!/usr/bin/env bash
# e2e_multiplatform: an OCI index of linux/amd64 + linux/arm64 images goes into
# Keep with `skopeo copy --all`; Keep serves the index as pushed, skopeo picks
# arm64 out of it, podman pulls amd64 from it. In a namespace that needs
# signatures, the same index is refused to a reader (a layer fetched by digest
# too) until `keepctl sign` signs the index once; then the reader pulls each
# platform.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init multiplatform "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo
podman_init
keep_start

make_multiarch_image "$T/multi" v1
repo=e2e/multi

check "skopeo copy --all oci:multi:v1 -> docker://$KEEP_HOST/$repo:v1"
skopeo_to_keep "oci:$T/multi:v1" "$repo:v1" --all
ok

check "GET the tag returns the OCI index byte for byte"
fetch_manifest "$repo" v1 "$ACCEPT_ALL_MANIFESTS" "$T/index.json"
expect_eq "Content-Type" "$MT_OCI_INDEX" "$(header "$T/index.json.headers" Content-Type)"
expect_eq "Docker-Content-Digest" "$MULTI_INDEX" "$(header "$T/index.json.headers" Docker-Content-Digest)"
expect_eq "sha256 of the body" "$MULTI_INDEX" "sha256:$(sha256_of "$T/index.json")"
expect_eq "platforms in the index" "linux/amd64 linux/arm64" \
  "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' "$T/index.json")"

check "each platform manifest is served by digest"
for m in "$AMD64_MANIFEST" "$ARM64_MANIFEST"; do
  fetch_manifest "$repo" "$m" "$MT_OCI_MANIFEST" "$T/child.json"
  expect_eq "sha256 of $repo@$m" "$m" "sha256:$(sha256_of "$T/child.json")"
done

check "skopeo copy --override-arch arm64 pulls only the arm64 image"
skopeo_from_keep "$repo:v1" "oci:$T/arm64:v1" --override-arch arm64 --override-os linux
expect_eq "manifest digest pulled" "$ARM64_MANIFEST" "$(layout_manifest_digest "$T/arm64" v1)"
expect_eq "architecture in the pulled config" arm64 \
  "$(jq -r .architecture "$(layout_blob "$T/arm64" "$ARM64_CONFIG")")"
[[ -e $(layout_blob "$T/arm64" "$AMD64_CONFIG") ]] && fail "the amd64 config was pulled too"
ok "no amd64 blobs in the arm64 pull"

check "skopeo copy --all back out gives the same index and both images"
skopeo_from_keep "$repo:v1" "oci:$T/all:v1" --all
expect_eq "index digest pulled" "$MULTI_INDEX" "$(layout_manifest_digest "$T/all" v1)"
for b in "$T/multi/blobs/sha256/"*; do
  cmp -s "$b" "$T/all/blobs/sha256/${b##*/}" || fail "blob ${b##*/} missing or different after the --all round trip"
done
ok "all $(find "$T/multi/blobs/sha256" -type f | wc -l) blobs byte-identical"

check "podman pull --arch amd64 of the index gets the amd64 image"
podman_login
run_logged podman-pull "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" --arch amd64 --os linux "$KEEP_HOST/$repo:v1"
expect_eq "image ID (amd64 config)" "${AMD64_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/$repo:v1")"

check "podman pull --arch arm64 of the index gets the arm64 image"
run_logged podman-pull-arm "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" --arch arm64 --os linux "$KEEP_HOST/$repo:v1"
expect_eq "image ID (arm64 config)" "${ARM64_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/$repo:v1")"

check "in namespace 'signed', the unsigned index is quarantined from a reader"
admin_api POST /namespaces '{"name":"signed"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
skopeo_to_keep "oci:$T/multi:v1" signed/multi:v1 --all
RDR=(--src-creds rdr:reader-password-1)
if skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" "${RDR[@]}" --override-arch arm64 \
  --override-os linux "docker://$KEEP_HOST/signed/multi:v1" "oci:$T/refused:v1" >"$T/refused.log" 2>&1; then
  fail "a reader copied an unsigned index"
fi
grep -q quarantined "$T/refused.log" || fail "not refused as quarantined: $(tail -n 2 "$T/refused.log")"
layer=$(jq -r '.layers[0].digest' "$(layout_blob "$T/multi" "$ARM64_MANIFEST")")
code=$(curl -sS -o "$T/blob-refused.json" -w '%{http_code}' --cacert "$KEEP_CA" -u rdr:reader-password-1 \
  "$KEEP_URL/v2/signed/multi/blobs/$layer")
expect_eq "a reader's GET of an arm64 layer by digest" 403 "$code"
expect_eq "its error code" DENIED "$(jq -r '.errors[0].code' "$T/blob-refused.json")"

check "keepctl sign signs the index once (a cosign v3 bundle)"
export XDG_CONFIG_HOME="$T/keepctl-config"
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
run_logged keepctl-keygen "$KEEPCTL" key generate --out "$T/release"
run_logged keepctl-key-add "$KEEPCTL" key add signed --name release --file "$T/release.pub"
run_logged keepctl-sign "$KEEPCTL" sign signed/multi:v1 --key "$T/release.key" --format bundle
grep -q "Signed signed/multi@$MULTI_INDEX" "$T/keepctl-sign.log" ||
  fail "keepctl signed something else: $(cat "$T/keepctl-sign.log")"
ok

check "the reader now gets each platform: skopeo arm64, podman amd64"
run_logged skopeo-signed-arm64 skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" "${RDR[@]}" \
  --override-arch arm64 --override-os linux "docker://$KEEP_HOST/signed/multi:v1" "oci:$T/signed-arm64:v1"
expect_eq "manifest digest the reader pulled" "$ARM64_MANIFEST" "$(layout_manifest_digest "$T/signed-arm64" v1)"
podman_login_as rdr reader-password-1
run_logged podman-signed-amd64 "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" --arch amd64 --os linux \
  "$KEEP_HOST/signed/multi:v1"
expect_eq "image ID the reader pulled (amd64 config)" "${AMD64_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/signed/multi:v1")"
