# bench/mirror.sh: the mirror's part of bench/run.sh, which sources it with
# its servers running (KPORT, DPORT, T, CERT, KEY, PASS and its helpers).
# shellcheck shell=bash
# ---- the mirror: Keep syncing from an upstream, against Distribution's proxy ----
# The upstream is the Distribution above. Two fresh images go there (each a
# 1 MiB and a 64 MiB layer), one for each measure, so that neither server
# holds any of it before:
#   sync          Keep: `POST /admin/v1/mirrors/<rule>/sync` until done (fetch,
#                 digest-check, store, curator-sign). Distribution in proxy
#                 mode (proxy.remoteurl): a pull of the manifest and each blob
#                 through it, which fetches and stores them.
#   pull-through  the time to the first byte of a manifest GET of an image
#                 neither holds, and to the end of a whole pull (manifest,
#                 config, layers) started by it: Keep answers the manifest
#                 once it passed vetting and streams each layer while it
#                 arrives (then stores and signs the image); Distribution
#                 answers from the upstream's manifest and fetches blobs when
#                 they are asked for.
seed_image() {  # port, repo, tag: a config and two random layers (1 MiB, 64 MiB)
  local port=$1 repo=$2 tag=$3 base="https://127.0.0.1:$1/v2/$2" f loc
  mkdir -p "$T/$(dirname "$repo")"
  head -c 1048576 /dev/urandom > "$T/$repo-l1"; head -c 67108864 /dev/urandom > "$T/$repo-l2"
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":"%s"}' "$repo" > "$T/$repo-cfg"
  for f in cfg l1 l2; do
    loc=$(curl -sSk -X POST -D - -o /dev/null "$base/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
    case "$loc" in http*) ;; *) loc="https://127.0.0.1:$port$loc" ;; esac
    case "$loc" in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
    curl -sSfk -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$T/$repo-$f" "${loc}digest=$(dg "$T/$repo-$f")" -o /dev/null
  done
  jq -n --arg c "$(dg "$T/$repo-cfg")" --argjson cs "$(sz "$T/$repo-cfg")" \
    --arg a "$(dg "$T/$repo-l1")" --argjson asz "$(sz "$T/$repo-l1")" \
    --arg b "$(dg "$T/$repo-l2")" --argjson bsz "$(sz "$T/$repo-l2")" --arg mt "$MT" \
    '{schemaVersion: 2, mediaType: $mt,
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $a, size: $asz},
               {mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $b, size: $bsz}]}' \
    > "$T/$repo-manifest"
  curl -sSfk -X PUT -H "Content-Type: $MT" --data-binary "@$T/$repo-manifest" "$base/manifests/$tag" -o /dev/null
}
echo "seeding the upstream with two more images for the mirror..."
seed_image "$DPORT" mirror/synced v1
seed_image "$DPORT" mirror/pulled v1
IMAGE_MB=65

# Distribution as a pull-through proxy of the upstream (trusting its certificate).
PPORT=$(free_port)
cat > "$T/proxy.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/proxy}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PPORT, tls: {certificate: $CERT, key: $KEY}}
proxy: {remoteurl: "https://127.0.0.1:$DPORT"}
YAML
SSL_CERT_FILE=$CERT docker-registry serve "$T/proxy.yml" >"$T/proxy.out" 2>&1 &
PIDS+=($!)
wait_port "$PPORT"

# Keep's rules: one synced on demand, one pulling through.
KAUTH="Authorization: Basic $(printf 'admin:%s' "$PASS" | base64 -w0)"
kadmin() { curl -sSfk -H "$KAUTH" -H 'Content-Type: application/json' "$@"; }
kadmin -o /dev/null -X POST --data '{"name":"mirror"}' "https://127.0.0.1:$KPORT/admin/v1/namespaces"
for r in synced pulled; do
  pt=false; [ "$r" = pulled ] && pt=true
  kadmin -o /dev/null -X POST "https://127.0.0.1:$KPORT/admin/v1/mirrors" --data "$(jq -n \
    --arg up "https://127.0.0.1:$DPORT" --arg ca "$CERT" --arg r "$r" --argjson pt "$pt" \
    --arg host "127.0.0.1:$KPORT" \
    '{name: $r, upstream: $up, ca_file: $ca, repositories: ["mirror/" + $r], tags: ["v1"],
      target: "mirror", reference_host: $host, vetting: {trust_on_first_sync: true},
      pull_through: $pt}')"
done

start=$(now)
kadmin -o /dev/null -X POST "https://127.0.0.1:$KPORT/admin/v1/mirrors/synced/sync"
until kadmin "https://127.0.0.1:$KPORT/admin/v1/mirrors/synced/sync?after=1000000" | jq -e .done >/dev/null; do
  sleep 0.05
done
ksync=$(awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.3f", e - s}')
synced=$(kadmin "https://127.0.0.1:$KPORT/admin/v1/mirrors/synced" | jq -r '.tag_states[0].state')
[ "$synced" = synced ] || { echo "Keep's sync did not sync: $synced" >&2; exit 1; }

start=$(now)
curl -sSfk -H "$ACCEPT" -o /dev/null "https://127.0.0.1:$PPORT/v2/mirror/synced/manifests/v1"
for f in cfg l1 l2; do
  curl -sSfk -o /dev/null "https://127.0.0.1:$PPORT/v2/mirror/synced/blobs/$(dg "$T/mirror/synced-$f")"
done
dsync=$(awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.3f", e - s}')

start=$(now)
kttfb=$(curl -sSfk -H "$KAUTH" -H "$ACCEPT" -o /dev/null -w '%{time_starttransfer}' \
  "https://127.0.0.1:$KPORT/v2/mirror/mirror/pulled/manifests/v1")
for f in cfg l1 l2; do
  curl -sSfk -H "$KAUTH" -o /dev/null \
    "https://127.0.0.1:$KPORT/v2/mirror/mirror/pulled/blobs/$(dg "$T/mirror/pulled-$f")"
done
kpull=$(awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.3f", e - s}')
start=$(now)
dttfb=$(curl -sSfk -H "$ACCEPT" -o /dev/null -w '%{time_starttransfer}' \
  "https://127.0.0.1:$PPORT/v2/mirror/pulled/manifests/v1")
for f in cfg l1 l2; do
  curl -sSfk -o /dev/null "https://127.0.0.1:$PPORT/v2/mirror/pulled/blobs/$(dg "$T/mirror/pulled-$f")"
done
dpull=$(awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.3f", e - s}')

mbps() { awk -v s="$1" -v m="$IMAGE_MB" 'BEGIN {printf "%.0f", m / s}'; }
ms() { awk -v s="$1" 'BEGIN {printf "%.0f", s * 1000}'; }
printf '\n%-34s %14s %14s %8s\n' "mirror (65 MiB image, loopback)" "keep" "dist. proxy" "ratio"
printf '%-34s %10sMB/s %10sMB/s %8s\n' "sync throughput" "$(mbps "$ksync")" "$(mbps "$dsync")" \
  "$(ratio "$(mbps "$ksync")" "$(mbps "$dsync")")"
printf '%-34s %12sms %12sms %8s\n' "pull-through miss, first byte" "$(ms "$kttfb")" "$(ms "$dttfb")" \
  "$(ratio "$(ms "$dttfb")" "$(ms "$kttfb")")"
printf '%-34s %12sms %12sms %8s\n' "pull-through miss, whole pull" "$(ms "$kpull")" "$(ms "$dpull")" \
  "$(ratio "$(ms "$dpull")" "$(ms "$kpull")")"
echo "(Keep vets before its first byte and streams layers while it digest-checks and"
echo " stores them; Distribution's proxy answers from the upstream's manifest unchecked)"
