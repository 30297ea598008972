#!/usr/bin/env bash
# e2e_docker: a real dockerd (private socket, vfs) logs in to Keep, pushes a
# loaded image, forgets it and pulls it back; the manifest docker pushed is
# stored byte for byte; docker also pulls linux/amd64 from a multi-platform index.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init docker "${1:-}"
need skopeo dockerd
keep_start
dockerd_start

make_test_image "$T/src" v1
ref="$KEEP_HOST/e2e/docker:v1"

check "docker load of a docker-archive made by skopeo from the OCI layout"
docker_load "$T/src:v1" "$ref"

check "docker login $KEEP_HOST"
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged docker-login "${DOCKER[@]}" login -u "$E2E_ADMIN_USER" --password-stdin "$KEEP_HOST" <"$T/pw"
grep -q "Login Succeeded" "$T/docker-login.log" || fail "docker login did not say 'Login Succeeded'"
ok

check "docker push $ref"
run_logged docker-push "${DOCKER[@]}" push "$ref"
pushed=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\) size: \([0-9]*\).*/\1 \2/p' "$T/docker-push.log")
[[ -n $pushed ]] || fail "docker push printed no 'digest: ... size: ...' line: $(tail -n 3 "$T/docker-push.log")"
pushed_digest=${pushed% *} pushed_size=${pushed#* }
log "docker pushed manifest $pushed_digest ($pushed_size bytes)"

check "Keep stores the manifest docker pushed byte for byte (docker indents it)"
fetch_manifest e2e/docker v1 "$MT_DOCKER_MANIFEST" "$T/m.json"
expect_eq "Docker-Content-Digest" "$pushed_digest" "$(header "$T/m.json.headers" Docker-Content-Digest)"
expect_eq "sha256 of the served body" "$pushed_digest" "sha256:$(sha256_of "$T/m.json")"
expect_eq "size of the served body" "$pushed_size" "$(size_of "$T/m.json")"
expect_eq "Content-Type" "$MT_DOCKER_MANIFEST" "$(header "$T/m.json.headers" Content-Type)"
grep -q '^   "' "$T/m.json" || fail "the stored manifest lost docker's indentation: $(head -c 200 "$T/m.json")"
ok "the stored manifest keeps docker's indentation"
check "HEAD by tag with docker's Accept lines, in any order (dockerd sends them in random order)"
expect_accept_lines HEAD e2e/docker v1 "$MT_DOCKER_MANIFEST" "$MT_DOCKER_LIST" "$MT_OCI_MANIFEST" "$MT_OCI_INDEX" \
  application/vnd.docker.distribution.manifest.v1+prettyjws application/json

check "docker rmi, then docker pull $ref gives the same image"
run_logged docker-rmi "${DOCKER[@]}" rmi "$ref"
if "${DOCKER[@]}" image inspect "$ref" >/dev/null 2>&1; then fail "$ref still present after rmi"; fi
run_logged docker-pull "${DOCKER[@]}" pull "$ref"
expect_eq "image ID after pull" "$IMG_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$ref")"
expect_eq "repo digest after pull" "$KEEP_HOST/e2e/docker@$pushed_digest" \
  "$("${DOCKER[@]}" image inspect -f '{{join .RepoDigests " "}}' "$ref")"

check "docker pull by digest"
run_logged docker-rmi2 "${DOCKER[@]}" rmi "$ref"
run_logged docker-pull-digest "${DOCKER[@]}" pull "$KEEP_HOST/e2e/docker@$pushed_digest"
expect_eq "image ID after pull by digest" "$IMG_CONFIG" \
  "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$KEEP_HOST/e2e/docker@$pushed_digest")"

check "docker pull of a multi-platform OCI index picks linux/amd64"
make_multiarch_image "$T/multi" v1
skopeo_to_keep "oci:$T/multi:v1" e2e/docker-multi:v1 --all
run_logged docker-pull-multi "${DOCKER[@]}" pull --platform linux/amd64 "$KEEP_HOST/e2e/docker-multi:v1"
expect_eq "image ID of the amd64 image" "$AMD64_CONFIG" \
  "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$KEEP_HOST/e2e/docker-multi:v1")"

check "docker logout, then a pull is refused"
run_logged docker-logout "${DOCKER[@]}" logout "$KEEP_HOST"
run_logged docker-rmi3 "${DOCKER[@]}" rmi "$KEEP_HOST/e2e/docker@$pushed_digest"
if "${DOCKER[@]}" pull "$ref" >"$T/anon.log" 2>&1; then fail "an anonymous docker pull succeeded"; fi
# dockerd treats 127.0.0.0/8 as insecure: after the HTTPS refusal it tries plain
# HTTP and shows that error, so the HTTPS one is read from its log.
grep -qiE 'unauthorized|authentication required|no basic auth' "$T/anon.log" "$DOCKERD_LOG" ||
  fail "anonymous pull failed, but not with an auth error: $(tail -n 3 "$T/anon.log")"
ok "$(grep -hoiE '(unauthorized|authentication required|no basic auth)[^"]*' "$T/anon.log" "$DOCKERD_LOG" | tail -n1)"
