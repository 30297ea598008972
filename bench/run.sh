#!/usr/bin/env bash
# Benchmarks keepd against CNCF Distribution (Debian's docker-registry) on
# this machine, in the same run, over the same TLS certificate, and prints
# the figures side by side with their ratio.
#
#   bench/run.sh KEEPD [seconds-per-run]      (./keep.sh bench builds and calls it)
#
# Each server gets the same content: one image (1 MiB layer, 64 MiB layer) and
# 10,000 tags on its manifest. wrk then measures, for each server:
#   manifest  GET /v2/bench/app/manifests/latest   64 connections
#   tags      GET /v2/bench/app/tags/list (10,000)  64 connections
#   catalog   GET /v2/_catalog?n=1000 of 10,000 more repositories, 16 connections
#   blob      GET of the 64 MiB layer               4 connections, then 1
#             (over TLS, then in plain HTTP against a second keepd with
#             tls.enabled false, a Distribution without TLS, nginx with sendfile)
# and Keep's manifest GETs with a bearer token beside nginx serving the
# manifest as a small file; the manifest and blob GETs again with the image
# signed and the namespace in quarantine mode (keepctl signs: KEEPCTL, or
# the one built beside keepd); peak RSS during 8 pulls at once, memory per
# idle TLS connection (bench/idle.py); the figures also go to a JSON file
# (BENCH_JSON, default ./bench-results.json).
# then pushes a 256 MiB blob to each in one request and in 8 MiB chunks,
# beside the disk's fdatasync'd write speed (dd) as the bound,
# and nginx serves the same 64 MiB file as a static file over the same TLS,
# as the ceiling for blob GETs; whole-image pulls as a client makes them
# (the manifest, then the config and layers at once), nginx serving the same
# files as the ceiling. BENCH_TAGS=N seeds N tags instead of 10,000,
# BENCH_REPOS=N N more repositories;
# BENCH_MIRROR=0 leaves out the mirror's figures.
# Keep is measured as a user with the reader role in namespace "bench", with
# Basic auth on every request (its credential cache and the role check at
# work); Distribution without any auth, so the comparison leans its way.
# Request logs are off on both. Peak RSS (VmHWM) is read from /proc.
set -euo pipefail
KEEPD=$(readlink -f "${1:?usage: bench/run.sh KEEPD [seconds]}")
SECS=${2:-10}
TAGS=${BENCH_TAGS:-10000}
REPOS=${BENCH_REPOS:-10000}
T=$(mktemp -d /tmp/keep-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

BENCH_DIR=$(dirname "$(readlink -f "$0")")
# free_port: below the kernel's ephemeral range, where no outgoing
# connection (a curl, wrk) can take the port first.
# shellcheck source=tests/e2e/free_port.sh
source "$BENCH_DIR/../tests/e2e/free_port.sh"
wait_port() { for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$1/v2/" && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }

KPORT=$(free_port); DPORT=$(free_port)
PASS=bench-password-$RANDOM$RANDOM
ROOT_FLAG=(); [ "$(id -u)" = 0 ] && ROOT_FLAG=(--allow-root)

# Every client here is one address and one user asking as fast as it can:
# the request rate limits are raised out of the way, not turned off, so
# that their cost stays in the figures.
cat > "$T/keep.json" <<JSON
{"listen":"127.0.0.1:$KPORT","data_dir":"$T/keep","log":{"requests":false},
 "limits":{"address_requests_per_second":10000000,"user_requests_per_second":10000000,
           "request_burst":100000000}}
JSON
KEEP_ADMIN_PASSWORD=$PASS "$KEEPD" --config "$T/keep.json" "${ROOT_FLAG[@]}" >"$T/keep.out" 2>"$T/keep.err" &
PIDS+=($!); KPID=$!
wait_port "$KPORT"
CERT=$T/keep/tls/server.crt KEY=$T/keep/tls/server.key

cat > "$T/dist.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/dist}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$DPORT, tls: {certificate: $CERT, key: $KEY}}
YAML
docker-registry serve "$T/dist.yml" >"$T/dist.out" 2>&1 &
PIDS+=($!); DPID=$!
wait_port "$DPORT"

AUTH="Authorization: Basic $(printf 'admin:%s' "$PASS" | base64 -w0)"
ADMIN_AUTH=$AUTH
MT=application/vnd.oci.image.manifest.v1+json

# Content: a config, a 1 MiB and a 64 MiB layer, and the manifest naming them.
head -c 1048576 /dev/urandom > "$T/l1"
head -c 67108864 /dev/urandom > "$T/l2"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$T/cfg"
dg() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
sz() { stat -c %s "$1"; }
cat > "$T/manifest" <<JSON
{
   "schemaVersion": 2,
   "mediaType": "$MT",
   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "$(dg "$T/cfg")", "size": $(sz "$T/cfg")},
   "layers": [
      {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "$(dg "$T/l1")", "size": $(sz "$T/l1")},
      {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "$(dg "$T/l2")", "size": $(sz "$T/l2")}
   ]
}
JSON

seed() {  # port, extra curl args...
  local port=$1; shift
  local base="https://127.0.0.1:$port/v2/bench/app"
  for f in cfg l1 l2; do
    # Distribution wants POST then PUT; Keep takes both forms.
    local loc
    loc=$(curl -sSk "$@" -X POST -D - -o /dev/null "$base/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
    case "$loc" in http*) ;; *) loc="https://127.0.0.1:$port$loc" ;; esac
    case "$loc" in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
    curl -sSfk "$@" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$T/$f" "${loc}digest=$(dg "$T/$f")" -o /dev/null
  done
  {
    echo 'request = "PUT"'
    echo "header = \"Content-Type: $MT\""
    for a in "$@"; do echo "$a"; done | sed -n 's/^Authorization: \(.*\)$/header = "Authorization: \1"/p'
    echo "url = \"$base/manifests/latest\""; echo "upload-file = \"$T/manifest\""; echo 'output = "/dev/null"'
    for i in $(seq -f '%05g' 1 "$TAGS"); do
      echo "url = \"$base/manifests/t$i\""; echo "upload-file = \"$T/manifest\""; echo 'output = "/dev/null"'
    done
  } > "$T/seed.curl"
  curl -sSfk --no-progress-meter --parallel --parallel-max 16 -K "$T/seed.curl"
  local n
  n=$(curl -sSfk "$@" "$base/tags/list" | jq '.tags | length')
  [ "$n" = $((TAGS + 1)) ] || { echo "seeding port $port: $n tags, want $((TAGS + 1))" >&2; exit 1; }
}
echo "seeding both registries with 2 layers (1 MiB, 64 MiB) and $TAGS tags..."
seed "$KPORT" -H "$AUTH"
seed "$DPORT"
# Keep's readers: a user with the reader role in namespace "bench".
admin() { curl -sSfk -H "$AUTH" -H 'Content-Type: application/json' -o /dev/null "$@"; }
admin -X POST --data '{"name":"bench"}' "https://127.0.0.1:$KPORT/admin/v1/namespaces"
# Unsigned content, as Distribution serves it: the namespace's policy is open.
admin -X PUT --data '{"mode":"open"}' "https://127.0.0.1:$KPORT/admin/v1/namespaces/bench/policy"
admin -X POST --data "{\"name\":\"reader\",\"password\":\"$PASS\"}" "https://127.0.0.1:$KPORT/admin/v1/users"
admin -X PUT --data '{"role":"reader"}' "https://127.0.0.1:$KPORT/admin/v1/namespaces/bench/members/reader"
AUTH="Authorization: Basic $(printf 'reader:%s' "$PASS" | base64 -w0)"

# wrk: prints "requests/s p99-ms MB/s"
measure() {  # url, connections, extra wrk args...
  local url=$1 c=$2; shift 2
  wrk -t"$(( c < 2 ? c : 2 ))" -c"$c" -d"${SECS}s" --latency "$@" "$url" > "$T/wrk.out" 2>&1 || { cat "$T/wrk.out" >&2; exit 1; }
  if grep -q 'Non-2xx' "$T/wrk.out"; then echo "non-2xx answers from $url:" >&2; cat "$T/wrk.out" >&2; exit 1; fi
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {p=$2; if (p ~ /us$/) {sub(/us/,"",p); p=p/1000} else if (p ~ /ms$/) {sub(/ms/,"",p)} else if (p ~ /s$/) {sub(/s/,"",p); p=p*1000}; p99=p}
    /Transfer\/sec/ {t=$2; if (t ~ /GB$/) {sub(/GB/,"",t); t=t*1024} else if (t ~ /MB$/) {sub(/MB/,"",t)} else if (t ~ /KB$/) {sub(/KB/,"",t); t=t/1024}; mbs=t}
    END {printf "%.0f %.1f %.0f\n", rps, p99, mbs}' "$T/wrk.out"
}
hwm() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
# CPU time (user+system, in clock ticks) a process and its children (nginx's
# workers) have used so far.
cpu_ticks() {
  local p t=0
  for p in "$1" $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
TICKS=$(getconf CLK_TCK)
now() { date +%s.%N; }

# nginx, the ceiling: the same 64 MiB file as a static file, over TLS with
# the same certificate and the same suite preference as Keep (AES-128-GCM
# first), two workers for the two cores.
NPORT=$(free_port)
NPPORT=$(free_port)  # nginx in plain HTTP, with sendfile
mkdir -p "$T/nginx/www" "$T/nginx/logs"
ln "$T/l2" "$T/nginx/www/blob"
cp "$T/manifest" "$T/nginx/www/manifest"
chmod 0711 "$T"; chmod -R a+rX "$T/nginx/www"; chmod a+r "$T/l2"
NGINX_USER=""; [ "$(id -u)" = 0 ] && NGINX_USER="user nobody nogroup;"
cat > "$T/nginx/nginx.conf" <<CONF
$NGINX_USER
worker_processes 2;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;
    root $T/nginx/www;
    location / { }
  }
  server {
    listen 127.0.0.1:$NPPORT;
    sendfile on;
    root $T/nginx/www;
    location / { }
  }
}
CONF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;' >"$T/nginx/out" 2>&1 &
PIDS+=($!); NPID=$!
for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$NPORT/blob" && break; sleep 0.1; done

ACCEPT="Accept: $MT"
declare -A K D N
# Each result: "requests/s p99-ms MB/s server-cpu-seconds"
run_one() {  # pid, url, connections, wrk args...
  local pid=$1 before after; shift
  before=$(cpu_ticks "$pid")
  local m; m=$(measure "$@")
  after=$(cpu_ticks "$pid")
  echo "$m $(awk -v a="$after" -v b="$before" -v t="$TICKS" 'BEGIN {printf "%.2f", (a - b) / t}')"
}
run_pair() {  # name, path, connections
  K[$1]=$(run_one "$KPID" "https://127.0.0.1:$KPORT$2" "$3" -H "$AUTH" -H "$ACCEPT")
  D[$1]=$(run_one "$DPID" "https://127.0.0.1:$DPORT$2" "$3" -H "$ACCEPT")
}
L2=$(dg "$T/l2")
echo "measuring, ${SECS}s per run..."
run_pair manifest /v2/bench/app/manifests/latest 64
# The same with a reader's token on every request (what docker and podman
# send once they logged in), and nginx serving the manifest's bytes as a
# small static file: the ceiling.
TOKEN=$(curl -sSfk -u "reader:$PASS" "https://127.0.0.1:$KPORT/token?service=keep&scope=repository:bench/app:pull" | jq -r .token)
K[token]=$(run_one "$KPID" "https://127.0.0.1:$KPORT/v2/bench/app/manifests/latest" 64 \
  -H "Authorization: Bearer $TOKEN" -H "$ACCEPT")
N[small]=$(run_one "$NPID" "https://127.0.0.1:$NPORT/manifest" 64)
run_pair tags /v2/bench/app/tags/list 64
run_pair blob "/v2/bench/app/blobs/$L2" 4
N[blob]=$(run_one "$NPID" "https://127.0.0.1:$NPORT/blob" 4)
run_pair blob1 "/v2/bench/app/blobs/$L2" 1
N[blob1]=$(run_one "$NPID" "https://127.0.0.1:$NPORT/blob" 1)

# The catalog: REPOS more repositories (bench/c00001...), each a manifest of
# the config and the 1 MiB layer, mounted from bench/app; its first page of
# 1,000 names (Distribution's largest page).
seed_repos() {  # port, curl args (the admin's for Keep)...
  local port=$1; shift
  local base="https://127.0.0.1:$port/v2/bench" i
  printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
    "$MT" "$(dg "$T/cfg")" "$(sz "$T/cfg")" "$(dg "$T/l1")" "$(sz "$T/l1")" > "$T/small-manifest"
  {
    echo 'request = "POST"'
    for a in "$@"; do echo "$a"; done | sed -n 's/^Authorization: \(.*\)$/header = "Authorization: \1"/p'
    for i in $(seq -f '%05g' 1 "$REPOS"); do
      for d in "$(dg "$T/cfg")" "$(dg "$T/l1")"; do
        echo "url = \"$base/c$i/blobs/uploads/?mount=$d&from=bench/app\""; echo 'output = "/dev/null"'
      done
    done
  } > "$T/mounts.curl"
  curl -sSfk --no-progress-meter --parallel --parallel-max 16 -K "$T/mounts.curl"
  {
    echo 'request = "PUT"'
    echo "header = \"Content-Type: $MT\""
    for a in "$@"; do echo "$a"; done | sed -n 's/^Authorization: \(.*\)$/header = "Authorization: \1"/p'
    for i in $(seq -f '%05g' 1 "$REPOS"); do
      echo "url = \"$base/c$i/manifests/v1\""; echo "upload-file = \"$T/small-manifest\""; echo 'output = "/dev/null"'
    done
  } > "$T/repos.curl"
  curl -sSfk --no-progress-meter --parallel --parallel-max 16 -K "$T/repos.curl"
}
echo "seeding both registries with $REPOS more repositories..."
seed_repos "$KPORT" -H "$ADMIN_AUTH"
seed_repos "$DPORT"
for port in "$KPORT" "$DPORT"; do
  n=$(curl -sSfk -H "$AUTH" "https://127.0.0.1:$port/v2/_catalog?n=1000" | jq '.repositories | length')
  [ "$n" = 1000 ] || { echo "the catalog on port $port lists $n repositories in its first page, want 1000" >&2; exit 1; }
done
run_pair catalog "/v2/_catalog?n=1000" 16

# Whole-image pulls as a client makes them: the manifest, then its config
# and both layers at once (curl --parallel, a connection each), by 4 clients
# for SECS seconds. Each result: "images/s null MB/s server-cpu-seconds".
# nginx serves the same bytes as files under the same paths.
mkdir -p "$T/nginx/www/v2/bench/app/manifests" "$T/nginx/www/v2/bench/app/blobs"
cp "$T/manifest" "$T/nginx/www/v2/bench/app/manifests/latest"
for f in cfg l1 l2; do ln "$T/$f" "$T/nginx/www/v2/bench/app/blobs/$(dg "$T/$f")"; done
chmod -R a+rX "$T/nginx/www"; chmod a+r "$T/cfg" "$T/l1"
IMAGE_BYTES=$(( $(sz "$T/manifest") + $(sz "$T/cfg") + $(sz "$T/l1") + $(sz "$T/l2") ))
image_pulls() {  # pid, base URL of the repository, curl args...
  local pid=$1 base=$2; shift 2
  local d i start end before after clients=() total=0
  for d in "$(dg "$T/cfg")" "$(dg "$T/l1")" "$L2"; do
    echo "url = \"$base/blobs/$d\""; echo 'output = "/dev/null"'
  done > "$T/pull.curl"
  before=$(cpu_ticks "$pid"); start=$(now)
  end=$(awk -v s="$start" -v d="$SECS" 'BEGIN {printf "%d", s + d}')
  for i in 1 2 3 4; do
    (
      n=0
      while [ "$(date +%s)" -lt "$end" ]; do
        curl -sSfk "$@" -H "$ACCEPT" -o /dev/null "$base/manifests/latest" || exit 1
        curl -sSfk --no-progress-meter "$@" --parallel -K "$T/pull.curl" || exit 1
        n=$((n + 1))
      done
      echo "$n" > "$T/pulls.$i"
    ) &
    clients+=($!)
  done
  for i in "${clients[@]}"; do wait "$i" || { echo "a whole-image pull from $base failed" >&2; exit 1; }; done
  after=$(cpu_ticks "$pid")
  for i in 1 2 3 4; do total=$((total + $(cat "$T/pulls.$i"))); done
  awk -v n="$total" -v s="$start" -v e="$(now)" -v b="$IMAGE_BYTES" -v c0="$before" -v c1="$after" -v t="$TICKS" \
    'BEGIN {printf "%.1f null %.0f %.2f\n", n / (e - s), n * b / 1048576 / (e - s), (c1 - c0) / t}'
}
K[pull]=$(image_pulls "$KPID" "https://127.0.0.1:$KPORT/v2/bench/app" -H "$AUTH")
D[pull]=$(image_pulls "$DPID" "https://127.0.0.1:$DPORT/v2/bench/app")
N[pull]=$(image_pulls "$NPID" "https://127.0.0.1:$NPORT/v2/bench/app")

# Trust on the hot path: the image signed with a key the namespace trusts,
# the namespace in quarantine mode, and the reader's manifest and blob GETs
# measured again. keepctl (next to keepd's build, or KEEPCTL) signs.
KEEPCTL=${KEEPCTL:-$(dirname "$KEEPD")/cli/keepctl}
if [ -x "$KEEPCTL" ]; then
  export KEEPCTL_CONFIG="$T/keepctl.json"
  printf '%s' "$PASS" | "$KEEPCTL" login "https://127.0.0.1:$KPORT" --user admin --password-stdin \
    --ca "$CERT" >/dev/null
  "$KEEPCTL" key generate --out "$T/bench-key" >/dev/null
  "$KEEPCTL" key add bench --name bench --file "$T/bench-key.pub" >/dev/null
  "$KEEPCTL" sign bench/app:latest --key "$T/bench-key.key" >/dev/null
  AUTH=$ADMIN_AUTH admin -X PUT --data '{"mode":"quarantine"}' "https://127.0.0.1:$KPORT/admin/v1/namespaces/bench/policy"
  K[qmanifest]=$(run_one "$KPID" "https://127.0.0.1:$KPORT/v2/bench/app/manifests/latest" 64 -H "$AUTH" -H "$ACCEPT")
  K[qblob]=$(run_one "$KPID" "https://127.0.0.1:$KPORT/v2/bench/app/blobs/$L2" 4 -H "$AUTH")
  AUTH=$ADMIN_AUTH admin -X PUT --data '{"mode":"open"}' "https://127.0.0.1:$KPORT/admin/v1/namespaces/bench/policy"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
printf '\n%-34s %14s %14s %8s\n' "benchmark (TLS, loopback, 2 cores)" "keep" "distribution" "ratio"
declare -A LABEL=([manifest]="manifest GETs" [tags]="tags/list GETs ($TAGS)"
                 [catalog]="_catalog?n=1000 ($REPOS repos)")
for name in manifest tags catalog; do
  read -r kr kp _ _ <<< "${K[$name]}"; read -r dr dp _ _ <<< "${D[$name]}"
  printf '%-34s %12s/s %12s/s %8s\n' "${LABEL[$name]}" "$kr" "$dr" "$(ratio "$kr" "$dr")"
  printf '%-34s %11sms %11sms %8s\n' "  p99 latency" "$kp" "$dp" "$(ratio "$dp" "$kp")"
  if [ "$name" = manifest ]; then
    read -r tr tp _ _ <<< "${K[token]}"; read -r nr np _ _ <<< "${N[small]}"
    printf '%-34s %12s/s %14s %8s   nginx small file %s/s (p99 %sms), keep/nginx %s\n' \
      "manifest GETs, Bearer token" "$tr" "-" "-" "$nr" "$np" "$(ratio "$tr" "$nr")"
    printf '%-34s %11sms\n' "manifest p99, Bearer token" "$tp"
  fi
done
# Both servers share the cores with wrk, which decrypts as much as they
# encrypt; what each server spends per byte shows past that shared ceiling.
per_cpu() { awk -v m="$1" -v c="$2" -v s="$SECS" 'BEGIN {printf "%.0f", (c > 0 ? m * s / c : 0)}'; }
# blob_rows KEY LABEL: the throughput and CPU-per-byte rows of a blob measure.
blob_rows() {
  local km kc dm dc nm nc kpc dpc npc
  read -r _ _ km kc <<< "${K[$1]}"; read -r _ _ dm dc <<< "${D[$1]}"; read -r _ _ nm nc <<< "${N[$1]}"
  printf '%-34s %10sMB/s %10sMB/s %8s   nginx %sMB/s, keep/nginx %s\n' "$2" \
    "$km" "$dm" "$(ratio "$km" "$dm")" "$nm" "$(ratio "$km" "$nm")"
  kpc=$(per_cpu "$km" "$kc"); dpc=$(per_cpu "$dm" "$dc"); npc=$(per_cpu "$nm" "$nc")
  printf '%-34s %8sMB/cpu-s %8sMB/cpu-s %8s   nginx %sMB/cpu-s\n' "  MB served per server CPU-s" \
    "$kpc" "$dpc" "$(ratio "$kpc" "$dpc")" "$npc"
}
blob_rows blob "64 MiB blob GET, 4 conn."
blob_rows blob1 "64 MiB blob GET, 1 conn."
read -r ki _ km kc <<< "${K[pull]}"; read -r di _ dm dc <<< "${D[pull]}"; read -r ni _ nm nc <<< "${N[pull]}"
printf '%-34s %12s/s %12s/s %8s   nginx %s/s, keep/nginx %s\n' "whole-image pulls, 4 clients" \
  "$ki" "$di" "$(ratio "$ki" "$di")" "$ni" "$(ratio "$ki" "$ni")"
printf '%-34s %10sMB/s %10sMB/s %8s   nginx %sMB/s\n' "  image bytes" "$km" "$dm" "$(ratio "$km" "$dm")" "$nm"

# ---- blob GETs in plain HTTP: a replica behind a load balancer that
# terminates TLS (tls.enabled false). A second keepd with its own data
# holds the 64 MiB layer; a second Distribution serves the first one's
# storage without TLS; nginx serves the file with sendfile on.
PKPORT=$(free_port); PDPORT=$(free_port)
cat > "$T/keep-plain.json" <<JSON
{"listen":"127.0.0.1:$PKPORT","data_dir":"$T/keep-plain","log":{"requests":false},
 "tls":{"enabled":false},
 "limits":{"address_requests_per_second":10000000,"user_requests_per_second":10000000,
           "request_burst":100000000}}
JSON
KEEP_ADMIN_PASSWORD=$PASS "$KEEPD" --config "$T/keep-plain.json" "${ROOT_FLAG[@]}" >"$T/keep-plain.out" 2>"$T/keep-plain.err" &
PIDS+=($!); PKPID=$!
cat > "$T/dist-plain.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/dist}}
http: {addr: 127.0.0.1:$PDPORT}
YAML
docker-registry serve "$T/dist-plain.yml" >"$T/dist-plain.out" 2>&1 &
PIDS+=($!); PDPID=$!
for port in "$PKPORT" "$PDPORT"; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
done
padmin() { curl -sSf -H "$ADMIN_AUTH" -H 'Content-Type: application/json' -o /dev/null "$@"; }
padmin -X POST --data '{"name":"bench"}' "http://127.0.0.1:$PKPORT/admin/v1/namespaces"
padmin -X PUT --data '{"mode":"open"}' "http://127.0.0.1:$PKPORT/admin/v1/namespaces/bench/policy"
padmin -X POST --data "{\"name\":\"reader\",\"password\":\"$PASS\"}" "http://127.0.0.1:$PKPORT/admin/v1/users"
padmin -X PUT --data '{"role":"reader"}' "http://127.0.0.1:$PKPORT/admin/v1/namespaces/bench/members/reader"
padmin -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$T/l2" \
  "http://127.0.0.1:$PKPORT/v2/bench/app/blobs/uploads/?digest=$L2"
for conns in 4 1; do
  K[plain$conns]=$(run_one "$PKPID" "http://127.0.0.1:$PKPORT/v2/bench/app/blobs/$L2" "$conns" -H "$AUTH")
  D[plain$conns]=$(run_one "$PDPID" "http://127.0.0.1:$PDPORT/v2/bench/app/blobs/$L2" "$conns")
  N[plain$conns]=$(run_one "$NPID" "http://127.0.0.1:$NPPORT/blob" "$conns")
done
for conns in 4 1; do blob_rows "plain$conns" "64 MiB blob GET, plain, $conns conn."; done
kill "$PKPID" "$PDPID" 2>/dev/null || true

if [ -n "${K[qmanifest]:-}" ]; then
  read -r qr qp _ _ <<< "${K[qmanifest]}"; read -r kr kp _ _ <<< "${K[manifest]}"
  printf '%-34s %12s/s %14s %8s   p99 %sms; open namespace %s/s (p99 %sms)\n' \
    "manifest GETs, signed, quarantine" "$qr" "-" "$(ratio "$qr" "$kr")" "$qp" "$kr" "$kp"
  read -r _ _ qm _ <<< "${K[qblob]}"; read -r _ _ km _ <<< "${K[blob]}"
  printf '%-34s %10sMB/s %14s %8s   open namespace %sMB/s\n' \
    "64 MiB blob GET, signed, quarantine" "$qm" "-" "$(ratio "$qm" "$km")" "$km"
fi
kh=$(hwm "$KPID"); dh=$(hwm "$DPID")
printf '%-34s %11sMiB %11sMiB %8s\n' "peak RSS (VmHWM)" "$kh" "$dh" "$(ratio "$dh" "$kh")"
# Peak RSS while 8 clients pull the 64 MiB layer at once (the peak is reset
# first: /proc/PID/clear_refs), and the peak of its private part (RssAnon,
# read every 20 ms meanwhile): RSS also counts the pages of the shared
# libraries a process maps (OpenSSL, SQLite, libstdc++... about 17 MiB of
# keepd's RSS at rest), which every process using them shares. Then what
# 2,000 idle TLS connections cost and what is still held 7 s after they
# closed (bench/idle.py).
peak_during_pulls() {  # pid url [curl args]: "peak-RSS-MiB peak-private-MiB"
  local pid=$1 url=$2 i anon=0 a pulls=(); shift 2
  echo 5 > "/proc/$pid/clear_refs"
  for i in 1 2 3 4 5 6 7 8; do curl -sSfk "$@" -o /dev/null "$url" & pulls+=($!); done
  running() { local p; for p in "${pulls[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
  while running; do
    a=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status")
    [ "$a" -gt "$anon" ] && anon=$a
    sleep 0.02
  done
  wait
  echo "$(hwm "$pid") $(awk -v a="$anon" 'BEGIN {printf "%.0f", a / 1024}')"
}
read -r kp8 ka8 <<< "$(peak_during_pulls "$KPID" "https://127.0.0.1:$KPORT/v2/bench/app/blobs/$L2" -H "$AUTH")"
read -r dp8 da8 <<< "$(peak_during_pulls "$DPID" "https://127.0.0.1:$DPORT/v2/bench/app/blobs/$L2")"
printf '%-34s %11sMiB %11sMiB %8s\n' "peak RSS, 8 pulls at once" "$kp8" "$dp8" "$(ratio "$dp8" "$kp8")"
printf '%-34s %11sMiB %11sMiB %8s\n' "  of it private (RssAnon)" "$ka8" "$da8" "$(ratio "$da8" "$ka8")"
read -r kidle kkept <<< "$(python3 "$BENCH_DIR/idle.py" "$KPID" "$KPORT" 2000 "$AUTH")"
read -r didle dkept <<< "$(python3 "$BENCH_DIR/idle.py" "$DPID" "$DPORT" 2000)"
printf '%-34s %10sKiB %10sKiB %8s\n' "memory per idle TLS connection" "$kidle" "$didle" "$(ratio "$didle" "$kidle")"
printf '%-34s %10sKiB %10sKiB\n' "  still held 7 s after 2,000 closed" "$kkept" "$dkept"
echo "(latency and RSS ratios are distribution/keep: above 1x means Keep is better)"

# ---- pushes: a 256 MiB blob in one request, and in 8 MiB chunks -------------
# Each server gets fresh random bytes for each measure (nothing to find
# stored already). "One request" is POST for a session, then one PUT of the
# whole body with ?digest=; "chunked" is POST, PATCHes of 8 MiB with
# Content-Range, then an empty PUT with ?digest=. Each request is a curl of
# its own (a new process and TLS connection: about half the chunked time,
# for both servers alike). Keep makes each blob durable (fsync) before it
# answers; Distribution does not. The disk's own speed is dd's, writing as
# much with fdatasync into the same filesystem, through the page cache and
# around it (O_DIRECT, as keepd writes large bodies; "-" where the file
# system refuses it). Each figure is the median of three.
PUSH_MB=256
dd_mbs() {  # dd's MB/s writing PUSH_MB into the filesystem, with extra dd args
  dd if=/dev/zero of="$T/dd.test" bs=1M count="$PUSH_MB" conv=fdatasync "$@" 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1); printf "%.0f", $1 / s / 1e6}'
  rm -f "$T/dd.test"
}
median3() { "$@"; echo; "$@"; echo; "$@"; echo; }
json_num() { case $1 in '' | -) echo null ;; *) echo "$1" ;; esac; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "-")}'; }
disk=$(median3 dd_mbs | median)
disk_direct=$(median3 dd_mbs oflag=direct | grep . | median)
# upload_location PORT RESPONSE-HEADERS: the absolute URL of the Location header.
location() {
  local l; l=$(awk 'tolower($1) == "location:" {sub(/\r$/, "", $2); print $2}' "$2" | tail -1)
  case $l in http*) echo "$l" ;; *) echo "https://127.0.0.1:$1$l" ;; esac
}
with_digest() { case $1 in *\?*) echo "$1&digest=$2" ;; *) echo "$1?digest=$2" ;; esac; }
push() {  # PORT MODE(one|chunked) FILE [curl args...]: prints seconds
  local port=$1 mode=$2 file=$3; shift 3
  local d; d="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  local start; start=$(now)
  curl -sSfk "$@" -X POST -D "$T/h" -o /dev/null "https://127.0.0.1:$port/v2/bench/push/blobs/uploads/"
  local url; url=$(location "$port" "$T/h")
  if [ "$mode" = one ]; then
    curl -sSfk "$@" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$file" \
      -o /dev/null "$(with_digest "$url" "$d")"
  else
    local off=0 part
    for part in "$T"/chunk.*; do
      local n; n=$(stat -c %s "$part")
      curl -sSfk "$@" -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: $off-$((off + n - 1))" --data-binary @"$part" -D "$T/h" -o /dev/null "$url"
      url=$(location "$port" "$T/h")
      off=$((off + n))
    done
    curl -sSfk "$@" -X PUT -o /dev/null "$(with_digest "$url" "$d")"
  fi
  awk -v s="$start" -v e="$(now)" 'BEGIN {printf "%.3f", e - s}'
}
push_mbs() {  # PORT MODE [curl args...]: MB/s of a push of fresh bytes
  local port=$1 mode=$2; shift 2
  head -c $((PUSH_MB << 20)) /dev/urandom > "$T/push.bin"
  rm -f "$T"/chunk.*; split -b 8M -d -a 3 "$T/push.bin" "$T/chunk."
  sync  # each push starts with no one else's writes still going to the disk
  local secs; secs=$(push "$port" "$mode" "$T/push.bin" "$@")
  awk -v s="$secs" -v m="$PUSH_MB" 'BEGIN {printf "%.0f", m * 1.048576 / s}'
}
echo
echo "pushing 256 MiB blobs..."
kone=$(median3 push_mbs "$KPORT" one -H "$ADMIN_AUTH" | median)
done_one=$(median3 push_mbs "$DPORT" one | median)
kchunk=$(median3 push_mbs "$KPORT" chunked -H "$ADMIN_AUTH" | median)
dchunk=$(median3 push_mbs "$DPORT" chunked | median)
rm -f "$T/push.bin" "$T"/chunk.*
printf '%-34s %10sMB/s %10sMB/s %8s   keep/disk %s (O_DIRECT %s)\n' "256 MiB push, one request" \
  "$kone" "$done_one" "$(ratio "$kone" "$done_one")" "$(ratio "$kone" "$disk")" \
  "$(ratio "$kone" "$disk_direct")"
printf '%-34s %10sMB/s %10sMB/s %8s   keep/disk %s (O_DIRECT %s)\n' "256 MiB push, 8 MiB chunks" \
  "$kchunk" "$dchunk" "$(ratio "$kchunk" "$dchunk")" "$(ratio "$kchunk" "$disk")" \
  "$(ratio "$kchunk" "$disk_direct")"
printf '%-34s %10sMB/s\n' "the disk (dd, fdatasync)" "$disk"
printf '%-34s %10sMB/s\n' "the disk (dd, O_DIRECT, fdatasync)" "$disk_direct"

# The figures above as JSON (BENCH_JSON, default bench-results.json here):
# per server and measure, requests/s, p99 ms, MB/s and server CPU seconds.
entries() {  # the name of an associative array
  local -n a=$1
  local k sep=""
  for k in "${!a[@]}"; do
    read -r r p m c <<< "${a[$k]}"
    printf '%s"%s":{"requests_per_s":%s,"p99_ms":%s,"mb_per_s":%s,"server_cpu_s":%s}' \
      "$sep" "$k" "$r" "$p" "$m" "$c"
    sep=","
  done
}
{
  printf '{"seconds_per_run":%s,"keep":{%s},"distribution":{%s},"nginx":{%s},' \
    "$SECS" "$(entries K)" "$(entries D)" "$(entries N)"
  printf '"memory":{"keep_peak_mib":%s,"distribution_peak_mib":%s,"keep_peak_8_pulls_mib":%s,' \
    "$kh" "$dh" "$kp8" 
  printf '"distribution_peak_8_pulls_mib":%s,"keep_private_8_pulls_mib":%s,' "$dp8" "$ka8"
  printf '"distribution_private_8_pulls_mib":%s,"keep_idle_tls_kib":%s,"distribution_idle_tls_kib":%s,' \
    "$da8" "$kidle" "$didle"
  printf '"keep_kept_after_burst_kib":%s,"distribution_kept_after_burst_kib":%s},' "$kkept" "$dkept"
  printf '"push_mb_per_s":{"keep_one_request":%s,"distribution_one_request":%s,' "$kone" "$done_one"
  printf '"keep_chunked":%s,"distribution_chunked":%s,"disk_fdatasync":%s,"disk_direct":%s}}\n' \
    "$kchunk" "$dchunk" "$disk" "$(json_num "$disk_direct")"
} | jq . > "${BENCH_JSON:-bench-results.json}"
echo "(figures as JSON in ${BENCH_JSON:-bench-results.json})"

[ "${BENCH_MIRROR:-1}" = 0 ] && exit 0  # BENCH_MIRROR=0: the serving figures only

# The mirror's figures: bench/mirror.sh, in this shell (it uses the servers above).
source "$BENCH_DIR/mirror.sh"
