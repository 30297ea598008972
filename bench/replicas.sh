#!/usr/bin/env bash
# Replicas: 1, 2 and 3 keepd on one Ceph bucket (tests/scale/ceph.sh) and
# one PostgreSQL database (tests/scale/postgres.sh), the clients spread over
# them in turn as a round-robin load balancer would; beside them, in the
# same run, one keepd with files and SQLite (the single-machine default)
# and CNCF Distribution (Debian's docker-registry) on the same bucket.
#
#   bench/replicas.sh KEEPD [seconds-per-run]
#
# Per setup: 16 pushes of 8 MiB at once, a POST and a PUT each (MB/s); GETs of a
# 64 MiB blob over 8 connections (MB/s); manifest GETs by wrk, 16
# connections in all, shared among the replicas (requests/s); and the
# whole machine's CPU seconds per GiB served and per 10,000 manifest GETs
# (/proc/stat: keepd, radosgw, the OSD and PostgreSQL all count). Keep is
# asked with Basic auth, Distribution without; request logs are off.
set -euo pipefail
KEEPD=$(readlink -f "${1:?usage: bench/replicas.sh KEEPD [seconds]}")
SECS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/scale_lib.sh
source "$HERE/scale_lib.sh"
scale_up keep dist

SHARED=",\"storage\":{\"driver\":\"s3\",\"s3\":{\"endpoint\":\"$S3_ENDPOINT\",\"region\":\"$S3_REGION\",\"bucket\":\"keep\"}},\"metadata\":{\"driver\":\"postgres\",\"postgres\":{\"conninfo\":\"$PG_CONNINFO\"}}"
keepd_start fs ''
keepd_start r1 "$SHARED"
keepd_start r2 "$SHARED"
keepd_start r3 "$SHARED"
for port in "$fs_PORT" "$r1_PORT"; do
  curl -sSfk -H "$AUTH" -o /dev/null -X POST --data '{"name":"bench"}' "https://127.0.0.1:$port/admin/v1/namespaces"
  curl -sSfk -H "$AUTH" -o /dev/null -X PUT --data '{"mode":"open"}' "https://127.0.0.1:$port/admin/v1/namespaces/bench/policy"
done
DPORT=$(free_port)
cat >"$T/dist.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage:
  s3: {accesskey: $S3_ACCESS_KEY, secretkey: $S3_SECRET_KEY, region: $S3_REGION,
       regionendpoint: $S3_ENDPOINT, bucket: dist, secure: false, v4auth: true}
  redirect: {disable: true}
http: {addr: 127.0.0.1:$DPORT, tls: {certificate: $T/tls.crt, key: $T/tls.key}}
YAML
env -u AWS_CA_BUNDLE docker-registry serve "$T/dist.yml" >"$T/dist.out" 2>"$T/dist.err" &
PIDS+=($!)
wait_port "$DPORT"

dg() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
now() { date +%s.%N; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # the machine's busy ticks
HZ=$(getconf CLK_TCK)
MT=application/vnd.oci.image.manifest.v1+json
head -c $((64 << 20)) /dev/urandom >"$T/l64"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$T/cfg"
cat >"$T/manifest" <<JSON
{"schemaVersion":2,"mediaType":"$MT",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$(dg "$T/cfg")","size":$(stat -c %s "$T/cfg")},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$(dg "$T/l64")","size":$((64 << 20))}]}
JSON
for i in $(seq 16); do head -c $((8 << 20)) /dev/urandom >"$T/p$i"; done

# PORTS: the setup's ports, one per replica; ARGS: curl's auth arguments.
# upload PORT REPO FILE: a blob in a POST and a PUT (what every registry takes).
upload() {
  local base="https://127.0.0.1:$1" loc
  loc=$(curl -sSk "${ARGS[@]}" -X POST -D - -o /dev/null "$base/v2/$2/blobs/uploads/" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  case $loc in http*) ;; *) loc="$base$loc" ;; esac
  case $loc in *\?*) loc="$loc&" ;; *) loc="$loc?" ;; esac
  curl -sSfk "${ARGS[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$3" \
    -o /dev/null "${loc}digest=$(dg "$3")"
}
seed() {
  local f
  for f in cfg l64; do upload "${PORTS[0]}" bench/app "$T/$f"; done
  curl -sSfk "${ARGS[@]}" -X PUT -H "Content-Type: $MT" --data-binary "@$T/manifest" -o /dev/null \
    "https://127.0.0.1:${PORTS[0]}/v2/bench/app/manifests/latest"
}
# pushes: MB/s of 16 one-request 8 MiB pushes at once, replica i%N for push i
pushes() {
  local t0 i
  t0=$(now)
  for i in $(seq 16); do
    upload "${PORTS[$((i % ${#PORTS[@]}))]}" "bench/push$i" "$T/p$i" &
  done
  wait
  awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.0f", 16 * 8 * 1.048576 / (b - a)}'
}
# gets: MB/s of 8 connections x 3 GETs of the 64 MiB layer; CPU s per GiB into $T/get.cpu
gets() {
  local t0 c0 i port
  t0=$(now)
  c0=$(busy)
  for i in $(seq 8); do
    port=${PORTS[$((i % ${#PORTS[@]}))]}
    (for _ in 1 2 3; do curl -sSfk "${ARGS[@]}" -o /dev/null "https://127.0.0.1:$port/v2/bench/app/blobs/$(dg "$T/l64")"; done) &
  done
  wait
  awk -v a="$c0" -v b="$(busy)" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz / (24 * 64 / 1024)}' >"$T/get.cpu"
  awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.0f", 24 * 64 * 1.048576 / (b - a)}'
}
# manifests: requests/s, wrk's 16 connections split over the replicas; CPU s per 10k into $T/man.cpu
manifests() {
  local n=${#PORTS[@]} c0 port total=0 r
  cat >"$T/wrk.lua" <<LUA
wrk.headers["Accept"] = "$MT"
LUA
  [ ${#ARGS[@]} -gt 0 ] && printf 'wrk.headers["Authorization"] = "%s"\n' "${ARGS[1]#Authorization: }" >>"$T/wrk.lua"
  c0=$(busy)
  for port in "${PORTS[@]}"; do
    wrk -t1 -c$((16 / n)) -d"${SECS}s" -s "$T/wrk.lua" "https://127.0.0.1:$port/v2/bench/app/manifests/latest" \
      2>/dev/null >"$T/wrk.$port" &
  done
  wait
  for port in "${PORTS[@]}"; do
    if grep -q 'Non-2xx' "$T/wrk.$port"; then echo "non-2xx answers from port $port:" >&2; cat "$T/wrk.$port" >&2; exit 1; fi
    r=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$T/wrk.$port")
    total=$((total + ${r:-0}))
  done
  awk -v a="$c0" -v b="$(busy)" -v hz="$HZ" -v r="$total" -v s="$SECS" \
    'BEGIN {if (r > 0) printf "%.2f", (b - a) / hz / (r * s) * 10000; else print "-"}' >"$T/man.cpu"
  echo "$total"
}

echo "measuring (${SECS} s per wrk run, $(nproc) cores)..."
printf '\n%-30s %10s %10s %12s %12s %14s\n' setup "push MB/s" "GET MB/s" "CPU s/GiB" "manifest/s" "CPU s/10k man."
for setup in fs r1 r12 r123 dist; do
  ARGS=(-H "$AUTH")
  case $setup in
    fs) PORTS=("$fs_PORT") label="Keep, files + SQLite" ;;
    r1) PORTS=("$r1_PORT") label="Keep, 1 replica" ;;
    r12) PORTS=("$r1_PORT" "$r2_PORT") label="Keep, 2 replicas" ;;
    r123) PORTS=("$r1_PORT" "$r2_PORT" "$r3_PORT") label="Keep, 3 replicas" ;;
    dist) PORTS=("$DPORT") label="Distribution, S3" ARGS=() ;;
  esac
  [ "$setup" = fs ] || [ "$setup" = r1 ] || [ "$setup" = dist ] && seed
  p=$(pushes)
  g=$(gets)
  m=$(manifests)
  printf '%-30s %10s %10s %12s %12s %14s\n' "$label" "$p" "$g" "$(cat "$T/get.cpu")" "$m" "$(cat "$T/man.cpu")"
done
