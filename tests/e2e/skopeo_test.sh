#!/usr/bin/env bash
# e2e_skopeo: skopeo pushes an OCI image (as OCI and as Docker schema2) into
# Keep and copies it back out; every blob must come back byte-identical.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init skopeo "${1:-}"
need skopeo
keep_start

make_test_image "$T/src" v1

# ---- OCI media types --------------------------------------------------------
check "skopeo copy oci:src:v1 -> docker://$KEEP_HOST/e2e/skopeo:v1 (OCI manifest)"
skopeo_to_keep "oci:$T/src:v1" e2e/skopeo:v1
ok

check "Keep serves the manifest skopeo pushed, byte for byte"
fetch_manifest e2e/skopeo v1 "$MT_OCI_MANIFEST" "$T/m-oci.json"
expect_eq "Content-Type" "$MT_OCI_MANIFEST" "$(header "$T/m-oci.json.headers" Content-Type)"
expect_eq "sha256 of the served manifest" "$IMG_MANIFEST" "sha256:$(sha256_of "$T/m-oci.json")"
expect_eq "Docker-Content-Digest" "$IMG_MANIFEST" "$(header "$T/m-oci.json.headers" Docker-Content-Digest)"

check "skopeo list-tags shows v1"
tags=$(skopeo list-tags --cert-dir "$CERT_DIR" --creds "$KEEP_CREDS" "docker://$KEEP_HOST/e2e/skopeo")
jq -e '.Tags | index("v1")' <<<"$tags" >/dev/null || fail "tag v1 missing from list-tags: $tags"
ok

check "skopeo copy docker://$KEEP_HOST/e2e/skopeo:v1 -> a new OCI layout"
skopeo_from_keep e2e/skopeo:v1 "oci:$T/out:v1"
expect_eq "manifest digest in the pulled layout" "$IMG_MANIFEST" "$(layout_manifest_digest "$T/out" v1)"
for d in "$IMG_CONFIG" "${IMG_LAYERS[@]}"; do
  [[ -f $(layout_blob "$T/out" "$d") ]] || fail "blob $d missing from the pulled layout"
  cmp -s "$(layout_blob "$T/src" "$d")" "$(layout_blob "$T/out" "$d")" ||
    fail "blob $d differs between the pushed and the pulled layout"
  expect_eq "sha256 of pulled blob" "$d" "sha256:$(sha256_of "$(layout_blob "$T/out" "$d")")"
done

# ---- Docker schema2 media types ----------------------------------------------
check "skopeo copy --format v2s2 oci:src:v1 -> docker://$KEEP_HOST/e2e/skopeo-v2s2:v1"
skopeo_to_keep "oci:$T/src:v1" e2e/skopeo-v2s2:v1 --format v2s2
fetch_manifest e2e/skopeo-v2s2 v1 "$MT_DOCKER_MANIFEST" "$T/m-v2s2.json"
v2s2_digest=$(header "$T/m-v2s2.json.headers" Docker-Content-Digest)
expect_eq "Content-Type" "$MT_DOCKER_MANIFEST" "$(header "$T/m-v2s2.json.headers" Content-Type)"
expect_eq "Docker-Content-Digest is the sha256 of the body" "sha256:$(sha256_of "$T/m-v2s2.json")" "$v2s2_digest"
expect_eq "manifest mediaType" "$MT_DOCKER_MANIFEST" "$(jq -r .mediaType "$T/m-v2s2.json")"
expect_eq "config mediaType" "$MT_DOCKER_CONFIG" "$(jq -r .config.mediaType "$T/m-v2s2.json")"
expect_eq "layer mediaTypes" "$MT_DOCKER_LAYER_GZ $MT_DOCKER_LAYER_GZ" "$(jq -r '[.layers[].mediaType] | join(" ")' "$T/m-v2s2.json")"
expect_eq "layer digests (unchanged by the conversion)" "${IMG_LAYERS[*]}" "$(jq -r '[.layers[].digest] | join(" ")' "$T/m-v2s2.json")"

check "GET by tag with the accepted types on separate Accept lines (as skopeo sends them)"
expect_accept_lines GET e2e/skopeo-v2s2 v1 "$MT_OCI_MANIFEST" "$MT_DOCKER_MANIFEST" "$MT_DOCKER_LIST" "$MT_OCI_INDEX"

check "skopeo copy docker://$KEEP_HOST/e2e/skopeo-v2s2:v1 -> dir: keeps the schema2 manifest and blobs exactly"
skopeo_from_keep e2e/skopeo-v2s2:v1 "dir:$T/out-v2s2"
cmp -s "$T/out-v2s2/manifest.json" "$T/m-v2s2.json" || fail "the pulled schema2 manifest differs from the one Keep serves"
ok "manifest.json identical ($v2s2_digest)"
for d in "${IMG_LAYERS[@]}"; do
  cmp -s "$(layout_blob "$T/src" "$d")" "$T/out-v2s2/${d#sha256:}" || fail "layer $d differs after the v2s2 round trip"
done
ok "both layers byte-identical"
cfg=$(jq -r .config.digest "$T/m-v2s2.json")
expect_eq "config blob digest" "$cfg" "sha256:$(sha256_of "$T/out-v2s2/${cfg#sha256:}")"

# ---- registry-to-registry copy (cross-repository blob mount) ------------------
check "skopeo copy docker://$KEEP_HOST/e2e/skopeo:v1 -> docker://$KEEP_HOST/other/copy:v1"
run_logged skopeo-r2r skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" --dest-cert-dir "$CERT_DIR" \
  --src-creds "$KEEP_CREDS" --dest-creds "$KEEP_CREDS" \
  "docker://$KEEP_HOST/e2e/skopeo:v1" "docker://$KEEP_HOST/other/copy:v1"
fetch_manifest other/copy v1 "$MT_OCI_MANIFEST" "$T/m-copy.json"
expect_eq "manifest digest in the second repository" "$IMG_MANIFEST" "sha256:$(sha256_of "$T/m-copy.json")"
# A POST to uploads/ answered 201 is a mount (skopeo uploads with POST, PATCH,
# PUT): each layer comes from e2e/skopeo without its bytes being sent again.
mounts=$(jq -r 'select(.method == "POST" and .status == 201 and (.path | startswith("/v2/other/copy/")))
  | .path' "$KEEP_LOG" | wc -l)
((mounts >= ${#IMG_LAYERS[@]})) ||
  fail "keepd answered $mounts cross-repository mount(s) with 201 during the copy, expected one per layer (${#IMG_LAYERS[@]})"
ok "keepd answered $mounts cross-repository mount request(s) with 201 during the copy"
for d in "$IMG_CONFIG" "${IMG_LAYERS[@]}"; do
  code=$(kcurl -o /dev/null -w '%{http_code}' -I "$KEEP_URL/v2/other/copy/blobs/$d")
  expect_eq "HEAD other/copy blob $d" 200 "$code"
done
