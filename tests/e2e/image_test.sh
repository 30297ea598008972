#!/usr/bin/env bash
# e2e_image: Keep ships itself as a signed image. deploy/image/build.sh
# assembles the image from this build (twice, to the same digest: it is
# reproducible); it runs as a user who is not root and holds no shell. skopeo
# pushes it into a running Keep, where it is quarantined until `keepctl sign`
# signs it; its bill of materials goes beside it as a referrer, withheld from
# readers until signed too. A reader then pulls the image out of Keep, podman
# runs it (--read-only --cap-drop=all --security-opt=no-new-privileges), and
# skopeo pushes to the keepd in it and pulls from it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init image "${1:-}" "${2:-}"
need skopeo
need unshare
[[ -n "$KEEPCTL" ]] || fail "usage: $0 KEEPD KEEPCTL"
BUILD="$(cd "$(dirname "$0")/../.." && pwd)/deploy/image/build.sh"
VERSION=0.0.0-e2e

check "deploy/image/build.sh twice gives one image digest"
first=$(bash "$BUILD" "$KEEPD" "$KEEPCTL" "$T/image" "$VERSION")
second=$(bash "$BUILD" "$KEEPD" "$KEEPCTL" "$T/image-again" "$VERSION")
expect_eq "manifest digest of the second build" "$first" "$second"
IMAGE=$first
cmp -s "$T/image.keepd.cdx.json" "$T/image-again.keepd.cdx.json" || fail "the two SBOMs differ"
ok

check "the image runs as user 65532, with keepd and keepctl and no shell or other program"
manifest="$T/image/blobs/sha256/${IMAGE#sha256:}"
config="$T/image/blobs/sha256/$(jq -r '.config.digest | ltrimstr("sha256:")' "$manifest")"
expect_eq "config User" "65532:65532" "$(jq -r .config.User "$config")"
expect_eq "config Entrypoint" '["/usr/bin/keepd"]' "$(jq -c .config.Entrypoint "$config")"
files=$(for l in $(jq -r '.layers[].digest | ltrimstr("sha256:")' "$manifest"); do
  tar tzf "$T/image/blobs/sha256/$l"; done)
programs=$(grep -E '^(usr/)?s?bin/.' <<<"$files" | sort | tr '\n' ' ')
expect_eq "programs in the image" "usr/bin/keepctl usr/bin/keepd " "$programs"
grep -qx 'etc/ssl/certs/ca-certificates.crt' <<<"$files" || fail "no CA certificates in the image"

keep_start
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
run_logged keepctl-ns "$KEEPCTL" namespace create keep
READER_PASSWORD="reader-password-$RANDOM"
printf '%s' "$READER_PASSWORD" >"$T/pw"
run_logged keepctl-user "$KEEPCTL" user add reader --password-stdin <"$T/pw"
run_logged keepctl-member "$KEEPCTL" member add keep reader --role reader
mkdir -m 700 "$T/keys"
run_logged keepctl-keygen "$KEEPCTL" key generate --out "$T/keys/release"
run_logged keepctl-keyadd "$KEEPCTL" key add keep --name release --file "$T/keys/release.pub"
READER="reader:$READER_PASSWORD"
rcurl() { curl -sS --max-time 60 --cacert "$KEEP_CA" -u "$READER" "$@"; }

check "skopeo pushes the image into Keep; a reader is refused it until it is signed"
skopeo_to_keep "oci:$T/image:$VERSION" "keep/keepd:$VERSION"
expect_eq "reader GET of the manifest before signing" 403 \
  "$(rcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/keep/keepd/manifests/$IMAGE")"
run_logged keepctl-sign "$KEEPCTL" sign "keep/keepd:$VERSION" --key "$T/keys/release.key"
run_logged skopeo-reader-pull skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" \
  --src-creds "$READER" "docker://$KEEP_HOST/keep/keepd:$VERSION" "oci:$T/pulled:$VERSION"
expect_eq "digest of the image the reader pulled" "$IMAGE" "$(layout_manifest_digest "$T/pulled" "$VERSION")"

check "the SBOM goes beside the image as a referrer, withheld from readers until signed"
sbom="$T/image.keepd.cdx.json"
printf '{}' >"$T/empty.json"
for f in "$T/empty.json" "$sbom"; do
  d="sha256:$(sha256_of "$f")"
  code=$(kcurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$f" "$KEEP_URL/v2/keep/keepd/blobs/uploads/?digest=$d")
  expect_eq "upload of $(basename "$f")" 201 "$code"
done
jq -nc --arg subject "$IMAGE" --argjson size "$(size_of "$manifest")" \
  --arg sbom "sha256:$(sha256_of "$sbom")" --argjson sbom_size "$(size_of "$sbom")" \
  --arg empty "sha256:$(sha256_of "$T/empty.json")" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.cyclonedx+json",
    config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $empty, size: 2},
    layers: [{mediaType: "application/vnd.cyclonedx+json", digest: $sbom, size: $sbom_size}],
    subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $subject, size: $size}}' \
  >"$T/sbom-manifest.json"
SBOM_MANIFEST="sha256:$(sha256_of "$T/sbom-manifest.json")"
code=$(kcurl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$T/sbom-manifest.json" "$KEEP_URL/v2/keep/keepd/manifests/$SBOM_MANIFEST")
expect_eq "PUT of the SBOM's manifest" 201 "$code"
referrers() { rcurl "$KEEP_URL/v2/keep/keepd/referrers/$IMAGE?artifactType=application/vnd.cyclonedx%2Bjson"; }
expect_eq "SBOMs a reader sees before it is signed" 0 "$(referrers | jq '.manifests | length')"
run_logged keepctl-sign-sbom "$KEEPCTL" sign "keep/keepd@$SBOM_MANIFEST" --key "$T/keys/release.key"
expect_eq "the SBOM a reader sees once signed" "$SBOM_MANIFEST" "$(referrers | jq -r '.manifests[0].digest')"
rcurl -o "$T/sbom-pulled.json" "$KEEP_URL/v2/keep/keepd/blobs/sha256:$(sha256_of "$sbom")"
cmp -s "$sbom" "$T/sbom-pulled.json" || fail "the SBOM the reader got differs"
ok

check "podman runs the image the reader pulled: read-only, no capabilities, no new privileges"
podman_init
image_id=$("${PODMAN[@]}" pull -q "oci:$T/pulled:$VERSION") || fail "podman could not load the pulled image"
mkdir -p "$T/imgdata"
chown 65532:65532 "$T/imgdata"
chmod 700 "$T/imgdata"
IMG_PORT=$(free_port)
IMG_PASSWORD="image-admin-$RANDOM"
# podman's runtimes cannot use the host's mixed cgroup v1/v2 hierarchy here:
# in a mount namespace of its own the container sees a plain cgroup2 mount,
# and podman makes no cgroup for it (--cgroups=disabled). The host network
# spares the test a bridge; the image listens where KEEP_LISTEN says.
{
  echo 'set -e'
  echo 'umount -l /sys/fs/cgroup 2>/dev/null || true'
  echo 'mount -t cgroup2 none /sys/fs/cgroup'
  printf 'exec'
  printf ' %q' "${PODMAN[@]}" run --rm --name keep-image-e2e --cgroups=disabled --network=host \
    --read-only --cap-drop=all --security-opt=no-new-privileges \
    --ulimit nofile=4096:4096 --ulimit nproc=1024:1024 \
    -e "KEEP_LISTEN=127.0.0.1:$IMG_PORT" -e "KEEP_ADMIN_PASSWORD=$IMG_PASSWORD" \
    -v "$T/imgdata:/var/lib/keep" "$image_id"
  echo
} >"$T/run-image.sh"
unshare -m --propagation private bash "$T/run-image.sh" >"$T/image-keepd.log" 2>&1 &
E2E_PIDS+=($!)
for _ in $(seq 150); do grep -q 'listening on' "$T/image-keepd.log" && break; sleep 0.1; done
grep -q 'listening on' "$T/image-keepd.log" || fail "keepd in the container did not start: $(tail -5 "$T/image-keepd.log")"
pid=$(pgrep -f "^/usr/bin/keepd --config /etc/keep/keep.json" | head -1)
[[ -n $pid ]] || fail "no keepd process of the container found"
expect_eq "uid of keepd in the container" 65532 "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
expect_eq "its effective capabilities" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")"
expect_eq "its no_new_privs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status")"
if nsenter -t "$pid" -m touch /usr/bin/written 2>/dev/null; then
  fail "the container's root filesystem is writable"
fi
ok "its root filesystem is read-only"
mkdir -p "$T/image-certs"
cp "$T/imgdata/tls/server.crt" "$T/image-certs/ca.crt"
make_test_image "$T/src" v1
run_logged skopeo-image-push skopeo copy --retry-times 0 --dest-cert-dir "$T/image-certs" \
  --dest-creds "admin:$IMG_PASSWORD" "oci:$T/src:v1" "docker://127.0.0.1:$IMG_PORT/e2e/app:v1"
run_logged skopeo-image-pull skopeo copy --retry-times 0 --src-cert-dir "$T/image-certs" \
  --src-creds "admin:$IMG_PASSWORD" "docker://127.0.0.1:$IMG_PORT/e2e/app:v1" "oci:$T/back:v1"
expect_eq "digest pulled back from keepd in the container" "$IMG_MANIFEST" "$(layout_manifest_digest "$T/back" v1)"

check "the compose and Kubernetes examples keep the settings they promise"
here="$(cd "$(dirname "$0")/../.." && pwd)/deploy/image"
for want in 'read_only: true' 'user: "65532:65532"' 'cap_drop: [ALL]' 'no-new-privileges:true' \
  'mem_limit:' 'pids_limit:'; do
  grep -qF "$want" "$here/compose.yaml" || fail "compose.yaml lost '$want'"
done
for want in 'runAsNonRoot: true' 'readOnlyRootFilesystem: true' 'capabilities: {drop: [ALL]}' \
  'seccompProfile: {type: RuntimeDefault}' 'allowPrivilegeEscalation: false' 'kind: NetworkPolicy' \
  '{protocol: TCP, port: 5000}' 'limits: {cpu:'; do
  grep -qF "$want" "$here/kubernetes.yaml" || fail "kubernetes.yaml lost '$want'"
done
ok
