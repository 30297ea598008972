#!/usr/bin/env bash
# e2e_access: namespace roles and robot accounts with real clients, through
# the Docker token flow. A publisher logs podman in and pushes; a reader
# pulls but its push is refused; a robot account used by skopeo pulls within
# its scope and nothing more; a revoked robot is refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init access "${1:-}"
need skopeo
podman_init
keep_start

check "admin creates namespace 'team', a publisher, a reader and a pull-only robot"
admin_api POST /namespaces '{"name":"team"}' >/dev/null
# Roles alone here; signatures and quarantine are e2e_trust's.
admin_api PUT /namespaces/team/policy '{"mode":"open"}' >/dev/null
admin_api POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/team/members/pub '{"role":"publisher"}' >/dev/null
admin_api PUT /namespaces/team/members/rdr '{"role":"reader"}' >/dev/null
robot=$(admin_api POST /robots '{"name":"ci","scopes":[{"namespace":"team","actions":["pull"]}]}')
ROBOT_NAME=$(jq -r .name <<<"$robot")
ROBOT_SECRET=$(jq -r .secret <<<"$robot")
expect_eq "robot account name" "robot+ci" "$ROBOT_NAME"
members=$(admin_api GET /namespaces/team/members | jq -c '[.members[] | .user + ":" + .role]')
expect_eq "members of team" '["pub:publisher","rdr:reader"]' "$members"

make_test_image "$T/src" v1
id=$("${PODMAN[@]}" pull -q "oci:$T/src:v1") || fail "podman could not load the OCI layout"
ref="$KEEP_HOST/team/app:v1"
run_logged podman-tag "${PODMAN[@]}" tag "$id" "$ref"

check "the publisher logs in with podman and pushes $ref"
podman_login_as pub publisher-password
run_logged podman-push-pub "${PODMAN[@]}" push --cert-dir "$CERT_DIR" "$ref"
tags=$(kcurl "$KEEP_URL/v2/team/app/tags/list" | jq -c .tags)
expect_eq "tags of team/app" '["v1"]' "$tags"

check "podman went through the token service"
# The request log has one JSON line per request: GET /token as pub, then
# the pushes authorised by the token it got.
jq -e -s 'map(select(.path == "/token" and .user == "pub" and .status == 200)) | length > 0' \
  "$KEEP_LOG" >/dev/null || fail "no successful GET /token by pub in the request log"
ok

check "the reader's push is refused with Keep's DENIED message"
podman_login_as rdr reader-password-1
run_logged podman-tag2 "${PODMAN[@]}" tag "$id" "$KEEP_HOST/team/app:by-reader"
if "${PODMAN[@]}" push --cert-dir "$CERT_DIR" "$KEEP_HOST/team/app:by-reader" >"$T/rdr-push.log" 2>&1; then
  fail "a reader could push"
fi
# 403 DENIED with the message that names the caller and the role to ask for
# (podman prints "denied: <message>"), not a 401 that would send it back to log in.
grep -qF 'denied: user rdr may not push repository team/app' "$T/rdr-push.log" ||
  fail "the reader's push failed, but not with Keep's DENIED: $(tail -n 3 "$T/rdr-push.log")"
ok "$(grep -oE 'denied: [^"]*' "$T/rdr-push.log" | tail -n1)"
tags=$(kcurl "$KEEP_URL/v2/team/app/tags/list" | jq -c .tags)
expect_eq "tags of team/app after the refused push" '["v1"]' "$tags"

check "the reader pulls with podman"
run_logged podman-rmi "${PODMAN[@]}" rmi -f "$id"
run_logged podman-pull-rdr "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$ref"
expect_eq "image ID after the reader's pull" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$ref")"

check "skopeo copies out with the robot's credentials"
run_logged skopeo-robot skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" \
  --src-creds "$ROBOT_NAME:$ROBOT_SECRET" "docker://$ref" "oci:$T/robot-out:v1"
fetch_manifest team/app v1 "$ACCEPT_ALL_MANIFESTS" "$T/team-v1.json"
expect_eq "manifest digest pulled by the robot" "$(header "$T/team-v1.json.headers" Docker-Content-Digest)" \
  "$(layout_manifest_digest "$T/robot-out" v1)"

check "the pull-only robot cannot push"
if skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" --dest-creds "$ROBOT_NAME:$ROBOT_SECRET" \
  "oci:$T/src:v1" "docker://$KEEP_HOST/team/app:by-robot" >"$T/robot-push.log" 2>&1; then
  fail "a pull-only robot could push"
fi
grep -qF 'denied: robot robot+ci may not push repository team/app' "$T/robot-push.log" ||
  fail "the robot's push failed, but not with Keep's DENIED: $(tail -n 3 "$T/robot-push.log")"
ok "$(grep -oE 'denied: [^"]*' "$T/robot-push.log" | tail -n1)"

check "a revoked robot is refused"
code=$(kcurl -o /dev/null -w '%{http_code}' -X DELETE "$KEEP_URL/admin/v1/robots/ci")
expect_eq "DELETE /admin/v1/robots/ci" 204 "$code"
if skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" --src-creds "$ROBOT_NAME:$ROBOT_SECRET" \
  "docker://$ref" "oci:$T/robot-out2:v1" >"$T/robot-revoked.log" 2>&1; then
  fail "a revoked robot could still pull"
fi
grep -qiE 'unauthorized|authentication required|401' "$T/robot-revoked.log" ||
  fail "the revoked robot's pull failed, but not with an auth error: $(tail -n 3 "$T/robot-revoked.log")"
ok
