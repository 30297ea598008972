#!/usr/bin/env bash
# Blob storage in an S3 bucket against blobs in files: keepd with its
# filesystem driver, keepd with the s3 driver, and CNCF Distribution
# (Debian's docker-registry) with its s3 driver, all on the same one-node
# Ceph (tests/scale/ceph.sh: a monitor, one BlueStore OSD, radosgw), over
# the same TLS certificate, in the same run.
#
#   bench/s3.sh KEEPD [seconds-per-run]
#
# For each server: a 256 MiB push in one request and in 8 MiB chunks, GETs
# of a 64 MiB blob (1 and 4 connections, curl), manifest GETs (wrk, 16
# connections), with the server's CPU milliseconds per manifest GET. Keep
# also with storage.s3.redirect (the client fetches from radosgw itself),
# and with its metadata in PostgreSQL as well (tests/scale/postgres.sh): the
# setup replicas share.
# Distribution's s3 redirect is off, so both proxy the bytes. Keep is asked
# with Basic auth, Distribution without auth; request logs are off.
set -euo pipefail
KEEPD=$(readlink -f "${1:?usage: bench/s3.sh KEEPD [seconds]}")
SECS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/scale_lib.sh
source "$HERE/scale_lib.sh"
scale_up keep keepr keeppg dist

# keep NAME EXTRA-JSON: keepd NAME (scale_lib.sh) with the open namespace "bench".
keep() {
  keepd_start "$1" "$2"
  local port_var="${1}_PORT"
  local port=${!port_var}
  curl -sSfk -H "$AUTH" -o /dev/null -X POST --data '{"name":"bench"}' "https://127.0.0.1:$port/admin/v1/namespaces"
  curl -sSfk -H "$AUTH" -o /dev/null -X PUT --data '{"mode":"open"}' "https://127.0.0.1:$port/admin/v1/namespaces/bench/policy"
}
S3CONF="\"endpoint\":\"$S3_ENDPOINT\",\"region\":\"$S3_REGION\""
keep fs ''
keep s3 ",\"storage\":{\"driver\":\"s3\",\"s3\":{$S3CONF,\"bucket\":\"keep\"}}"
keep s3r ",\"storage\":{\"driver\":\"s3\",\"s3\":{$S3CONF,\"bucket\":\"keepr\",\"redirect\":true}}"
keep s3pg ",\"storage\":{\"driver\":\"s3\",\"s3\":{$S3CONF,\"bucket\":\"keeppg\"}},\"metadata\":{\"driver\":\"postgres\",\"postgres\":{\"conninfo\":\"$PG_CONNINFO\"}}"
DPORT=$(free_port)
cat >"$T/dist.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  s3: {accesskey: $S3_ACCESS_KEY, secretkey: $S3_SECRET_KEY, region: $S3_REGION,
       regionendpoint: $S3_ENDPOINT, bucket: dist, secure: false, v4auth: true}
  redirect: {disable: true}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$DPORT, tls: {certificate: $T/tls.crt, key: $T/tls.key}}
YAML
# (its AWS SDK refuses to start when AWS_CA_BUNDLE is set, as it is on some machines)
env -u AWS_CA_BUNDLE docker-registry serve "$T/dist.yml" >"$T/dist.out" 2>"$T/dist.err" &
PIDS+=($!)
# shellcheck disable=SC2034  # (read through ${name}_PID and ${name}_PORT)
dist_PID=$! dist_PORT=$DPORT
wait_port "$DPORT"

dg() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
location() { tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}'; }
with_digest() { case $1 in *\?*) echo "$1&digest=$2" ;; *) echo "$1?digest=$2" ;; esac; }
now() { date +%s.%N; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # user + system ticks
# push PORT MODE FILE CURL-ARGS...: prints the seconds it took
push() {
  local port=$1 mode=$2 file=$3 base loc t0 off=0 size chunk=$((8 << 20))
  shift 3
  base="https://127.0.0.1:$port"
  t0=$(now)
  loc=$(curl -sSk "$@" -X POST -D - -o /dev/null "$base/v2/bench/push/blobs/uploads/" | location)
  case $loc in http*) ;; *) loc="$base$loc" ;; esac
  if [ "$mode" = chunked ]; then
    size=$(stat -c %s "$file")
    while [ $off -lt "$size" ]; do
      dd if="$file" bs=1M iflag=skip_bytes,count_bytes skip=$off count=$chunk status=none >"$T/chunk"
      loc=$(curl -sSfk "$@" -X PATCH -H 'Content-Type: application/octet-stream' \
        -H "Content-Range: $off-$((off + $(stat -c %s "$T/chunk") - 1))" --data-binary "@$T/chunk" \
        -D - -o /dev/null "$loc" | location)
      case $loc in http*) ;; *) loc="$base$loc" ;; esac
      off=$((off + chunk))
    done
    curl -sSfk "$@" -X PUT -o /dev/null "$(with_digest "$loc" "$(dg "$file")")"
  else
    curl -sSfk "$@" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
      -o /dev/null "$(with_digest "$loc" "$(dg "$file")")"
  fi
  awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'
}
# seed PORT CURL-ARGS...: a config, a 64 MiB layer and their manifest in bench/app
head -c $((64 << 20)) /dev/urandom >"$T/l64"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$T/cfg"
MT=application/vnd.oci.image.manifest.v1+json
cat >"$T/manifest" <<JSON
{"schemaVersion":2,"mediaType":"$MT",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$(dg "$T/cfg")","size":$(stat -c %s "$T/cfg")},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$(dg "$T/l64")","size":$((64 << 20))}]}
JSON
seed() {
  local port=$1 base loc f
  shift
  base="https://127.0.0.1:$port/v2/bench/app"
  for f in cfg l64; do
    loc=$(curl -sSk "$@" -X POST -D - -o /dev/null "$base/blobs/uploads/" | location)
    case $loc in http*) ;; *) loc="https://127.0.0.1:$port$loc" ;; esac
    curl -sSfk "$@" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$T/$f" \
      -o /dev/null "$(with_digest "$loc" "$(dg "$T/$f")")"
  done
  curl -sSfk "$@" -X PUT -H "Content-Type: $MT" --data-binary "@$T/manifest" -o /dev/null "$base/manifests/latest"
}
# get_mbs PORT CONNECTIONS CURL-ARGS...: MB/s of CONNECTIONS x 4 GETs of the 64 MiB layer
get_mbs() {
  local port=$1 n=$2 t0 i
  shift 2
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    (for _ in 1 2 3 4; do curl -sSfkL "$@" -o /dev/null "https://127.0.0.1:$port/v2/bench/app/blobs/$(dg "$T/l64")"; done) &
  done
  wait
  awk -v a="$t0" -v b="$(now)" -v n="$n" 'BEGIN {printf "%.0f", n * 4 * 64 * 1.048576 / (b - a)}'
}
# rate PORT PATH METHOD [HEADER]: wrk requests/s at 16 connections
rate() {
  local port=$1 path=$2 method=$3
  shift 3
  cat >"$T/wrk.lua" <<LUA
wrk.method = "$method"
wrk.headers["Accept"] = "$MT"
LUA
  # The header is the last argument (curl's "-H" "Authorization: ...").
  [ $# -gt 0 ] && printf 'wrk.headers["Authorization"] = "%s"\n' "${!##Authorization: }" >>"$T/wrk.lua"
  wrk -t2 -c16 -d"${SECS}s" -s "$T/wrk.lua" "https://127.0.0.1:$port$path" >"$T/wrk.out" 2>&1
  # A refusal is quick: a rate of them measures nothing.
  if grep -q 'Non-2xx' "$T/wrk.out"; then echo "non-2xx answers from port $port:" >&2; cat "$T/wrk.out" >&2; exit 1; fi
  awk '/Requests\/sec/ {printf "%.0f", $2}' "$T/wrk.out"
}

head -c $((256 << 20)) /dev/urandom >"$T/b256"
echo "seeding and measuring (${SECS} s per wrk run)..."
printf '\n%-22s %10s %10s %10s %10s %12s %14s\n' server "push 1req" "push 8MiB" "GET 1c" "GET 4c" "manifest/s" "CPU ms/manif."
printf '%-22s %10s %10s %10s %10s %12s %14s\n' "" MB/s MB/s MB/s MB/s "" ""
for name in fs s3 s3r s3pg dist; do
  port_var="${name}_PORT"; pid_var="${name}_PID"
  port=${!port_var}; pid=${!pid_var}
  args=(); [ "$name" != dist ] && args=(-H "$AUTH")
  seed "$port" "${args[@]}"
  one=$(push "$port" one "$T/b256" "${args[@]}")
  chunked=$(push "$port" chunked "$T/b256" "${args[@]}")
  g1=$(get_mbs "$port" 1 "${args[@]}")
  g4=$(get_mbs "$port" 4 "${args[@]}")
  c0=$(cpu "$pid")
  mrate=$(rate "$port" /v2/bench/app/manifests/latest GET "${args[@]}")
  c1=$(cpu "$pid")
  label=$name
  case $name in fs) label="Keep, files" ;; s3) label="Keep, S3" ;; s3r) label="Keep, S3 + redirect" ;; s3pg) label="Keep, S3 + PostgreSQL" ;; dist) label="Distribution, S3" ;; esac
  printf '%-22s %10.0f %10.0f %10s %10s %12s %14s\n' "$label" \
    "$(awk -v s="$one" 'BEGIN {print 268.435456 / s}')" "$(awk -v s="$chunked" 'BEGIN {print 268.435456 / s}')" \
    "$g1" "$g4" "$mrate" \
    "$(awk -v a="$c0" -v b="$c1" -v r="$mrate" -v s="$SECS" -v hz="$(getconf CLK_TCK)" 'BEGIN {if (r > 0) printf "%.3f", (b - a) / hz * 1000 / (r * s); else print "-"}')"
done
