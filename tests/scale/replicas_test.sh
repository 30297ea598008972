#!/usr/bin/env bash
# scale_replicas: three keepd replicas that share nothing but one Ceph
# bucket (radosgw, tests/scale/ceph.sh) and one PostgreSQL database
# (tests/scale/postgres.sh), each with a data dir of its own, as behind a
# load balancer.
#   - Started at once, they make one first admin between them.
#   - A token one replica issued is taken by the others (the token key is the
#     database's, not a file each made).
#   - A chunked upload whose requests go to each replica in turn is
#     finished and read back byte for byte from another.
#   - Two requests writing to one upload session through two replicas: the
#     second is refused while the first runs, and the blob is whole.
#   - A replica SIGKILLed while a chunk streams in: the client asks another
#     where the session stands, sends the rest there, and finishes on a third.
#   - skopeo pushes an image through one replica and its signature through
#     another; a reader pulls it through the third. The key revoked through
#     one replica refuses the image on all three at the next request.
#   - Garbage collection on one replica while the others take pushes:
#     every push that was acknowledged is whole afterwards, and the
#     integrity check finds no link to a missing blob.
#   - podman pushes through one replica and pulls through another; so does
#     docker; containerd's ctr pulls that image through the third replica
#     and pushes it through the first.
#   - radosgw stopped while a chunk streams in: that request fails with 503
#     (or its connection ends), every /readyz says so, a push meanwhile gets
#     503; radosgw started again, the push works on retry.
#   - PostgreSQL stopped: every replica's /readyz says so and a push fails
#     with 503; started again, the same replicas serve without a restart.
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init replicas "${1:-}" "${2:-}"
need skopeo podman dockerd ctr
source "$(dirname "$0")/lib.sh"
scale_start

# One certificate for all three, as a load balancer's clients would see one name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null
CERT_DIR="$T/certs"
mkdir -p "$CERT_DIR"
cp "$T/tls.crt" "$CERT_DIR/ca.crt"
KEEP_CA="$CERT_DIR/ca.crt"
KEEP_CREDS="$E2E_ADMIN_USER:$E2E_ADMIN_PASSWORD"

declare -a R_PID R_HOST R_URL
# replica_spawn N: starts replica N (1-3) in the background on a free port.
replica_spawn() {
  local n=$1 dir="$T/replica$1"
  mkdir -p "$dir"
  R_HOST[n]="127.0.0.1:$(free_port)"
  R_URL[n]="https://${R_HOST[n]}"
  cat >"$dir/keepd.json" <<JSON
{"listen":"${R_HOST[n]}","data_dir":"$dir/data",
 "tls":{"cert":"$T/tls.crt","key":"$T/tls.key"},
 "metadata":{"driver":"postgres","postgres":{"conninfo":"$PG_CONNINFO","schema":"replicas"}},
 "storage":{"driver":"s3","s3":{"endpoint":"$S3_ENDPOINT","bucket":"keep","region":"$S3_REGION","part_size_mib":5,"timeout_seconds":10}},
 "gc":{"interval_hours":0}}
JSON
  : >"$dir/stderr.log"
  KEEP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" "$KEEPD" --config "$dir/keepd.json" --allow-root \
    >"$dir/requests.log" 2>"$dir/stderr.log" &
  R_PID[n]=$!
  E2E_PIDS+=("${R_PID[n]}")
}
# replica_wait N: until replica N listens (20 s at most).
replica_wait() {
  local n=$1 i
  for ((i = 0; i < 200; i++)); do
    grep -q 'listening on' "$T/replica$n/stderr.log" && return 0
    kill -0 "${R_PID[n]}" 2>/dev/null || break
    sleep 0.1
  done
  sed 's/^/    | /' "$T/replica$n/stderr.log" >&2
  fail "replica $n did not start listening"
}
# on N CURL-ARGS...: curl to replica N as the admin (a path, not a URL, first).
on() {
  local n=$1 path=$2
  shift 2
  curl -sS --max-time 120 --cacert "$KEEP_CA" -u "$KEEP_CREDS" "$@" "${R_URL[n]}$path"
}
# status_of N CURL-ARGS...: the HTTP status only.
status_of() { on "$@" -o /dev/null -w '%{http_code}'; }
admin_on() { # N METHOD PATH [JSON]
  local out code
  out=$(mktemp "$T/admin.XXXXXX")
  code=$(on "$1" "/admin/v1$3" -o "$out" -w '%{http_code}' -X "$2" -H 'Content-Type: application/json' \
    ${4:+--data "$4"}) || fail "admin API $2 $3 on replica $1: curl failed"
  [[ $code == 2?? ]] || fail "admin API $2 $3 on replica $1: HTTP $code: $(head -c 400 "$out")"
  cat "$out"
  rm -f "$out"
}
with_digest() { [[ $1 == *\?* ]] && echo "$1&digest=$2" || echo "$1?digest=$2"; }
# bytes FILE FROM [COUNT]: COUNT bytes of FILE from offset FROM (all that follow without COUNT).
bytes() { dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" ${3:+count="$3"} status=none; }
# start_upload N REPO: a new session through replica N; prints its Location path.
start_upload() {
  on "$1" "/v2/$2/blobs/uploads/" -X POST -D - -o /dev/null | tr -d '\r' |
    sed -n 's/^[Ll]ocation: //p' | sed -E 's#^https://[^/]+##'
}

check "three replicas started at once make one first admin between them"
for n in 1 2 3; do replica_spawn "$n"; done
for n in 1 2 3; do replica_wait "$n"; done
made=$(cat "$T"/replica{1,2,3}/stderr.log | grep -c 'created the first admin' || true)
expect_eq "replicas that created the first admin" 1 "$made"
expect_eq "users in the database" 1 "$(admin_on 2 GET /users | jq '.users | length')"
for n in 1 2 3; do expect_eq "GET /v2/ as admin on replica $n" 200 "$(status_of "$n" /v2/)"; done
ok

check "a token issued by one replica is taken by the other two"
realm=$(curl -sS --cacert "$KEEP_CA" -D - -o /dev/null "${R_URL[1]}/v2/" | tr -d '\r' | grep -i '^www-authenticate:' |
  sed -n 's/^[^:]*: Bearer realm="\([^"]*\)",service="\([^"]*\)".*/\1 \2/p')
[[ -n $realm ]] || fail "no Bearer challenge from replica 1"
token=$(curl -sS --cacert "$KEEP_CA" -u "$KEEP_CREDS" \
  "${realm% *}?service=${realm#* }&scope=registry:catalog:*" | jq -r .token)
[[ -n $token && $token != null ]] || fail "replica 1 issued no token"
for n in 2 3; do
  code=$(curl -sS --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
    "${R_URL[n]}/v2/_catalog")
  expect_eq "replica 1's token on replica $n" 200 "$code"
done
ok

admin_on 1 POST /namespaces '{"name":"open"}' >/dev/null
admin_on 2 PUT /namespaces/open/policy '{"mode":"open"}' >/dev/null

check "a chunked upload whose requests go to each replica in turn"
head -c $((12 * 1024 * 1024 + 3)) /dev/urandom >"$T/big.bin"
BIG="sha256:$(sha256_of "$T/big.bin")"
bytes "$T/big.bin" 0 $((3 * 1024 * 1024)) >"$T/c1"
bytes "$T/big.bin" $((3 * 1024 * 1024)) $((4 * 1024 * 1024)) >"$T/c2"
bytes "$T/big.bin" $((7 * 1024 * 1024)) >"$T/c3"
loc=$(start_upload 1 open/chunks)
[[ -n $loc ]] || fail "no upload session from replica 1"
expect_eq "PATCH 1 through replica 2" 202 "$(status_of 2 "$loc" -X PATCH --data-binary @"$T/c1" \
  -H 'Content-Type: application/octet-stream' -H "Content-Range: 0-$((3 * 1024 * 1024 - 1))")"
expect_eq "PATCH 2 through replica 3" 202 "$(status_of 3 "$loc" -X PATCH --data-binary @"$T/c2" \
  -H 'Content-Type: application/octet-stream' \
  -H "Content-Range: $((3 * 1024 * 1024))-$((7 * 1024 * 1024 - 1))")"
expect_eq "PUT with the rest through replica 1" 201 "$(status_of 1 "$(with_digest "$loc" "$BIG")" \
  -X PUT --data-binary @"$T/c3" -H 'Content-Type: application/octet-stream')"
on 2 "/v2/open/chunks/blobs/$BIG" -o "$T/back.bin"
expect_eq "sha256 read back through replica 2" "$BIG" "sha256:$(sha256_of "$T/back.bin")"
ok

check "one upload session written through two replicas at once: the second waits its turn"
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/slow.bin"
loc=$(start_upload 1 open/slow)
on 2 "$loc" -X PATCH --limit-rate 2M --data-binary @"$T/slow.bin" -H 'Content-Type: application/octet-stream' \
  -o /dev/null -w '%{http_code}' >"$T/slow.code" &
slow=$!
sleep 2
on 3 "$loc" -X PATCH --data-binary 'more' -H 'Content-Type: application/octet-stream' \
  -o "$T/second.json" -w '%{http_code}' >"$T/second.code"
expect_eq "the second writer's status" 400 "$(cat "$T/second.code")"
jq -e '.errors[0].code == "BLOB_UPLOAD_INVALID" and (.errors[0].message | test("another request"))' \
  "$T/second.json" >/dev/null || fail "the refusal does not say why: $(cat "$T/second.json")"
wait "$slow"
expect_eq "the first writer's status" 202 "$(cat "$T/slow.code")"
expect_eq "finishing through replica 1" 201 "$(status_of 1 "$(with_digest "$loc" "sha256:$(sha256_of "$T/slow.bin")")" -X PUT)"
ok "refused with: $(jq -r '.errors[0].message' "$T/second.json")"

check "a replica SIGKILLed while a chunk streams in; the client goes on through the others"
loc=$(start_upload 1 open/killed)
on 2 "$loc" -X PATCH --limit-rate 2M --data-binary @"$T/big.bin" -H 'Content-Type: application/octet-stream' \
  -o /dev/null >/dev/null 2>&1 &
cut=$!
sleep 5
kill -KILL "${R_PID[2]}"
wait "$cut" || true
wait "${R_PID[2]}" 2>/dev/null || true
range=$(on 3 "$loc" -D - -o /dev/null | tr -d '\r' | sed -n 's/^[Rr]ange: 0-//p')
[[ -n $range ]] || fail "replica 3 does not know the session's range"
have=$((range + 1))
((have % (5 * 1024 * 1024) == 0 && have > 0)) || fail "the session kept $have bytes, not whole parts"
log "replica 3 says the session holds $have bytes"
bytes "$T/big.bin" "$have" >"$T/rest.bin"
for ((i = 0; i < 50; i++)); do
  code=$(status_of 3 "$loc" -X PATCH --data-binary @"$T/rest.bin" -H 'Content-Type: application/octet-stream' \
    -H "Content-Range: $have-$((12 * 1024 * 1024 + 2))")
  [[ $code == 400 ]] || break # the killed replica's claim goes when PostgreSQL sees its connection close
  sleep 0.2
done
expect_eq "the rest through replica 3" 202 "$code"
expect_eq "finishing through replica 1" 201 "$(status_of 1 "$(with_digest "$loc" "$BIG")" -X PUT)"
on 3 "/v2/open/killed/blobs/$BIG" -o "$T/back.bin"
expect_eq "sha256 read back" "$BIG" "sha256:$(sha256_of "$T/back.bin")"
replica_spawn 2
replica_wait 2
ok

check "an image pushed through one replica, signed through another, pulled through the third"
admin_on 1 POST /namespaces '{"name":"signed"}' >/dev/null
admin_on 2 POST /users '{"name":"pub","password":"publisher-password"}' >/dev/null
admin_on 3 POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_on 1 PUT /namespaces/signed/members/pub '{"role":"publisher"}' >/dev/null
admin_on 2 PUT /namespaces/signed/members/rdr '{"role":"reader"}' >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec.pem"
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub"
KEY_ID=$(admin_on 3 POST /namespaces/signed/keys "$(jq -cn --rawfile k "$T/ec.pub" '{name:"release", public_key:$k}')" |
  jq -r .key_id)
make_test_image "$T/src" v1
run_logged push skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" --dest-creds pub:publisher-password \
  "oci:$T/src:v1" "docker://${R_HOST[1]}/signed/app:v1"
cosign_layout_sign "$T/ec.pem" "$T/sig" "${R_HOST[1]}/signed/app" "$IMG_MANIFEST"
run_logged push-sig skopeo copy --retry-times 0 --preserve-digests --dest-cert-dir "$CERT_DIR" \
  --dest-creds pub:publisher-password "oci:$T/sig:sig" \
  "docker://${R_HOST[2]}/signed/app:sha256-${IMG_MANIFEST#sha256:}.sig"
run_logged pull skopeo copy --retry-times 0 --src-cert-dir "$CERT_DIR" --src-creds rdr:reader-password-1 \
  "docker://${R_HOST[3]}/signed/app:v1" "oci:$T/pulled:v1"
for blob in "${IMG_LAYERS[@]}" "$IMG_CONFIG"; do
  cmp "$(layout_blob "$T/src" "$blob")" "$(layout_blob "$T/pulled" "$blob")" ||
    fail "$blob pulled through replica 3 differs from the one pushed through replica 1"
done
ok

check "the key revoked through one replica: all three refuse the image at the next request"
admin_on 2 DELETE "/namespaces/signed/keys/$KEY_ID" >/dev/null
for n in 1 2 3; do
  code=$(curl -sS --max-time 30 --cacert "$KEEP_CA" -u rdr:reader-password-1 -o "$T/refused.json" \
    -w '%{http_code}' -H "Accept: $MT_OCI_MANIFEST" "${R_URL[n]}/v2/signed/app/manifests/v1")
  [[ $code == 4?? ]] || fail "replica $n still serves the image after the key was revoked (HTTP $code)"
  grep -q quarantine "$T/refused.json" || fail "replica $n does not say why: $(cat "$T/refused.json")"
done
ok

check "garbage collection on one replica while the other two take pushes"
# push_one N REPO: a small image (a shared layer, a layer of its own, a
# config) pushed through replica N with single-request uploads; prints
# the manifest digest when every request was acknowledged.
head -c 70000 /dev/urandom >"$T/shared.bin"
SHARED="sha256:$(sha256_of "$T/shared.bin")"
push_one() {
  local n=$1 repo=$2 own cfg man d
  own=$(mktemp "$T/own.XXXXXX")
  head -c 5000 /dev/urandom >"$own"
  cfg=$(mktemp "$T/cfg.XXXXXX")
  printf '{"architecture":"amd64","os":"linux","note":"%s"}' "$RANDOM$RANDOM" >"$cfg"
  for f in "$T/shared.bin" "$own" "$cfg"; do
    d="sha256:$(sha256_of "$f")"
    [[ $(status_of "$n" "/v2/$repo/blobs/uploads/?digest=$d" -X POST --data-binary @"$f" \
      -H 'Content-Type: application/octet-stream') == 201 ]] || return 1
  done
  man=$(mktemp "$T/man.XXXXXX")
  jq -cn --arg s "$SHARED" --arg o "sha256:$(sha256_of "$own")" --arg c "sha256:$(sha256_of "$cfg")" \
    --argjson ss 70000 --argjson os 5000 --argjson cs "$(size_of "$cfg")" \
    '{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
      config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$c, size:$cs},
      layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar", digest:$s, size:$ss},
              {mediaType:"application/vnd.oci.image.layer.v1.tar", digest:$o, size:$os}]}' >"$man"
  [[ $(status_of "$n" "/v2/$repo/manifests/t" -X PUT --data-binary @"$man" \
    -H "Content-Type: $MT_OCI_MANIFEST") == 201 ]] || return 1
  echo "$repo sha256:$(sha256_of "$man") sha256:$(sha256_of "$own") sha256:$(sha256_of "$cfg")"
}
pusher() { # N OUT: 15 pushes through replica N, each to a repository of its own
  local i
  for ((i = 0; i < 15; i++)); do push_one "$1" "open/gc-$1-$i" >>"$2" || echo "open/gc-$1-$i refused" >>"$T/refused.txt"; done
}
: >"$T/acked.txt"
: >"$T/refused.txt"
pusher 2 "$T/acked.txt" &
p2=$!
pusher 3 "$T/acked.txt" &
p3=$!
runs=0
while kill -0 "$p2" 2>/dev/null || kill -0 "$p3" 2>/dev/null; do
  code=$(status_of 1 /admin/v1/gc -X POST -H 'Content-Type: application/json' \
    --data '{"grace_seconds":0,"delete_untagged":true}' -o "$T/gc.json")
  [[ $code == 200 ]] && runs=$((runs + 1))
  [[ $code == 200 || $code == 409 ]] || fail "GC on replica 1: HTTP $code: $(cat "$T/gc.json")"
done
wait "$p2" "$p3"
acked=$(wc -l <"$T/acked.txt")
((runs > 0)) || fail "no garbage collection ran while the pushes went on"
((acked > 0)) || fail "no push was acknowledged: $(cat "$T/refused.txt")"
while read -r repo man own cfg; do
  for d in "$SHARED" "$own" "$cfg"; do
    code=$(status_of 3 "/v2/$repo/blobs/$d" -o "$T/blob.bin")
    [[ $code == 200 && "sha256:$(sha256_of "$T/blob.bin")" == "$d" ]] ||
      fail "$repo's blob $d, acknowledged, is lost (HTTP $code)"
  done
  expect_eq "$repo's manifest" 200 "$(status_of 2 "/v2/$repo/manifests/$man" -H "Accept: $MT_OCI_MANIFEST")"
done <"$T/acked.txt"
fsck=$(admin_on 1 POST /fsck '{}')
expect_eq "links to missing blobs after it all" 0 "$(jq '.missing_blobs.count' <<<"$fsck")"
ok "$runs collections, $acked pushes acknowledged and whole, $(wc -l <"$T/refused.txt") refused"

check "podman pushes through one replica and pulls through another"
podman_init
make_test_image "$T/pod" v1
for n in 1 3; do
  printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
  run_logged "podman-login-$n" "${PODMAN[@]}" login --cert-dir "$CERT_DIR" -u "$E2E_ADMIN_USER" \
    --password-stdin "${R_HOST[n]}" <"$T/pw"
done
id=$("${PODMAN[@]}" pull -q "oci:$T/pod:v1") || fail "podman could not load the OCI layout"
run_logged podman-tag "${PODMAN[@]}" tag "$id" "${R_HOST[1]}/open/pod:v1"
run_logged podman-push "${PODMAN[@]}" push --cert-dir "$CERT_DIR" "${R_HOST[1]}/open/pod:v1"
run_logged podman-rmi "${PODMAN[@]}" rmi -a -f
run_logged podman-pull "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "${R_HOST[3]}/open/pod:v1"
expect_eq "image ID pulled through replica 3" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "${R_HOST[3]}/open/pod:v1")"
ok

check "docker pushes through one replica and pulls through another"
KEEP_HOST=${R_HOST[2]} dockerd_start
docker_trust "${R_HOST[1]}"
docker_load "$T/pod:v1" "${R_HOST[2]}/open/dock:v1"
for n in 1 2; do
  run_logged "docker-login-$n" "${DOCKER[@]}" login -u "$E2E_ADMIN_USER" --password-stdin "${R_HOST[n]}" <"$T/pw"
done
run_logged docker-push "${DOCKER[@]}" push "${R_HOST[2]}/open/dock:v1"
pushed=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\) size: .*/\1/p' "$T/docker-push.log")
[[ -n $pushed ]] || fail "docker push printed no digest: $(tail -n 3 "$T/docker-push.log")"
run_logged docker-rmi "${DOCKER[@]}" rmi "${R_HOST[2]}/open/dock:v1"
run_logged docker-pull "${DOCKER[@]}" pull "${R_HOST[1]}/open/dock:v1"
expect_eq "image ID pulled through replica 1" "$IMG_CONFIG" \
  "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "${R_HOST[1]}/open/dock:v1")"
expect_eq "repo digest pulled through replica 1" "${R_HOST[1]}/open/dock@$pushed" \
  "$("${DOCKER[@]}" image inspect -f '{{join .RepoDigests " "}}' "${R_HOST[1]}/open/dock:v1")"
ok "$pushed"

check "ctr pulls through one replica and pushes through another"
for ((i = 0; i < 100; i++)); do [[ -S $CONTAINERD_SOCK ]] && break; sleep 0.1; done
CTR=(ctr -a "$CONTAINERD_SOCK" -n keep-replicas)
for n in 1 3; do
  mkdir -p "$T/hosts/${R_HOST[n]}"
  printf 'server = "https://%s"\n[host."https://%s"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "%s"\n' \
    "${R_HOST[n]}" "${R_HOST[n]}" "$KEEP_CA" >"$T/hosts/${R_HOST[n]}/hosts.toml"
done
run_logged ctr-pull "${CTR[@]}" images pull --hosts-dir "$T/hosts" --snapshotter native --user "$KEEP_CREDS" \
  "${R_HOST[3]}/open/dock:v1"
expect_eq "manifest digest ctr recorded from replica 3" "$pushed" \
  "$("${CTR[@]}" images ls | awk -v r="${R_HOST[3]}/open/dock:v1" '$1 == r {print $3}')"
# docker pushed its own compressed layers: the blobs its manifest names.
on 2 "/v2/open/dock/manifests/$pushed" -H "Accept: $MT_DOCKER_MANIFEST" -o "$T/dock.json"
for d in $(jq -r '.config.digest, .layers[].digest' "$T/dock.json"); do
  expect_eq "sha256 of $d in containerd's content store" "$d" \
    "sha256:$("${CTR[@]}" content get "$d" | sha256sum | cut -d' ' -f1)"
done
run_logged ctr-tag "${CTR[@]}" images tag "${R_HOST[3]}/open/dock:v1" "${R_HOST[1]}/open/ctr:v1"
run_logged ctr-push "${CTR[@]}" images push --hosts-dir "$T/hosts" --user "$KEEP_CREDS" "${R_HOST[1]}/open/ctr:v1"
expect_eq "the manifest ctr pushed through replica 1, read through replica 2" "$pushed" \
  "$(on 2 /v2/open/ctr/manifests/v1 -I -H "Accept: $MT_DOCKER_MANIFEST" |
    tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}')"
ok

check "radosgw stopped in the middle of a push: clean errors, then the push works on retry"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/rgw.bin"
RGW="sha256:$(sha256_of "$T/rgw.bin")"
loc=$(start_upload 1 open/rgw)
on 2 "$loc" -X PATCH --limit-rate 4M --data-binary @"$T/rgw.bin" -H 'Content-Type: application/octet-stream' \
  -o "$T/rgw.json" -w '%{http_code}' >"$T/rgw.code" 2>/dev/null &
cut=$!
sleep 2
bash "$SCALE/ceph.sh" stop-rgw "$CEPH_DIR"
wait "$cut" || true
code=$(cat "$T/rgw.code")
[[ $code == 503 || $code == 000 ]] || fail "the push cut by the store's going got HTTP $code: $(head -c 300 "$T/rgw.json")"
[[ $code == 000 ]] || grep -q UNAVAILABLE "$T/rgw.json" || fail "no UNAVAILABLE in: $(cat "$T/rgw.json")"
for n in 1 2 3; do
  expect_eq "GET /readyz on replica $n without the store" 503 \
    "$(curl -sS --max-time 60 --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' "${R_URL[n]}/readyz")"
done
expect_eq "a push while the store is away" 503 "$(status_of 3 "/v2/open/rgw/blobs/uploads/?digest=$RGW" -X POST \
  --data-binary @"$T/rgw.bin" -H 'Content-Type: application/octet-stream')"
run_logged rgw-start bash "$SCALE/ceph.sh" start-rgw "$CEPH_DIR"
for n in 1 2 3; do
  for ((i = 0; i < 100; i++)); do
    code=$(curl -sS --max-time 60 --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' "${R_URL[n]}/readyz")
    [[ $code == 200 ]] && break
    sleep 0.3
  done
  expect_eq "GET /readyz on replica $n with the store back" 200 "$code"
done
expect_eq "the push again, through replica 3" 201 "$(status_of 3 "/v2/open/rgw/blobs/uploads/?digest=$RGW" -X POST \
  --data-binary @"$T/rgw.bin" -H 'Content-Type: application/octet-stream')"
on 1 "/v2/open/rgw/blobs/$RGW" -o "$T/back.bin"
expect_eq "sha256 read back through replica 1" "$RGW" "sha256:$(sha256_of "$T/back.bin")"
ok "the cut push: HTTP $(cat "$T/rgw.code")"

check "PostgreSQL stopped: every replica says it is not ready, and a push fails cleanly"
bash "$SCALE/postgres.sh" stop "$PG_DIR"
for n in 1 2 3; do
  expect_eq "GET /readyz on replica $n" 503 "$(curl -sS --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' "${R_URL[n]}/readyz")"
done
code=$(status_of 1 "/v2/open/down/blobs/uploads/?digest=$SHARED" -X POST --data-binary @"$T/shared.bin" \
  -H 'Content-Type: application/octet-stream' -o "$T/down.json")
expect_eq "a push while the database is away" 503 "$code"
ok "$(jq -r '.errors[0].code + ": " + .errors[0].message' "$T/down.json" | cut -c1-160)"

check "PostgreSQL back: the same replicas serve again, without a restart"
run_logged pg-restart bash "$SCALE/postgres.sh" restart "$PG_DIR"
for n in 1 2 3; do
  for ((i = 0; i < 50; i++)); do
    code=$(curl -sS --cacert "$KEEP_CA" -o /dev/null -w '%{http_code}' "${R_URL[n]}/readyz")
    [[ $code == 200 ]] && break
    sleep 0.2
  done
  expect_eq "GET /readyz on replica $n" 200 "$code"
done
expect_eq "the same push again" 201 "$(status_of 2 "/v2/open/down/blobs/uploads/?digest=$SHARED" -X POST \
  --data-binary @"$T/shared.bin" -H 'Content-Type: application/octet-stream')"
ok

log "PASS"
