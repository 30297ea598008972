#!/usr/bin/env bash
# e2e_big_layer: skopeo pushes and pulls an image with a 1 GiB layer while
# keepd's memory is sampled; peak RSS must stay under 200 MiB, and the pulled
# layer must hash to its digest. Prints seconds, MB/s and peak RSS.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init big_layer "${1:-}"
need skopeo
keep_start

BIG_BYTES=${E2E_BIG_BYTES:-1073741824}
RSS_LIMIT_KB=$((200 * 1024))

# ---- the image: one 1 GiB uncompressed tar layer ----------------------------
check "make a $((BIG_BYTES >> 20)) MiB layer of random data"
t0=$(date +%s.%N)
mkdir -p "$T/big-src/keep-e2e"
# AES-CTR over zeros with a random key: incompressible and fast to make.
# (openssl dies of SIGPIPE when head has enough: the size is checked instead.)
{ openssl enc -aes-128-ctr -nosalt -pass "pass:$(openssl rand -hex 16)" -in /dev/zero 2>/dev/null || true; } |
  head -c "$BIG_BYTES" >"$T/big-src/keep-e2e/big.bin"
[[ $(size_of "$T/big-src/keep-e2e/big.bin") == "$BIG_BYTES" ]] || fail "could not make $BIG_BYTES random bytes with openssl"
layout_init "$T/src"
tar --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$T/big-src" -cf "$T/big.tar" keep-e2e
rm -rf "$T/big-src"
LAYER=$(layout_add_blob "$T/src" "$T/big.tar")
LAYER_SIZE=$(size_of "$(layout_blob "$T/src" "$LAYER")")
jq -n --arg d "$LAYER" '{architecture: "amd64", os: "linux", config: {},
  rootfs: {type: "layers", diff_ids: [$d]}}' >"$T/config.json"
CONFIG=$(layout_add_blob "$T/src" "$T/config.json")
jq -n --argjson c "$(descriptor "$MT_OCI_CONFIG" "$T/src" "$CONFIG")" \
  --argjson l "$(descriptor "$MT_OCI_LAYER" "$T/src" "$LAYER")" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: $c, layers: [$l]}' \
  >"$T/manifest.json"
MANIFEST=$(layout_add_blob "$T/src" "$T/manifest.json")
layout_tag "$T/src" "$MT_OCI_MANIFEST" "$MANIFEST" big
ok "layer $LAYER ($LAYER_SIZE bytes) made in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

# ---- memory sampling ----------------------------------------------------------
# status_kb FIELD: a VmXXX figure of keepd, in kB.
status_kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$KEEP_PID/status"; }
# cpu_ticks: user + system CPU time keepd has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$KEEP_PID/stat"; }
# sampler: writes the highest VmRSS seen so far to $T/rss.max, every 50 ms.
sampler() {
  local max=0 v
  while kill -0 "$KEEP_PID" 2>/dev/null && [[ ! -e $T/rss.stop ]]; do
    v=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$KEEP_PID/status" 2>/dev/null || echo 0)
    if ((v > max)); then
      max=$v
      echo "$max" >"$T/rss.max.tmp" && mv -f "$T/rss.max.tmp" "$T/rss.max"
    fi
    sleep 0.05
  done
}
# phase NAME CMD...: runs CMD while sampling keepd's RSS; prints the figures and
# fails when the peak passes the limit.
phase() {
  local name=$1
  shift
  rm -f "$T/rss.stop" "$T/rss.max"
  echo 0 >"$T/rss.max"
  sampler &
  local spid=$! t0 t1 c0 c1
  E2E_PIDS+=("$spid")
  c0=$(cpu_ticks)
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  c1=$(cpu_ticks)
  touch "$T/rss.stop"
  wait "$spid" 2>/dev/null || true
  local max hwm
  max=$(cat "$T/rss.max")
  hwm=$(status_kb VmHWM)
  awk -v n="$name" -v a="$t0" -v b="$t1" -v s="$LAYER_SIZE" -v m="$max" -v h="$hwm" \
    -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      printf "FIGURES %-8s %5.1f s %7.1f MB/s | keepd: CPU %5.1f s, VmRSS peak %5.1f MiB (sampled), VmHWM %5.1f MiB\n",
        n, b - a, s / 1e6 / (b - a), c / hz, m / 1024, h / 1024 }'
  ((max < RSS_LIMIT_KB)) || fail "$name: keepd's RSS reached $((max / 1024)) MiB (limit 200 MiB)"
  ((hwm < RSS_LIMIT_KB)) || fail "$name: keepd's VmHWM reached $((hwm / 1024)) MiB (limit 200 MiB)"
}

log "keepd before the push: VmRSS $(status_kb VmRSS) kB, VmHWM $(status_kb VmHWM) kB"

check "skopeo push of the $((BIG_BYTES >> 20)) MiB layer; keepd's peak RSS stays under 200 MiB"
# --preserve-digests: skopeo must not recompress the uncompressed layer.
phase push skopeo_to_keep "oci:$T/src:big" e2e/big:v1 --preserve-digests
fetch_manifest e2e/big v1 "$MT_OCI_MANIFEST" "$T/m.json"
expect_eq "manifest digest in Keep" "$MANIFEST" "$(header "$T/m.json.headers" Docker-Content-Digest)"
expect_eq "HEAD of the layer: status and Content-Length" "200 $LAYER_SIZE" \
  "$(kcurl -o /dev/null -w '%{http_code} %header{content-length}' -I "$KEEP_URL/v2/e2e/big/blobs/$LAYER")"
rm -f "$(layout_blob "$T/src" "$LAYER")" # room on disk: only its digest matters from here

check "skopeo pull of the $((BIG_BYTES >> 20)) MiB layer; keepd's peak RSS stays under 200 MiB"
phase pull skopeo_from_keep e2e/big:v1 "oci:$T/out:v1" --preserve-digests --dest-oci-accept-uncompressed-layers
expect_eq "manifest digest pulled" "$MANIFEST" "$(layout_manifest_digest "$T/out" v1)"
pulled=$(layout_blob "$T/out" "$LAYER")
expect_eq "size of the pulled layer" "$LAYER_SIZE" "$(size_of "$pulled")"
expect_eq "sha256 of the pulled layer" "$LAYER" "sha256:$(sha256_of "$pulled")"

check "a ranged GET returns exactly the bytes asked for"
kcurl -o "$T/range.bin" -D "$T/range.headers" -r 1048576-1049599 "$KEEP_URL/v2/e2e/big/blobs/$LAYER"
expect_eq "status of a Range request" 206 "$(head -n1 "$T/range.headers" | awk '{print $2}')"
cmp -s "$T/range.bin" <(tail -c +1048577 "$pulled" | head -c 1024) ||
  fail "the ranged GET returned other bytes than the layer has at 1048576-1049599"
ok "1024 bytes at offset 1 MiB match"
rm -f "$pulled"

check "plain GET of the layer with curl (raw blob throughput) hashes to its digest"
curl_get() { kcurl -o - "$KEEP_URL/v2/e2e/big/blobs/$LAYER" | sha256sum | cut -d' ' -f1 >"$T/curl.sha"; }
phase curl-get curl_get
expect_eq "sha256 of the body" "$LAYER" "sha256:$(cat "$T/curl.sha")"
