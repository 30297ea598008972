#!/usr/bin/env bash
# scale_migrate: a single-machine Keep (blobs under its data dir, metadata
# in SQLite) filled by real clients is moved into Ceph (radosgw) and
# PostgreSQL with `keepd --migrate-from`, and a keepd on the new store
# serves all of it:
#   - a database another keepd already ran on is refused, nothing copied;
#   - a blob whose file no longer matches its digest stops the migration,
#     naming it, and nothing of it reaches the bucket; put right, the
#     migration run again goes on, and a third run copies nothing;
#   - skopeo pulls every image from the new keepd byte for byte; a reader
#     pulls the signed image (its signature and the trusted key came along);
#   - users log in with their passwords, and a token the old keepd issued
#     is taken by the new one (the token key came along).
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init migrate "${1:-}" "${2:-}"
need skopeo
source "$(dirname "$0")/lib.sh"
scale_start

check "a single-machine Keep filled by skopeo: an open namespace, a signed image, users"
keep_start
OLD_DATA=$KEEP_DATA
admin_api POST /namespaces '{"name":"open"}' >/dev/null
admin_api PUT /namespaces/open/policy '{"mode":"open"}' >/dev/null
admin_api POST /namespaces '{"name":"signed"}' >/dev/null
admin_api POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/signed/members/pub '{"role":"publisher"}' >/dev/null
admin_api PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec.pem"
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub"
admin_api POST /namespaces/signed/keys "$(jq -cn --rawfile k "$T/ec.pub" '{name:"release", public_key:$k}')" >/dev/null
make_test_image "$T/one" v1
ONE=("${IMG_LAYERS[@]}" "$IMG_CONFIG")
skopeo_to_keep "oci:$T/one:v1" open/one:v1
make_multiarch_image "$T/multi" v2
skopeo_to_keep "oci:$T/multi:v2" open/multi:v2 --all
make_test_image "$T/two" v1
TWO=("${IMG_LAYERS[@]}" "$IMG_CONFIG")
TWO_MANIFEST=$IMG_MANIFEST
run_logged push-signed skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" \
  --dest-creds pub:publisher-password "oci:$T/two:v1" "docker://$KEEP_HOST/signed/app:v1"
cosign_layout_sign "$T/ec.pem" "$T/sig" "$KEEP_HOST/signed/app" "$TWO_MANIFEST"
run_logged push-sig skopeo copy --retry-times 0 --preserve-digests --dest-cert-dir "$CERT_DIR" \
  --dest-creds pub:publisher-password "oci:$T/sig:sig" \
  "docker://$KEEP_HOST/signed/app:sha256-${TWO_MANIFEST#sha256:}.sig"
realm=$(curl -sS --cacert "$KEEP_CA" -D - -o /dev/null "$KEEP_URL/v2/" | tr -d '\r' | grep -i '^www-authenticate:' |
  sed -n 's/^[^:]*: Bearer realm="\([^"]*\)",service="\([^"]*\)".*/\1 \2/p')
OLD_TOKEN=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 \
  "${realm% *}?service=${realm#* }&scope=repository:signed/app:pull" | jq -r .token)
[[ -n $OLD_TOKEN && $OLD_TOKEN != null ]] || fail "no token from the old keepd"
BLOBS=$(find "$OLD_DATA/blobs" -type f | wc -l)
stop_pid "$KEEP_PID"
ok "$BLOBS blob files; the old keepd stopped"

NEW="$T/new.json"
cat >"$NEW" <<JSON
{"listen":"127.0.0.1:$(free_port)","data_dir":"$T/new-data",
 "metadata":{"driver":"postgres","postgres":{"conninfo":"$PG_CONNINFO","schema":"moved"}},
 "storage":{"driver":"s3","s3":{"endpoint":"$S3_ENDPOINT","bucket":"keep","region":"$S3_REGION","part_size_mib":5}}}
JSON

check "a database another keepd already ran on is refused before anything is copied"
sed 's/"schema":"moved"/"schema":"busy"/' "$NEW" >"$T/busy.json"
KEEP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" "$KEEPD" --config "$T/busy.json" --allow-root >/dev/null 2>"$T/busy.err" &
busy=$!
E2E_PIDS+=("$busy")
for ((i = 0; i < 100; i++)); do grep -q 'listening on' "$T/busy.err" && break; sleep 0.1; done
stop_pid "$busy"
if "$KEEPD" --config "$T/busy.json" --migrate-from "$OLD_DATA" --allow-root >"$T/m0.out" 2>"$T/m0.err"; then
  fail "the migration went into a database a keepd had made its first admin in"
fi
grep -q "already holds users" "$T/m0.err" || fail "the refusal does not say why: $(tail -n 3 "$T/m0.err")"
if s3 "$S3_ENDPOINT/keep?list-type=2&prefix=blobs%2F" | grep -q '<Key>'; then
  fail "blobs were copied before the refusal"
fi
ok "$(grep -o 'already holds.*' "$T/m0.err" | cut -c1-160)"

check "a blob file that no longer matches its digest stops the migration"
victim=$(layout_blob "$T/one" "${ONE[0]}")
victim_file="$OLD_DATA/blobs/sha256/${ONE[0]:7:2}/${ONE[0]#sha256:}"
[[ -f $victim_file ]] || fail "no blob file $victim_file"
cp "$victim_file" "$T/victim.bak"
printf 'X' | dd of="$victim_file" bs=1 seek=100 conv=notrunc status=none
if "$KEEPD" --config "$NEW" --migrate-from "$OLD_DATA" --allow-root >"$T/m1.out" 2>"$T/m1.err"; then
  fail "the migration took a blob whose bytes are not its digest's"
fi
grep -q "${ONE[0]}" "$T/m1.err" || fail "the refusal does not name the blob: $(tail -n 3 "$T/m1.err")"
if s3 "$S3_ENDPOINT/keep?list-type=2&prefix=blobs%2Fsha256%2F${ONE[0]#sha256:}" | grep -q '<Key>'; then
  fail "the damaged blob reached the bucket"
fi
ok "$(grep -o 'the migration stopped.*' "$T/m1.err" | cut -c1-200)"

check "put right, the migration goes on; run again, it copies nothing"
cp "$T/victim.bak" "$victim_file"
cmp "$victim_file" "$victim" || fail "the blob file was not restored"
run_logged migrate-2 "$KEEPD" --config "$NEW" --migrate-from "$OLD_DATA" --allow-root
line=$(grep '^migrated:' "$T/migrate-2.log")
copied=$(sed -E 's/^migrated: ([0-9]+) blobs copied.*/\1/' <<<"$line")
present=$(sed -E 's/.*bytes\), ([0-9]+) in the store.*/\1/' <<<"$line")
expect_eq "blobs copied and present after the second run" "$BLOBS" "$((copied + present))"
run_logged migrate-3 "$KEEPD" --config "$NEW" --migrate-from "$OLD_DATA" --allow-root
grep -Eq "^migrated: 0 blobs copied \(0 bytes\), $BLOBS in the store already; [0-9]+ rows read, 0 new" \
  "$T/migrate-3.log" || fail "the third run copied again: $(grep '^migrated' "$T/migrate-3.log")"
ok "$line"

check "a keepd on the new store serves every image, the users and the old token"
KEEP_CONFIG_EXTRA="\"metadata\":{\"driver\":\"postgres\",\"postgres\":{\"conninfo\":\"$PG_CONNINFO\",\"schema\":\"moved\"}},\"storage\":{\"driver\":\"s3\",\"s3\":{\"endpoint\":\"$S3_ENDPOINT\",\"bucket\":\"keep\",\"region\":\"$S3_REGION\",\"part_size_mib\":5}}"
rm -rf "$T/keep-data"
keep_start
skopeo_from_keep open/one:v1 "oci:$T/one-back:v1"
for blob in "${ONE[@]}"; do
  cmp "$(layout_blob "$T/one" "$blob")" "$(layout_blob "$T/one-back" "$blob")" || fail "$blob differs"
done
skopeo_from_keep open/multi:v2 "oci:$T/multi-back:v2" --all
expect_eq "the index pulled back" "$MULTI_INDEX" \
  "sha256:$(sha256_of "$(layout_blob "$T/multi-back" "$MULTI_INDEX")")"
run_logged pull-signed skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" --src-creds rdr:reader-password-1 \
  "docker://$KEEP_HOST/signed/app:v1" "oci:$T/two-back:v1"
for blob in "${TWO[@]}"; do
  cmp "$(layout_blob "$T/two" "$blob")" "$(layout_blob "$T/two-back" "$blob")" || fail "$blob differs"
done
expect_eq "verify: trusted" true "$(admin_api GET "/verify?repository=signed/app&reference=v1" | jq -r .trusted)"
code=$(curl -sS --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OLD_TOKEN" \
  -H "Accept: $MT_OCI_MANIFEST" "$KEEP_URL/v2/signed/app/manifests/v1")
expect_eq "the old keepd's token on the new one" 200 "$code"
[[ ! -e "$KEEP_DATA/blobs" ]] || fail "the new keepd keeps blobs in its data dir"
ok

log "PASS"
