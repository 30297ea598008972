#!/usr/bin/env bash
# e2e_s3: keepd with its blobs in an S3 bucket (storage.driver "s3") on a
# real Ceph cluster's gateway (radosgw), started by tests/scale/ceph.sh.
# skopeo pushes an image and podman pulls it back; the bytes live in the
# bucket and nowhere under keepd's data dir. A chunked upload longer than
# a part is started, keepd is restarted (its successor knows nothing of the
# upload but what the bucket holds, as another replica would), and the
# upload is finished and read back byte for byte, also in ranges across a
# part's edge. A wrong digest publishes nothing; one-request and upload
# data leave no temporary objects behind. The integrity check reads the
# bucket's blobs and moves a changed one to quarantine/; garbage collection
# deletes the objects no manifest needs and keeps the image's. With
# storage.s3.redirect, layer GETs are answered with presigned URLs of the
# store that podman follows, and a reader refused an image gets none. When
# the gateway stops, /readyz says so and a push fails with 503 UNAVAILABLE;
# when it is back, the same push works. A wrong secret key stops keepd at
# start with a message that says so.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init s3 "${1:-}"
need skopeo podman radosgw ceph-mon ceph-osd
podman_init

CEPH_DIR="$T/ceph"
RGW_PORT=$(free_port)
CEPH_SH="$(cd "$(dirname "$0")/../scale" && pwd)/ceph.sh"
E2E_CLEANUP_CMDS+=("bash '$CEPH_SH' stop '$CEPH_DIR' >/dev/null 2>&1")
log "starting Ceph (mon, one OSD, radosgw on $RGW_PORT)"
CEPH_MON_PORT=$(free_port) run_logged ceph-start bash "$CEPH_SH" start "$CEPH_DIR" "$RGW_PORT"
# shellcheck disable=SC1091
source "$CEPH_DIR/s3.env"
s3() {
  curl -sS --fail-with-body --max-time 60 --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}
# s3_keys PREFIX: the keys of the bucket under PREFIX, one per line.
s3_keys() {
  s3 "$S3_ENDPOINT/keep?list-type=2&prefix=${1//\//%2F}" | grep -o '<Key>[^<]*</Key>' | sed 's:</*Key>::g' || true
}
s3 -X PUT "$S3_ENDPOINT/keep" >/dev/null || fail "cannot create the bucket"

export KEEP_S3_ACCESS_KEY="$S3_ACCESS_KEY" KEEP_S3_SECRET_KEY="$S3_SECRET_KEY"
# shellcheck disable=SC2034  # (read by keep_start)
KEEP_CONFIG_EXTRA="\"storage\":{\"driver\":\"s3\",\"s3\":{\"endpoint\":\"$S3_ENDPOINT\",\"bucket\":\"keep\",\"region\":\"$S3_REGION\",\"prefix\":\"reg/\",\"part_size_mib\":5,\"timeout_seconds\":4}}"
keep_start
admin_api POST /namespaces '{"name":"e2e"}' >/dev/null
admin_api PUT /namespaces/e2e/policy '{"mode":"open"}' >/dev/null

make_test_image "$T/src" v1

check "skopeo pushes an image into the bucket"
skopeo_to_keep "oci:$T/src:v1" e2e/app:v1
for layer in "${IMG_LAYERS[@]}" "$IMG_CONFIG" "$IMG_MANIFEST"; do
  s3_keys "reg/blobs/sha256/${layer#sha256:}" | grep -qx "reg/blobs/sha256/${layer#sha256:}" ||
    fail "$layer is not in the bucket: $(s3_keys reg/)"
done
[[ ! -e "$KEEP_DATA/blobs" ]] || fail "keepd wrote blobs under its data dir: $(ls "$KEEP_DATA/blobs")"
ok

check "podman pulls it back, and every layer is byte for byte the pushed one"
podman_login
run_logged podman-pull "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$KEEP_HOST/e2e/app:v1"
expect_eq "image ID after pull" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/e2e/app:v1")"
for layer in "${IMG_LAYERS[@]}"; do
  kcurl -o "$T/layer.bin" "$KEEP_URL/v2/e2e/app/blobs/$layer"
  expect_eq "sha256 of layer $layer" "$layer" "sha256:$(sha256_of "$T/layer.bin")"
done

# A blob of 12 MiB + 3 bytes: more than two 5 MiB parts.
head -c $((12 * 1024 * 1024 + 3)) /dev/urandom >"$T/big.bin"
BIG="sha256:$(sha256_of "$T/big.bin")"
# bytes FILE FROM [COUNT]: COUNT bytes of FILE from offset FROM (all that follow without COUNT).
bytes() { dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" ${3:+count="$3"} status=none; }
bytes "$T/big.bin" 0 $((3 * 1024 * 1024)) >"$T/c1"
bytes "$T/big.bin" $((3 * 1024 * 1024)) $((4 * 1024 * 1024)) >"$T/c2"
bytes "$T/big.bin" $((7 * 1024 * 1024)) >"$T/c3"

# with_digest LOCATION DIGEST: the upload's URL path with ?digest= (or &digest=).
with_digest() { [[ $1 == *\?* ]] && echo "$1&digest=$2" || echo "$1?digest=$2"; }

# patch FILE FROM: PATCHes FILE at offset FROM to $UPLOAD; sets UPLOAD to the next Location.
patch_chunk() {
  local size
  size=$(size_of "$1")
  kcurl -D "$T/patch.h" -o "$T/patch.out" -X PATCH -H 'Content-Type: application/octet-stream' \
    -H "Content-Range: $2-$(($2 + size - 1))" --data-binary "@$1" "$KEEP_URL$UPLOAD"
  grep -q '^HTTP/[0-9.]* 202' "$T/patch.h" || fail "PATCH at $2: $(head -1 "$T/patch.h") $(cat "$T/patch.out")"
  UPLOAD=$(grep -i '^location:' "$T/patch.h" | tr -d '\r' | cut -d' ' -f2)
}

check "a chunked upload goes on after keepd restarts, from what the bucket holds"
kcurl -D "$T/post.h" -o /dev/null -X POST "$KEEP_URL/v2/e2e/big/blobs/uploads/"
UPLOAD=$(grep -i '^location:' "$T/post.h" | tr -d '\r' | cut -d' ' -f2)
[[ $UPLOAD == /v2/e2e/big/blobs/uploads/* ]] || fail "unexpected Location: $UPLOAD"
patch_chunk "$T/c1" 0
patch_chunk "$T/c2" $((3 * 1024 * 1024))
[[ -n $(s3_keys "reg/uploads/") ]] || fail "the upload's bytes are not in the bucket"
stop_pid "$KEEP_PID"
keep_start
kcurl -D "$T/status.h" -o /dev/null "$KEEP_URL$UPLOAD"
expect_eq "the restarted keepd's Range for the upload" "Range: 0-$((7 * 1024 * 1024 - 1))" \
  "$(grep -i '^range:' "$T/status.h" | tr -d '\r')"
patch_chunk "$T/c3" $((7 * 1024 * 1024))
code=$(kcurl -o "$T/put.out" -w '%{http_code}' -X PUT "$KEEP_URL$(with_digest "$UPLOAD" "$BIG")")
expect_eq "PUT with the digest" 201 "$code"
kcurl -o "$T/big.back" "$KEEP_URL/v2/e2e/big/blobs/$BIG"
expect_eq "sha256 of the blob read back" "$BIG" "sha256:$(sha256_of "$T/big.back")"
expect_eq "objects left of the upload" "" "$(s3_keys reg/uploads/)"

check "ranges across a part's edge"
from=$((5 * 1024 * 1024 - 10))
kcurl -o "$T/range.bin" -H "Range: bytes=$from-$((from + 99))" "$KEEP_URL/v2/e2e/big/blobs/$BIG"
expect_eq "100 bytes across the first part's end" "$(bytes "$T/big.bin" "$from" 100 | sha256sum | cut -d' ' -f1)" \
  "$(sha256_of "$T/range.bin")"
kcurl -o "$T/range.bin" -H "Range: bytes=$((12 * 1024 * 1024))-" "$KEEP_URL/v2/e2e/big/blobs/$BIG"
expect_eq "the last 3 bytes" "$(tail -c 3 "$T/big.bin" | sha256sum | cut -d' ' -f1)" "$(sha256_of "$T/range.bin")"

check "a one-request push of 11 MiB is published, and leaves nothing in tmp/"
head -c $((11 * 1024 * 1024)) /dev/urandom >"$T/mono.bin"
MONO="sha256:$(sha256_of "$T/mono.bin")"
kcurl -D "$T/post.h" -o /dev/null -X POST "$KEEP_URL/v2/e2e/mono/blobs/uploads/"
UPLOAD=$(grep -i '^location:' "$T/post.h" | tr -d '\r' | cut -d' ' -f2)
code=$(kcurl -o "$T/put.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/mono.bin" "$KEEP_URL$(with_digest "$UPLOAD" "$MONO")")
expect_eq "PUT of the whole blob" 201 "$code"
kcurl -o "$T/mono.back" "$KEEP_URL/v2/e2e/mono/blobs/$MONO"
expect_eq "sha256 read back" "$MONO" "sha256:$(sha256_of "$T/mono.back")"
expect_eq "objects left in tmp/" "" "$(s3_keys reg/tmp/)"

check "a wrong digest publishes nothing"
head -c $((6 * 1024 * 1024)) /dev/urandom >"$T/other.bin"
WRONG="sha256:$(printf 'not these bytes' | sha256sum | cut -d' ' -f1)"
kcurl -D "$T/post.h" -o /dev/null -X POST "$KEEP_URL/v2/e2e/wrong/blobs/uploads/"
UPLOAD=$(grep -i '^location:' "$T/post.h" | tr -d '\r' | cut -d' ' -f2)
code=$(kcurl -o "$T/put.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/other.bin" "$KEEP_URL$(with_digest "$UPLOAD" "$WRONG")")
expect_eq "PUT with a digest the bytes do not have" 400 "$code"
grep -q DIGEST_INVALID "$T/put.out" || fail "no DIGEST_INVALID: $(cat "$T/put.out")"
expect_eq "objects under the wrong digest" "" "$(s3_keys "reg/blobs/sha256/${WRONG#sha256:}")"
expect_eq "objects left in tmp/" "" "$(s3_keys reg/tmp/)"

check "the integrity check reads every blob in the bucket and finds them whole"
admin_api POST /fsck '{}' >"$T/fsck.json"
expect_eq "corrupt blobs" 0 "$(jq .corrupt.count "$T/fsck.json")"
expect_eq "missing blobs" 0 "$(jq .missing_blobs.count "$T/fsck.json")"
expect_eq "stray objects" 0 "$(jq .stray_files.count "$T/fsck.json")"
(($(jq .blobs_checked "$T/fsck.json") >= 6)) || fail "too few blobs checked: $(cat "$T/fsck.json")"
ok "$(jq -c '{blobs_checked, bytes_checked}' "$T/fsck.json")"

check "a blob whose bytes changed in the bucket is found and moved to quarantine/"
s3 -X PUT --data-binary 'not the layer any more' "$S3_ENDPOINT/keep/reg/blobs/sha256/${IMG_LAYERS[0]#sha256:}" >/dev/null
admin_api POST /fsck '{"repair":true}' >"$T/fsck.json"
expect_eq "corrupt blobs" 1 "$(jq .corrupt.count "$T/fsck.json")"
[[ $(s3_keys reg/quarantine/) == "reg/quarantine/sha256-${IMG_LAYERS[0]#sha256:}".* ]] ||
  fail "the quarantined object is not where it should be: $(s3_keys reg/quarantine/)"
expect_eq "the blob's object" "" "$(s3_keys "reg/blobs/sha256/${IMG_LAYERS[0]#sha256:}")"

check "garbage collection deletes the objects no manifest needs, and nothing else"
printf 'an orphan blob' >"$T/orphan.bin"
ORPHAN=$(sha256_of "$T/orphan.bin")
s3 -X PUT --data-binary "@$T/orphan.bin" "$S3_ENDPOINT/keep/reg/blobs/sha256/$ORPHAN" >/dev/null
sleep 2  # the store's times are in whole seconds: the object must be older than "now"
admin_api POST /gc '{"grace_seconds":0,"delete_untagged":false}' >"$T/gc.json"
expect_eq "the orphan's object after GC" "" "$(s3_keys "reg/blobs/sha256/$ORPHAN")"
# What the image references stays; the blobs pushed without a manifest
# were linked by no manifest past the grace time, so they went too.
for blob in "${IMG_LAYERS[1]}" "$IMG_CONFIG" "$IMG_MANIFEST"; do
  s3_keys "reg/blobs/sha256/${blob#sha256:}" | grep -q . || fail "GC deleted $blob: $(cat "$T/gc.json")"
done
expect_eq "objects GC deleted" "$(printf '%s\n' "$BIG" "$MONO" "sha256:$ORPHAN" | sort | tr '\n' ' ')" \
  "$(jq -r '.blob_files.items[]' "$T/gc.json" | sort | tr '\n' ' ')"
ok "$(jq -c '{blob_files: .blob_files.count, bytes_freed}' "$T/gc.json")"

check "with storage.s3.redirect, blob GETs go to a presigned URL of the store"
stop_pid "$KEEP_PID"
KEEP_CONFIG_EXTRA="${KEEP_CONFIG_EXTRA%\}\}},\"redirect\":true,\"redirect_seconds\":60}}"
keep_start
code=$(kcurl -o /dev/null -D "$T/redirect.h" -w '%{http_code}' "$KEEP_URL/v2/e2e/app/blobs/${IMG_LAYERS[1]}")
expect_eq "GET of a layer" 307 "$code"
location=$(grep -i '^location:' "$T/redirect.h" | tr -d '\r' | cut -d' ' -f2)
[[ $location == "$S3_ENDPOINT/keep/reg/blobs/sha256/${IMG_LAYERS[1]#sha256:}?"*X-Amz-Signature=* ]] ||
  fail "the redirect is not a presigned URL of the layer: $location"
curl -sS -o "$T/direct.bin" "$location" || fail "the presigned URL does not serve the layer"
expect_eq "sha256 of the layer from the store" "${IMG_LAYERS[1]}" "sha256:$(sha256_of "$T/direct.bin")"
code=$(curl -sS -o /dev/null -w '%{http_code}' "${location/X-Amz-Signature=/X-Amz-Signature=0}")
expect_eq "the same URL with its signature changed" 403 "$code"
code=$(kcurl -o /dev/null -w '%{http_code}' -I "$KEEP_URL/v2/e2e/app/blobs/${IMG_LAYERS[1]}")
expect_eq "HEAD of the layer (answered by keepd)" 200 "$code"
make_test_image "$T/src2" v2
skopeo_to_keep "oci:$T/src2:v2" e2e/fresh:v2
podman_login
run_logged podman-pull-redirected "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$KEEP_HOST/e2e/fresh:v2"
expect_eq "image ID after a pull through redirects" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/e2e/fresh:v2")"
for layer in "${IMG_LAYERS[@]}"; do
  grep -q "\"method\":\"GET\",.*\"path\":\"/v2/e2e/fresh/blobs/$layer\",.*\"status\":307" "$KEEP_LOG" ||
    fail "podman's GET of $layer was not redirected: $(grep -c "$layer" "$KEEP_LOG") lines name it"
done
ok "podman pulled each layer from the store"

check "a reader refused an image gets no URL of its bytes"
admin_api POST /namespaces '{"name":"held"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/held/members/rdr '{"role":"reader"}' >/dev/null
skopeo_to_keep "oci:$T/src2:v2" held/app:v1
code=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -D "$T/held.h" -o /dev/null \
  -w '%{http_code}' "$KEEP_URL/v2/held/app/blobs/${IMG_LAYERS[1]}")
expect_eq "reader GET of a layer of an unsigned image in a quarantined namespace" 403 "$code"
if grep -qi '^location:' "$T/held.h"; then fail "a refused reader was given a Location"; fi
ok

check "the store going away: /readyz says so, a push fails cleanly, and works once it is back"
code=$(kcurl -o /dev/null -w '%{http_code}' -H "Accept: $MT_OCI_MANIFEST" "$KEEP_URL/v2/e2e/app/manifests/v1")
expect_eq "a manifest GET before" 200 "$code"
bash "$CEPH_SH" stop-rgw "$CEPH_DIR"
code=$(curl -sS --cacert "$KEEP_CA" -o "$T/ready.json" -w '%{http_code}' --max-time 30 "$KEEP_URL/readyz")
expect_eq "/readyz without the store" 503 "$code"
expect_eq "the failing check" failing "$(jq -r .checks.storage "$T/ready.json")"
head -c $((1024 * 1024)) /dev/urandom >"$T/later.bin"
LATER="sha256:$(sha256_of "$T/later.bin")"
# (a monolithic push: POST with the digest and the body)
code=$(kcurl -o "$T/put.out" -w '%{http_code}' --max-time 60 -X POST -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/later.bin" "$KEEP_URL/v2/e2e/later/blobs/uploads/?digest=$LATER")
expect_eq "a push while the store is away" 503 "$code"
grep -q UNAVAILABLE "$T/put.out" || fail "no UNAVAILABLE in: $(cat "$T/put.out")"
code=$(kcurl -o /dev/null -w '%{http_code}' -H "Accept: $MT_OCI_MANIFEST" "$KEEP_URL/v2/e2e/app/manifests/v1")
expect_eq "the same manifest GET meanwhile (from keepd's cache)" 200 "$code"
bash "$CEPH_SH" start-rgw "$CEPH_DIR"
code=$(curl -sS --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' "$KEEP_URL/readyz")
expect_eq "/readyz with the store back" 200 "$code"
kcurl -D "$T/post.h" -o /dev/null -X POST "$KEEP_URL/v2/e2e/later/blobs/uploads/"
UPLOAD=$(grep -i '^location:' "$T/post.h" | tr -d '\r' | cut -d' ' -f2)
code=$(kcurl -o "$T/put.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
  --data-binary "@$T/later.bin" "$KEEP_URL$(with_digest "$UPLOAD" "$LATER")")
expect_eq "the same push again" 201 "$code"
kcurl -o "$T/later.back" -L "$KEEP_URL/v2/e2e/later/blobs/$LATER"
expect_eq "sha256 read back" "$LATER" "sha256:$(sha256_of "$T/later.back")"

check "a gateway that stops answering (SIGSTOP): requests end after the timeout, and go on once it answers"
RGW_PID=$(cat "$CEPH_DIR/run/client.rgw.gw.pid")
kill -STOP "$RGW_PID"
started=$SECONDS
code=$(curl -sS --cacert "$KEEP_CA" -o "$T/ready.json" -w '%{http_code}' --max-time 60 "$KEEP_URL/readyz")
took=$((SECONDS - started))
kill -CONT "$RGW_PID"
expect_eq "/readyz while the gateway hangs" 503 "$code"
# (4 tries of 4 s, and the back-off between them)
((took <= 30)) || fail "/readyz took $took s with a 4 s timeout"
grep -q "no answer within 4 s" "$KEEP_ERR" || fail "keepd's log does not name the timeout: $(tail -3 "$KEEP_ERR")"
ok "answered in $took s"
for ((i = 0; i < 50; i++)); do
  code=$(curl -sS --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' "$KEEP_URL/readyz")
  [[ $code == 200 ]] && break
  sleep 0.2
done
expect_eq "/readyz once the gateway answers again" 200 "$code"
kcurl -o "$T/later.back" -L "$KEEP_URL/v2/e2e/later/blobs/$LATER"
expect_eq "sha256 read back" "$LATER" "sha256:$(sha256_of "$T/later.back")"

check "keepd with a wrong secret key refuses to start, and says why"
stop_pid "$KEEP_PID"
KEEP_S3_SECRET_KEY=wrong-secret timeout 30 "$KEEPD" --config "$T/keepd.json" --allow-root \
  >/dev/null 2>"$T/wrong.err" && fail "keepd started with a wrong secret key"
if ! grep -q "storage.driver is s3" "$T/wrong.err" ||
  ! grep -q "refused the credentials (403)" "$T/wrong.err"; then
  fail "keepd's message does not say what is wrong: $(cat "$T/wrong.err")"
fi
ok "$(grep -o 'storage.driver is s3.*' "$T/wrong.err" | head -c 300)"

log "PASS"
[[ -z "${E2E_SHOW_LOG:-}" ]] || cat "$KEEP_LOG"
