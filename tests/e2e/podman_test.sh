#!/usr/bin/env bash
# e2e_podman: podman (vfs storage in the temp dir) logs in to Keep, pushes an
# image, forgets it, pulls it back, and gets the same image ID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init podman "${1:-}"
podman_init
keep_start

make_test_image "$T/src" v1
ref="$KEEP_HOST/e2e/podman:v1"

check "podman pull oci:src:v1 into private storage"
id=$("${PODMAN[@]}" pull -q "oci:$T/src:v1") || fail "podman could not load the OCI layout"
expect_eq "image ID (the config digest)" "${IMG_CONFIG#sha256:}" "$id"
run_logged podman-tag "${PODMAN[@]}" tag "$id" "$ref"

podman_login

check "podman push $ref"
run_logged podman-push "${PODMAN[@]}" push --cert-dir "$CERT_DIR" --digestfile "$T/pushed.digest" "$ref"
pushed=$(cat "$T/pushed.digest")
log "podman pushed manifest $pushed"
fetch_manifest e2e/podman v1 "$ACCEPT_ALL_MANIFESTS" "$T/m.json"
expect_eq "Docker-Content-Digest of the tag" "$pushed" "$(header "$T/m.json.headers" Docker-Content-Digest)"
expect_eq "sha256 of the served manifest" "$pushed" "sha256:$(sha256_of "$T/m.json")"
expect_eq "config digest in the pushed manifest" "$IMG_CONFIG" "$(jq -r .config.digest "$T/m.json")"

check "podman rmi removes the local image"
run_logged podman-rmi "${PODMAN[@]}" rmi -f "$id"
if "${PODMAN[@]}" image exists "$ref"; then fail "image $ref still present after rmi"; fi
ok

check "podman pull $ref gives back the same image ID"
run_logged podman-pull "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$ref"
got=$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$ref")
expect_eq "image ID after pull" "${IMG_CONFIG#sha256:}" "$got"
expect_eq "repo digest after pull" "$pushed" "$("${PODMAN[@]}" image inspect --format '{{.Digest}}' "$ref")"

check "podman pull by digest $KEEP_HOST/e2e/podman@$pushed"
run_logged podman-pull-digest "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$KEEP_HOST/e2e/podman@$pushed"
ok

check "podman push --format v2s2 (Docker schema2), rmi, pull: same image ID"
ref2="$KEEP_HOST/e2e/podman:v2s2"
run_logged podman-tag2 "${PODMAN[@]}" tag "$id" "$ref2"
run_logged podman-push2 "${PODMAN[@]}" push --cert-dir "$CERT_DIR" --format v2s2 "$ref2"
fetch_manifest e2e/podman v2s2 "$MT_DOCKER_MANIFEST" "$T/m2.json"
expect_eq "Content-Type of the pushed manifest" "$MT_DOCKER_MANIFEST" "$(header "$T/m2.json.headers" Content-Type)"
run_logged podman-rmi-v2s2 "${PODMAN[@]}" rmi -f "$id"
run_logged podman-pull-v2s2 "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$ref2"
expect_eq "image ID after pull" "${IMG_CONFIG#sha256:}" "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$ref2")"

check "podman logout, then a pull is refused with an authentication error"
run_logged podman-logout "${PODMAN[@]}" logout "$KEEP_HOST"
run_logged podman-rmi2 "${PODMAN[@]}" rmi -f "$id"
if "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$ref" >"$T/anon.log" 2>&1; then
  fail "an anonymous podman pull succeeded"
fi
grep -qiE 'unauthorized|authentication required|401' "$T/anon.log" ||
  fail "anonymous pull failed, but not with an auth error: $(tail -n 3 "$T/anon.log")"
ok "$(grep -iE 'unauthorized|authentication|401' "$T/anon.log" | tail -n1)"
