# tests/scale/lib.sh — the shared start of the scale tests, sourced after
# tests/e2e/lib.sh (e2e_init): scale_start brings up PostgreSQL
# (postgres.sh) and a one-node Ceph with radosgw (ceph.sh) under $T, both
# stopped at exit, and makes the bucket "keep". It sets PG_DIR, CEPH_DIR and
# what their env files hold (PG_CONNINFO, PG_PASSWORD, S3_ENDPOINT,
# S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY), exports the credentials keepd
# reads (KEEP_S3_ACCESS_KEY, KEEP_S3_SECRET_KEY, KEEP_POSTGRES_PASSWORD), and
# defines s3 (curl signed for the gateway).
SCALE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

s3() {
  curl -sS --fail-with-body --max-time 60 --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

scale_start() {
  need radosgw ceph-mon ceph-osd psql
  log "starting PostgreSQL and Ceph"
  PG_DIR="$T/pg"
  CEPH_DIR="$T/ceph"
  E2E_CLEANUP_CMDS+=("bash '$SCALE/postgres.sh' stop '$PG_DIR' >/dev/null 2>&1")
  E2E_CLEANUP_CMDS+=("bash '$SCALE/ceph.sh' stop '$CEPH_DIR' >/dev/null 2>&1")
  run_logged pg-start bash "$SCALE/postgres.sh" start "$PG_DIR" "$(free_port)"
  CEPH_MON_PORT=$(free_port) run_logged ceph-start bash "$SCALE/ceph.sh" start "$CEPH_DIR" "$(free_port)"
  # shellcheck disable=SC1091
  source "$PG_DIR/pg.env"
  # shellcheck disable=SC1091
  source "$CEPH_DIR/s3.env"
  s3 -X PUT "$S3_ENDPOINT/keep" >/dev/null || fail "cannot create the bucket"
  export KEEP_S3_ACCESS_KEY=$S3_ACCESS_KEY KEEP_S3_SECRET_KEY=$S3_SECRET_KEY
  export KEEP_POSTGRES_PASSWORD=$PG_PASSWORD
}
