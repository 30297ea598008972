#!/usr/bin/env bash
# e2e_mirror: the curated mirror against a real upstream, Debian's
# docker-registry (CNCF Distribution) over TLS, filled by skopeo. keepctl adds
# rules and syncs them; what passes vetting is stored, signed by the curator
# key and pulled by a reader with skopeo; the curator's cosign signature
# verifies with openssl alone, its sigstore bundle with sigstore's JavaScript
# verifier. Each vetting rule is seen passing and failing: an
# unsigned image, a signature by another key, a pinned digest that differs,
# a tag that changed after its first sync (held until approved), and an
# upstream that serves a layer whose bytes do not match its digest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init mirror "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo docker-registry openssl node
keep_start
export XDG_CONFIG_HOME="$T/keepctl-config"
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE

# ---- the upstream: Distribution over TLS ------------------------------------
upstream_start up
UP_HOST=$UPSTREAM_HOST

# to_upstream LAYOUT:TAG REPO:TAG
to_upstream() { upstream_copy up "$1" "$2"; }
# sign_upstream KEY.pem REPO DIGEST
sign_upstream() { upstream_sign up "$1" "$2" "$3"; }

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
  --upstream-ca "$T/up/ca.crt" --repo acme/app --tag v1 --tag v2 --tag v3 --target mirror \
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
# The publisher's layer, kept as upstream published it, then the curator's.
expect_eq "layers of the signature manifest" 2 "$(jq '.layers | length' "$T/curator-sig.json")"
kcurl -o "$T/publisher-payload.json" \
  "$KEEP_URL/v2/mirror/acme/app/blobs/$(jq -r '.layers[0].digest' "$T/curator-sig.json")"
expect_eq "the publisher's payload signs v1 too" "$V1" \
  "$(jq -r '.critical.image["docker-manifest-digest"]' "$T/publisher-payload.json")"
payload_digest=$(jq -r '.layers[-1].digest' "$T/curator-sig.json")
jq -r '.layers[-1].annotations["dev.cosignproject.cosign/signature"]' "$T/curator-sig.json" |
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

check "the curator's sigstore bundle, a referrer a reader sees, verifies with sigstore's JavaScript verifier"
SIGSTORE_JS=$(cd "$(dirname "$0")/sigstore" && pwd)
[[ -d $SIGSTORE_JS/node_modules/@sigstore/verify ]] ||
  fail "sigstore's JavaScript libraries are not installed in $SIGSTORE_JS: run ./keep.sh deps test"
referrers=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 \
  "$KEEP_URL/v2/mirror/acme/app/referrers/$V1")
bundle_ref=$(jq -r '[.manifests[] | select(.artifactType | startswith("application/vnd.dev.sigstore.bundle"))][0].digest' <<<"$referrers")
[[ $bundle_ref == sha256:* ]] || fail "no sigstore bundle among the referrers a reader sees: $referrers"
bundle_blob=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -H "Accept: $MT_OCI_MANIFEST" \
  "$KEEP_URL/v2/mirror/acme/app/manifests/$bundle_ref" | jq -r '.layers[0].digest')
curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -o "$T/curator-bundle.json" \
  "$KEEP_URL/v2/mirror/acme/app/blobs/$bundle_blob"
run_logged verify-bundle node "$SIGSTORE_JS/client.js" verify "$T/curator-bundle.json" "$T/curator.pub" "$V1"
ok "@sigstore/verify accepts the curator's bundle for $V1"

check "a second sync fetches nothing again"
"$KEEPCTL" mirror sync signed >"$T/sync2.log" 2>&1 || true
grep -q "0 synced, 1 unchanged, 2 refused" "$T/sync2.log" || fail "$(tail -n 2 "$T/sync2.log")"
grep -q "0 B fetched" "$T/sync2.log" || fail "bytes fetched again: $(tail -n 1 "$T/sync2.log")"
ok

# ---- pinned digests -----------------------------------------------------------
check "a digest pin that matches syncs; one that differs is refused"
run_logged mirror-pin "$KEEPCTL" mirror add pinned --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up/ca.crt" --repo acme/app --tag v2 --tag v3 --target mirror/pinned \
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
  --upstream-ca "$T/up/ca.crt" --repo acme/tofu --tag v1 --target mirror --trust-on-first-sync
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
data="$T/up/data/docker/registry/v2/blobs/sha256/${V4_LAYER:7:2}/${V4_LAYER#sha256:}/data"
[[ -f $data ]] || fail "no blob file at $data"
printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
run_logged mirror-bad "$KEEPCTL" mirror add bad --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up/ca.crt" --repo acme/bad --tag v4 --target mirror --trust-on-first-sync
if "$KEEPCTL" mirror sync bad >"$T/sync-bad.log" 2>&1; then fail "bad bytes were synced"; fi
grep -q "mirror/acme/bad:v4  refused: blob $V4_LAYER: the bytes upstream sent do not match their digest" \
  "$T/sync-bad.log" || fail "not refused for its digest: $(cat "$T/sync-bad.log")"
code=$(kcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/mirror/acme/bad/manifests/$V4")
expect_eq "the manifest is not stored (admin GET by digest)" 404 "$code"
code=$(kcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/mirror/acme/bad/blobs/$V4_LAYER")
expect_eq "the bad layer is not stored" 404 "$code"

# ---- platforms ----------------------------------------------------------------------
check "a rule keeping linux/amd64 of a two-platform index: the index whole, amd64 pulled, arm64 refused naming the rule"
make_multiarch_image "$T/multi" v1
upstream_copy up "$T/multi:v1" acme/multi:v1 --all
run_logged mirror-multi "$KEEPCTL" mirror add multi --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up/ca.crt" --repo acme/multi --tag v1 --target mirror --trust-on-first-sync \
  --platform linux/amd64
run_logged sync-multi "$KEEPCTL" mirror sync multi
reader_copy mirror/acme/multi:v1 "oci:$T/out-multi:v1" >"$T/pull-multi.log" 2>&1 ||
  fail "the reader could not pull the kept platform: $(tail -n 3 "$T/pull-multi.log")"
expect_eq "the image pulled is amd64's" "$AMD64_MANIFEST" "$(layout_manifest_digest "$T/out-multi" v1)"
code=$(kcurl -o /dev/null -w '%{http_code}' -H "Accept: $MT_OCI_INDEX" "$KEEP_URL/v2/mirror/acme/multi/manifests/$MULTI_INDEX")
expect_eq "the index, as upstream published it" 200 "$code"
if skopeo copy --retry-times 0 --override-arch arm64 --src-cert-dir "$CERT_DIR" \
  --src-creds rdr:reader-password-1 "docker://$KEEP_HOST/mirror/acme/multi:v1" "oci:$T/out-arm:v1" \
  >"$T/pull-arm.log" 2>&1; then
  fail "a platform the rule does not keep was pulled"
fi
grep -q "mirror rule multi keeps only the platforms linux/amd64" "$T/pull-arm.log" ||
  fail "not Keep's message: $(tail -n 2 "$T/pull-arm.log")"
ok "$(grep -o 'denied:.*' "$T/pull-arm.log" | head -n 1 | cut -c1-160)"

# ---- an interrupted sync -----------------------------------------------------------
check "a sync cut off mid-layer (the upstream killed) resumes where it stopped, fetching only the rest"
make_image "$T/big" amd64 $((48 << 20))
layout_tag "$T/big" "$MT_OCI_MANIFEST" "$IMG_MANIFEST" v1
BIG=$IMG_MANIFEST BIG_CONFIG=$IMG_CONFIG BIG_LAYERS=("${IMG_LAYERS[@]}")
to_upstream "$T/big:v1" acme/big:v1
run_logged mirror-big "$KEEPCTL" mirror add big --upstream "https://$UP_HOST" \
  --upstream-ca "$T/up/ca.crt" --repo acme/big --tag v1 --target mirror --trust-on-first-sync
"$KEEPCTL" mirror sync big >"$T/sync-big1.log" 2>&1 &
sync_pid=$!
partial_file=""
for ((i = 0; i < 1000; i++)); do
  partial_file=$(find "$KEEP_DATA/uploads" -type f -size +4M 2>/dev/null | head -n 1)
  [[ -n $partial_file ]] && break
  sleep 0.01
done
[[ -n $partial_file ]] || fail "the fetch of the big layer never got past 4 MiB"
upstream_stop up
if wait "$sync_pid"; then fail "the sync succeeded although the upstream was killed mid-layer"; fi
partial=$(stat -c %s "$partial_file")
grep -q "mirror/acme/big:v1  failed: fetching blob ${BIG_LAYERS[0]}" "$T/sync-big1.log" ||
  fail "not failed on the big layer: $(tail -n 3 "$T/sync-big1.log")"
log "killed the upstream with $partial of $(size_of "$(layout_blob "$T/big" "${BIG_LAYERS[0]}")") bytes kept"
code=$(kcurl -o /dev/null -w '%{http_code}' "$KEEP_URL/v2/mirror/acme/big/manifests/$BIG")
expect_eq "nothing of the cut image is readable (admin GET by digest)" 404 "$code"
upstream_restart up
"$KEEPCTL" -o json mirror sync big >"$T/sync-big2.json" 2>"$T/sync-big2.err" ||
  fail "the second sync failed: $(cat "$T/sync-big2.err")"
want=$(($(size_of "$(layout_blob "$T/big" "${BIG_LAYERS[0]}")") - partial +
  $(size_of "$(layout_blob "$T/big" "${BIG_LAYERS[1]}")")))
expect_eq "bytes fetched by the second sync (the rest of the cut layer, then the other)" "$want" \
  "$(jq -r .bytes_fetched "$T/sync-big2.json")"
grep -q "GET /v2/acme/big/blobs/${BIG_LAYERS[0]} HTTP/1.1\" 206" "$T/up/log" ||
  fail "the upstream answered no Range request for the cut layer with 206"
ok "a Range request, answered 206, fetched the rest"
reader_copy mirror/acme/big:v1 "oci:$T/out-big:v1" >"$T/pull-big.log" 2>&1 ||
  fail "the resumed image is not served: $(tail -n 3 "$T/pull-big.log")"
cmp -s "$(layout_blob "$T/big" "${BIG_LAYERS[0]}")" "$(layout_blob "$T/out-big" "${BIG_LAYERS[0]}")" ||
  fail "the resumed layer differs from upstream's"
ok "the resumed layer is byte for byte upstream's"

check "keepctl mirror list shows the rules"
"$KEEPCTL" mirror list >"$T/list.log"
sed 's/^/    | /' "$T/list.log"
for r in signed pinned tofu bad big multi; do grep -q "^$r " "$T/list.log" || fail "rule $r not listed"; done
ok
