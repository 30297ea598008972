#!/usr/bin/env bash
# e2e_mirror_pull: pull-through. Two upstreams, each Debian's docker-registry
# (CNCF Distribution) over TLS: one stands in for Docker Hub (library/ names),
# one for ghcr.io. Keep mirrors both with pull_through rules; nothing is
# synced beforehand. A real dockerd whose registry-mirrors entry is Keep pulls
# docker.io/library/app:v1 through it; containerd's ctr, with hosts.toml
# mirror entries for both hosts, pulls from both upstreams through the one
# Keep (it sends ?ns=<host>, Keep answers OCI-Namespace); skopeo is refused a
# tag no rule allows and an image whose signature does not verify, with
# Keep's message; two concurrent pulls of an uncached image fetch each layer
# from upstream once; and with the upstream stopped, what was pulled through
# is still served.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init mirror_pull "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo ctr podman
keep_start
export XDG_CONFIG_HOME="$T/keepctl-config"
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE

# keep_log_has FILTER: whether a line of keepd's request log matches.
keep_log_has() { jq -s -e "any(.[]; $1)" "$KEEP_LOG" >/dev/null; }

upstream_start hub
HUB=$UPSTREAM_HOST
upstream_start ghcr
GHCR=$UPSTREAM_HOST

openssl ecparam -name prime256v1 -genkey -noout -out "$T/publisher.pem"
openssl pkey -in "$T/publisher.pem" -pubout -out "$T/publisher.pub"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/stranger.pem"

check "upstreams: hub has library/app:v1 and :v9; ghcr has acme/tool:v1 (signed), :v2 (signed by a stranger), :v3"
make_test_image "$T/app" v1
APP=$IMG_MANIFEST APP_CONFIG=$IMG_CONFIG
upstream_copy hub "$T/app:v1" library/app:v1
upstream_copy hub "$T/app:v1" library/app:v9
make_test_image "$T/tool" v1
TOOL=$IMG_MANIFEST TOOL_CONFIG=$IMG_CONFIG TOOL_LAYERS=("${IMG_LAYERS[@]}")
upstream_copy ghcr "$T/tool:v1" acme/tool:v1
upstream_sign ghcr "$T/publisher.pem" acme/tool "$TOOL"
make_test_image "$T/tool2" v2
TOOL2=$IMG_MANIFEST
upstream_copy ghcr "$T/tool2:v2" acme/tool:v2
upstream_sign ghcr "$T/stranger.pem" acme/tool "$TOOL2"
make_image "$T/tool3" amd64 $((32 << 20))  # big enough that two pulls overlap
layout_tag "$T/tool3" "$MT_OCI_MANIFEST" "$IMG_MANIFEST" v3
TOOL3=$IMG_MANIFEST TOOL3_LAYERS=("${IMG_LAYERS[@]}")
upstream_copy ghcr "$T/tool3:v3" acme/tool:v3
upstream_sign ghcr "$T/publisher.pem" acme/tool "$TOOL3"
ok

check "rules: hub (a stand-in for docker.io, trust on first sync) and ghcr (a stand-in for ghcr.io, signed by the publisher), both pulling through into namespaces anyone may pull from"
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
run_logged ns-hub "$KEEPCTL" namespace create hub --anonymous-pull
run_logged ns-ghcr "$KEEPCTL" namespace create ghcr --anonymous-pull
run_logged rule-hub "$KEEPCTL" mirror add hub --upstream "https://$HUB" --upstream-host docker.io \
  --upstream-ca "$T/hub/ca.crt" --repo app --tag v1 --target hub --trust-on-first-sync --pull-through
run_logged rule-ghcr "$KEEPCTL" mirror add ghcr --upstream "https://$GHCR" --upstream-host ghcr.io \
  --upstream-ca "$T/ghcr/ca.crt" --repo acme/tool --tag 'v*' --target ghcr \
  --signed-by "$T/publisher.pub" --pull-through
expect_eq "the hub rule's repository (docker.io's one-word name)" "library/app" \
  "$("$KEEPCTL" -o json mirror show hub | jq -r '.repositories[0]')"

# ---- docker with registry-mirrors -------------------------------------------------
check "dockerd with registry-mirrors=Keep pulls docker.io/library/app:v1 through Keep"
DOCKERD_MIRROR="https://$KEEP_HOST" dockerd_start
run_logged docker-pull "${DOCKER[@]}" pull app:v1
expect_eq "image ID docker pulled" "$APP_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' app:v1)"
keep_log_has '.path == "/v2/library/app/manifests/v1" and .status == 200' ||
  fail "dockerd did not pull the manifest from Keep"
expect_eq "stored in the hub namespace, signed by the curator" synced \
  "$("$KEEPCTL" -o json mirror show hub | jq -r '.tag_states[] | select(.tag == "v1") | .state')"

check "a tag the rule does not allow is refused by Keep (and docker's pull fails)"
if "${DOCKER[@]}" pull app:v9 >"$T/docker-v9.log" 2>&1; then fail "docker pulled a tag no rule allows"; fi
keep_log_has '.path == "/v2/library/app/manifests/v9" and .status == 403' ||
  fail "Keep did not refuse library/app:v9 with 403: $(tail -n 2 "$T/docker-v9.log")"
ok "$(tail -n 1 "$T/docker-v9.log" | cut -c1-200)"

# ---- containerd: one Keep mirrors two upstreams, picked by ?ns= ------------------------
check "ctr, with hosts.toml mirror entries for docker.io and ghcr.io, pulls from both through Keep"
for host in docker.io ghcr.io; do
  mkdir -p "$T/hosts/$host"
  cat >"$T/hosts/$host/hosts.toml" <<EOF
server = "https://$host"
[host."https://$KEEP_HOST"]
  capabilities = ["pull", "resolve"]
  ca = "$KEEP_CA"
EOF
done
CTR=(ctr -a "$CONTAINERD_SOCK" -n keep-e2e)
run_logged ctr-hub "${CTR[@]}" images pull --hosts-dir "$T/hosts" docker.io/library/app:v1
run_logged ctr-ghcr "${CTR[@]}" images pull --hosts-dir "$T/hosts" ghcr.io/acme/tool:v1
expect_eq "ghcr.io/acme/tool:v1 digest in containerd" "$TOOL" \
  "$("${CTR[@]}" images ls 2>/dev/null | awk '$1 == "ghcr.io/acme/tool:v1" {print $3}')"
keep_log_has '.path == "/v2/acme/tool/manifests/v1" and .status == 200' ||
  fail "containerd did not ask Keep for /v2/acme/tool/manifests/v1"
code=$(curl -sS -o /dev/null -D "$T/ns.headers" -w '%{http_code}' --cacert "$KEEP_CA" \
  -H "Accept: $MT_OCI_MANIFEST" "$KEEP_URL/v2/acme/tool/manifests/v1?ns=ghcr.io")
expect_eq "anonymous GET /v2/acme/tool/manifests/v1?ns=ghcr.io" 200 "$code"
expect_eq "OCI-Namespace" ghcr.io "$(header "$T/ns.headers" OCI-Namespace)"

# ---- skopeo: refusals carry Keep's message --------------------------------------------
check "an image signed by another key is refused on the pull, saying which rule and why"
if skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" "docker://$KEEP_HOST/ghcr/acme/tool:v2" \
  "oci:$T/out-v2:v2" >"$T/skopeo-v2.log" 2>&1; then
  fail "a pull-through of an image signed by a stranger worked"
fi
grep -q "mirror rule ghcr refused acme/tool:v2: 0 of the rule's keys signed" "$T/skopeo-v2.log" ||
  fail "not Keep's message: $(tail -n 2 "$T/skopeo-v2.log")"
ok "$(grep -o 'denied:.*' "$T/skopeo-v2.log" | head -n 1 | cut -c1-200)"

check "podman, with a registries.conf mirror of ghcr.io at Keep's ghcr prefix, pulls ghcr.io/acme/tool:v1 through Keep"
podman_init
cat >"$T/registries.conf" <<EOF
[[registry]]
location = "ghcr.io"
[[registry.mirror]]
location = "$KEEP_HOST/ghcr"
EOF
CONTAINERS_REGISTRIES_CONF="$T/registries.conf" run_logged podman-pull "${PODMAN[@]}" pull \
  --cert-dir "$CERT_DIR" ghcr.io/acme/tool:v1
expect_eq "image ID podman pulled" "${TOOL_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' ghcr.io/acme/tool:v1)"
keep_log_has '.path == "/v2/ghcr/acme/tool/manifests/v1" and .status == 200' ||
  fail "podman did not pull through Keep"

check "two concurrent pulls of an uncached image: each layer is fetched from upstream once"
# The upstream is stopped while both pulls reach Keep, so the second pull's
# manifest request certainly arrives while the first is still fetching (two
# skopeo processes started together can be a second apart on a loaded
# machine). Each pull asks for a token just before the manifest.
upstream_pid=$(pgrep -f "docker-registry serve $T/ghcr/config.yml")
tokens() { jq -s '[.[] | select(.path == "/token")] | length' "$KEEP_LOG"; }
tokens_before=$(tokens)
kill -STOP "$upstream_pid"
for i in 1 2; do
  skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" "docker://$KEEP_HOST/ghcr/acme/tool:v3" \
    "oci:$T/out-v3-$i:v3" >"$T/skopeo-v3-$i.log" 2>&1 &
  pulls[i]=$!
done
for ((w = 0; w < 300; w++)); do
  (($(tokens) >= tokens_before + 2)) && break
  sleep 0.1
done
sleep 1  # from the token to the manifest request
kill -CONT "$upstream_pid"
for i in 1 2; do
  wait "${pulls[i]}" || fail "pull $i failed: $(tail -n 2 "$T/skopeo-v3-$i.log")"
  expect_eq "pull $i manifest" "$TOOL3" "$(layout_manifest_digest "$T/out-v3-$i" v3)"
done
# The two manifest requests overlapped in time (a log line's time is its end).
overlap=$(jq -s '[.[] | select(.path == "/v2/ghcr/acme/tool/manifests/v3")
  | {start: (.time - .ms / 1000), end: .time}] | sort_by(.start)
  | if length == 2 then (.[1].start < .[0].end) else false end' "$KEEP_LOG")
expect_eq "the two pulls' manifest requests overlapped" true "$overlap"
for d in "${TOOL3_LAYERS[@]}"; do
  n=$(grep -c "GET /v2/acme/tool/blobs/$d " "$T/ghcr/log" || true)
  expect_eq "upstream GETs of layer ${d:0:19}" 1 "$n"
done

check "with the upstream stopped, what was pulled through is still served"
stop_pid "$upstream_pid" || true  # (its exit status is that of SIGTERM)
skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" "docker://$KEEP_HOST/ghcr/acme/tool:v1" \
  "oci:$T/out-down:v1" >"$T/skopeo-down.log" 2>&1 || fail "not served: $(tail -n 2 "$T/skopeo-down.log")"
expect_eq "manifest served with the upstream down" "$TOOL" "$(layout_manifest_digest "$T/out-down" v1)"
