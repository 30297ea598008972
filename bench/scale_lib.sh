# bench/scale_lib.sh — the shared start of the benchmarks on Ceph and
# PostgreSQL (bench/s3.sh, bench/replicas.sh), sourced with HERE set to
# bench/. It makes the temp dir $T (removed at exit, with every pid in PIDS
# killed, Ceph and PostgreSQL stopped), defines free_port, wait_port and s3
# (curl signed for the gateway), ROOT_FLAG, PASS and AUTH (keepd's admin),
# and scale_up BUCKET...: one-node Ceph (tests/scale/ceph.sh) with those
# buckets, PostgreSQL (tests/scale/postgres.sh), and a TLS certificate for
# 127.0.0.1 in $T/tls.crt and $T/tls.key. What their env files hold is set
# (S3_*, PG_CONNINFO, PG_PASSWORD). keepd_start NAME EXTRA-JSON starts
# $KEEPD with the config keys EXTRA-JSON (",\"storage\":..." or empty) and
# sets NAME_PORT and NAME_PID.
T=$(mktemp -d /tmp/keep-bench-scale.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash "$HERE/../tests/scale/ceph.sh" stop "$T/ceph" >/dev/null 2>&1 || true
  bash "$HERE/../tests/scale/postgres.sh" stop "$T/pgdir" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
# free_port: below the kernel's ephemeral range, where no outgoing
# connection (a keepd's to PostgreSQL or radosgw) can take the port first.
# shellcheck source=tests/e2e/free_port.sh
source "$HERE/../tests/e2e/free_port.sh"
wait_port() {
  for _ in $(seq 100); do curl -sk -o /dev/null "https://127.0.0.1:$1/v2/" && return 0; sleep 0.1; done
  echo "server on $1 did not start: $(cat "$T"/*.err 2>/dev/null | tail -5)" >&2
  exit 1
}
ROOT_FLAG=(); [ "$(id -u)" = 0 ] && ROOT_FLAG=(--allow-root)
PASS=bench-password-$RANDOM$RANDOM
AUTH="Authorization: Basic $(printf 'admin:%s' "$PASS" | base64 -w0)"
s3() { curl -sSf --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
         -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }

scale_up() {
  echo "starting Ceph and PostgreSQL..."
  CEPH_MON_PORT=$(free_port) bash "$HERE/../tests/scale/ceph.sh" start "$T/ceph" "$(free_port)" >/dev/null 2>"$T/ceph.log" ||
    { cat "$T/ceph.log" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$T/ceph/s3.env"
  local b
  for b in "$@"; do s3 -X PUT "$S3_ENDPOINT/$b" >/dev/null; done
  mkdir -p "$T/pgdir"
  bash "$HERE/../tests/scale/postgres.sh" start "$T/pgdir" "$(free_port)" >/dev/null
  # shellcheck disable=SC1091
  source "$T/pgdir/pg.env"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=127.0.0.1' \
    -addext 'subjectAltName=IP:127.0.0.1' -keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null
}

keepd_start() {
  local name=$1 extra=$2 port
  port=$(free_port)
  cat >"$T/$name.json" <<JSON
{"listen":"127.0.0.1:$port","data_dir":"$T/$name","log":{"requests":false},
 "tls":{"cert":"$T/tls.crt","key":"$T/tls.key"},
 "limits":{"address_requests_per_second":10000000,"user_requests_per_second":10000000,
           "request_burst":100000000}$extra}
JSON
  KEEP_S3_ACCESS_KEY=$S3_ACCESS_KEY KEEP_S3_SECRET_KEY=$S3_SECRET_KEY KEEP_ADMIN_PASSWORD=$PASS \
    KEEP_POSTGRES_PASSWORD=$PG_PASSWORD \
    "$KEEPD" --config "$T/$name.json" "${ROOT_FLAG[@]}" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  printf -v "${name}_PID" %s $!
  printf -v "${name}_PORT" %s "$port"
  wait_port "$port"
}
