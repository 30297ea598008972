#!/usr/bin/env bash
# e2e_mirror: the curated mirror against a real upstream, Debian's
# docker-registry (CNCF Distribution) over TLS, filled by skopeo. keepctl adds
# rules and syncs them; what passes vetting is stored, signed by the curator
# key and pulled by a reader with skopeo; the curator's signature verifies
# with openssl alone. Each vetting rule is seen passing and failing: an
# unsigned image, a signature by another key, a pinned digest that differs,
# a tag that changed after its first sync (held until approved), and an
# upstream that serves a layer whose bytes do not match its digest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init mirror "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo docker-registry openssl
keep_start
export XDG_CONFIG_HOME="$T/keepctl-config"
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE

# ---- the upstream: Distribution over TLS ------------------------------------
UP_PORT=$(free_port)
UP_HOST="127.0.0.1:$UP_PORT"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=upstream" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$T/up.key" -out "$T/up.crt" 2>/dev/null
mkdir -p "$T/up-certs" "$T/up-data"
cp "$T/up.crt" "$T/up-certs/ca.crt"
cat >"$T/up.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $T/up-data}
  delete: {enabled: true}
http:
  addr: $UP_HOST
  tls: {certificate: $T/up.crt, key: $T/up.key}
EOF
# (REGISTRY_AUTH_FILE, which lib.sh exports for skopeo and podman, would be
# read by Distribution as its auth.file setting.)
env -u REGISTRY_AUTH_FILE docker-registry serve "$T/up.yml" >"$T/upstream.log" 2>&1 &
E2E_PIDS+=($!)
for ((i = 0; i < 100; i++)); do
  curl -s --cacert "$T/up.crt" -o /dev/null "https://$UP_HOST/v2/" && break
  sleep 0.1
done
curl -sf --cacert "$T/up.crt" -o /dev/null "https://$UP_HOST/v2/" || fail "the upstream did not start"
log "upstream (Distribution) at https://$UP_HOST"

# to_upstream LAYOUT:TAG REPO:TAG
to_upstream() {
  run_logged "up-$RANDOM" skopeo copy --retry-times 0 --preserve-digests --dest-cert-dir "$T/up-certs" \
    "oci:$1" "docker://$UP_HOST/$2"
}

# sign_upstream KEY.pem REPO DIGEST: a cosign-layout signature of DIGEST,
# made with openssl, put upstream at REPO:sha256-<hex>.sig.
sign_upstream() {
  local keyfile=$1 repo=$2 digest=$3 layout="$T/sig-$RANDOM"
  layout_init "$layout"
  jq -cn --arg ref "$UP_HOST/$repo" --arg d "$digest" \
    '{critical:{identity:{"docker-reference":$ref},image:{"docker-manifest-digest":$d},
      type:"cosign container image signature"},optional:null}' | tr -d '\n' >"$T/payload.json"
  local sig payload config
  sig=$(openssl dgst -sha256 -sign "$keyfile" "$T/payload.json" | base64 -w0)
  payload=$(layout_add_blob "$layout" "$T/payload.json")
  jq -cn --arg p "$payload" '{architecture:"",created:"0001-01-01T00:00:00Z",os:"",
      rootfs:{type:"layers",diff_ids:[$p]},config:{}}' >"$T/sigconfig.json"
  config=$(layout_add_blob "$layout" "$T/sigconfig.json")
  jq -n --argjson c "$(descriptor "$MT_OCI_CONFIG" "$layout" "$config")" \
    --argjson l "$(descriptor application/vnd.dev.cosign.simplesigning.v1+json "$layout" "$payload" \
      "$(jq -cn --arg s "$sig" '{annotations:{"dev.cosignproject.cosign/signature":$s}}')")" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json", config:$c, layers:[$l]}' \
    >"$T/sigmanifest.json"
  layout_tag "$layout" "$MT_OCI_MANIFEST" "$(layout_add_blob "$layout" "$T/sigmanifest.json")" sig
  to_upstream "$layout:sig" "$repo:sha256-${digest#sha256:}.sig"
}

openssl ecparam -name prime256v1 -genkey -noout -out "$T/publisher.pem"
openssl pkey -in "$T/publisher.pem" -pubout -out "$T/publisher.pub"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/stranger.pem"

check "upstream: app:v1 signed by the publisher, app:v2 unsigned, app:v3 signed by a stranger"
make_test_image "$T/v1" v1
V1=$IMG_MANIFEST V1_LAYERS=("${IMG_LAYERS[@]}") V1_CONFIG=$IMG_CONFIG
to_upstream "$T/v1:v1" acme/app:v1
sign_upstream "$T/publisher.pem" acme/app "$V1"
make_test_image "$T/v2" v2
V2=$IMG_MANIFEST
to_upstream "$T/v2:v2" acme/app:v2
make_test_image "$T/v3" v3
V3=$IMG_MANIFEST
to_upstream "$T/v3:v3" acme/app:v3
sign_upstream "$T/stranger.pem" acme/app "$V3"
ok

# ---- Keep: a namespace, a reader, keepctl ------------------------------------
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" --password-stdin \
  --ca "$KEEP_CA" <"$T/pw"
run_logged ns "$KEEPCTL" namespace create mirror
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/mirror/members/rdr '{"role":"reader"}' >/dev/null

# reader_copy REPO:TAG DEST: skopeo copies from Keep as the reader.
reader_copy() {
  skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" --src-creds rdr:reader-password-1 \
    "docker://$KEEP_HOST/$1" "$2"
}

check "a rule that needs the publisher's signature; the curator key becomes trusted by the namespace"
run_logged mirror-add "$KEEPCTL" mirror add signed --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up.crt" --repo acme/app --tag v1 --tag v2 --tag v3 --target mirror \
  --signed-by "$T/publisher.pub"
"$KEEPCTL" mirror key >"$T/curator.pub"
curator_id=$(openssl pkey -pubin -in "$T/curator.pub" -outform DER | sha256sum | cut -d' ' -f1)
keys=$(admin_api GET /namespaces/mirror/keys)
expect_eq "the namespace trusts the curator key" "mirror-curator" \
  "$(jq -r --arg id "$curator_id" '.keys[] | select(.key_id == $id) | .name' <<<"$keys")"

check "keepctl mirror sync: v1 synced, v2 refused as unsigned, v3 refused (another key); exit 1"
if "$KEEPCTL" mirror sync signed >"$T/sync1.log" 2>&1; then
  cat "$T/sync1.log" >&2
  fail "the sync exited 0 although two tags were refused"
fi
sed 's/^/    | /' "$T/sync1.log"
grep -q "mirror/acme/app:v1  synced" "$T/sync1.log" || fail "v1 was not synced"
grep -q "mirror/acme/app:v2  refused: unsigned" "$T/sync1.log" || fail "v2 not refused as unsigned"
grep -q "mirror/acme/app:v3  refused: 0 of the rule's keys signed" "$T/sync1.log" ||
  fail "v3 not refused for its stranger's signature"
grep -q "1 synced, 0 unchanged, 2 refused, 0 held, 0 failed" "$T/sync1.log" || fail "wrong summary"
ok

check "mirror show lists each tag's state and why"
"$KEEPCTL" -o json mirror show signed >"$T/show1.json"
expect_eq "v1 state" synced "$(jq -r '.tag_states[] | select(.tag == "v1") | .state' "$T/show1.json")"
expect_eq "v1 digest" "$V1" "$(jq -r '.tag_states[] | select(.tag == "v1") | .digest' "$T/show1.json")"
expect_eq "v2 state" refused "$(jq -r '.tag_states[] | select(.tag == "v2") | .state' "$T/show1.json")"
grep -q '"event":"mirror refused"' "$KEEP_ERR" || fail "no audit line for the refusals"

check "the reader pulls v1 with skopeo, byte for byte what upstream has"
reader_copy mirror/acme/app:v1 "oci:$T/out:v1" >"$T/pull-v1.log" 2>&1 ||
  fail "the reader's pull failed: $(tail -n 3 "$T/pull-v1.log")"
expect_eq "manifest digest pulled" "$V1" "$(layout_manifest_digest "$T/out" v1)"
for d in "$V1_CONFIG" "${V1_LAYERS[@]}"; do
  cmp -s "$(layout_blob "$T/v1" "$d")" "$(layout_blob "$T/out" "$d")" || fail "blob $d differs"
done
ok "config and both layers identical"

check "the refused tags are not served"
for t in v2 v3; do
  if reader_copy "mirror/acme/app:$t" "oci:$T/out-$t:$t" >"$T/pull-$t.log" 2>&1; then
    fail "the reader pulled refused tag $t"
  fi
done
code=$(kcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/mirror/acme/app/manifests/$V2")
expect_eq "GET of the unsigned manifest by digest (even for the admin)" 404 "$code"

check "the curator's signature verifies with openssl and the key keepctl mirror key prints"
sig_tag="sha256-${V1#sha256:}.sig"
fetch_manifest mirror/acme/app "$sig_tag" "$MT_OCI_MANIFEST" "$T/curator-sig.json"
payload_digest=$(jq -r '.layers[0].digest' "$T/curator-sig.json")
jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' "$T/curator-sig.json" |
  base64 -d >"$T/curator-sig.bin"
kcurl -o "$T/curator-payload.json" "$KEEP_URL/v2/mirror/acme/app/blobs/$payload_digest"
expect_eq "payload digest" "$payload_digest" "sha256:$(sha256_of "$T/curator-payload.json")"
expect_eq "the payload signs v1" "$V1" \
  "$(jq -r '.critical.image["docker-manifest-digest"]' "$T/curator-payload.json")"
expect_eq "the payload names the local repository" "$KEEP_HOST/mirror/acme/app" \
  "$(jq -r '.critical.identity["docker-reference"]' "$T/curator-payload.json")"
openssl pkeyutl -verify -pubin -inkey "$T/curator.pub" -rawin -in "$T/curator-payload.json" \
  -sigfile "$T/curator-sig.bin" >"$T/openssl-verify.log" 2>&1 ||
  fail "openssl: $(cat "$T/openssl-verify.log")"
ok "$(cat "$T/openssl-verify.log")"

check "a second sync fetches nothing again"
"$KEEPCTL" mirror sync signed >"$T/sync2.log" 2>&1 || true
grep -q "0 synced, 1 unchanged, 2 refused" "$T/sync2.log" || fail "$(tail -n 2 "$T/sync2.log")"
grep -q "0 B fetched" "$T/sync2.log" || fail "bytes fetched again: $(tail -n 1 "$T/sync2.log")"
ok

# ---- pinned digests -----------------------------------------------------------
check "a digest pin that matches syncs; one that differs is refused"
run_logged mirror-pin "$KEEPCTL" mirror add pinned --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up.crt" --repo acme/app --tag v2 --tag v3 --target mirror/pinned \
  --pin "v2=$V2" --pin "v3=$V1"
"$KEEPCTL" mirror sync pinned >"$T/sync-pin.log" 2>&1 || true
sed 's/^/    | /' "$T/sync-pin.log"
grep -q "mirror/pinned/acme/app:v2  synced" "$T/sync-pin.log" || fail "pinned v2 not synced"
grep -q "mirror/pinned/acme/app:v3  refused: upstream tag v3 is $V3, but the rule pins $V1" \
  "$T/sync-pin.log" || fail "v3 not refused for its pin"
reader_copy mirror/pinned/acme/app:v2 "oci:$T/out-pin:v2" >"$T/pull-pin.log" 2>&1 ||
  fail "the reader's pull of pinned v2 failed: $(tail -n 3 "$T/pull-pin.log")"
ok

# ---- trust on first sync --------------------------------------------------------
check "trust on first sync: v1 synced; upstream v1 replaced; the change is held until approved"
to_upstream "$T/v1:v1" acme/tofu:v1
run_logged mirror-tofu "$KEEPCTL" mirror add tofu --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up.crt" --repo acme/tofu --tag v1 --target mirror --trust-on-first-sync
run_logged sync-tofu1 "$KEEPCTL" mirror sync tofu
to_upstream "$T/v2:v2" acme/tofu:v1
if "$KEEPCTL" mirror sync tofu >"$T/sync-tofu2.log" 2>&1; then fail "a changed tag was not held"; fi
grep -q "mirror/acme/tofu:v1  held: upstream tag v1 changed from $V1 to $V2" "$T/sync-tofu2.log" ||
  fail "not held: $(cat "$T/sync-tofu2.log")"
reader_copy mirror/acme/tofu:v1 "oci:$T/out-tofu:v1" >"$T/pull-tofu.log" 2>&1 ||
  fail "the held tag no longer serves the first digest: $(tail -n 3 "$T/pull-tofu.log")"
expect_eq "still served while held" "$V1" "$(layout_manifest_digest "$T/out-tofu" v1)"
run_logged approve "$KEEPCTL" mirror approve tofu mirror/acme/tofu:v1
run_logged sync-tofu3 "$KEEPCTL" mirror sync tofu
reader_copy mirror/acme/tofu:v1 "oci:$T/out-tofu2:v1" >"$T/pull-tofu2.log" 2>&1 ||
  fail "the approved tag is not served: $(tail -n 3 "$T/pull-tofu2.log")"
expect_eq "served after approval" "$V2" "$(layout_manifest_digest "$T/out-tofu2" v1)"

# ---- an upstream serving bad bytes ------------------------------------------------
check "a layer whose bytes upstream do not match its digest: refused, nothing readable"
make_test_image "$T/v4" v4
V4=$IMG_MANIFEST V4_LAYER=${IMG_LAYERS[1]}
to_upstream "$T/v4:v4" acme/bad:v4
data="$T/up-data/docker/registry/v2/blobs/sha256/${V4_LAYER:7:2}/${V4_LAYER#sha256:}/data"
[[ -f $data ]] || fail "no blob file at $data"
printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
run_logged mirror-bad "$KEEPCTL" mirror add bad --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up.crt" --repo acme/bad --tag v4 --target mirror --trust-on-first-sync
if "$KEEPCTL" mirror sync bad >"$T/sync-bad.log" 2>&1; then fail "bad bytes were synced"; fi
grep -q "mirror/acme/bad:v4  refused: blob $V4_LAYER: the bytes upstream sent do not match their digest" \
  "$T/sync-bad.log" || fail "not refused for its digest: $(cat "$T/sync-bad.log")"
code=$(kcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/mirror/acme/bad/manifests/$V4")
expect_eq "the manifest is not stored (admin GET by digest)" 404 "$code"
code=$(kcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/mirror/acme/bad/blobs/$V4_LAYER")
expect_eq "the bad layer is not stored" 404 "$code"

check "keepctl mirror list shows the rules"
"$KEEPCTL" mirror list >"$T/list.log"
sed 's/^/    | /' "$T/list.log"
for r in signed pinned tofu bad; do grep -q "^$r " "$T/list.log" || fail "rule $r not listed"; done
ok
