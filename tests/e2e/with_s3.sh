#!/usr/bin/env bash
# tests/e2e/with_s3.sh SCRIPT KEEPD KEEPCTL: runs the end-to-end test SCRIPT
# with keepd's blobs in an S3 bucket instead of its data dir: a one-node
# Ceph with radosgw (tests/scale/ceph.sh) comes up first, the bucket is
# made, and every keepd the test starts gets storage.driver "s3" through
# KEEP_CONFIG_EXTRA (keep_start in lib.sh). After the test, the bucket must
# hold blobs, or the test did not run against the store. Ceph is stopped
# whatever the outcome.
set -euo pipefail
script=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
ceph_sh="$here/../scale/ceph.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/keep-e2e-store.XXXXXX")
trap 'bash "$ceph_sh" stop "$dir/ceph" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

# shellcheck source=tests/e2e/free_port.sh
source "$here/free_port.sh"
echo "[with_s3] starting Ceph for $(basename "$script")"
if ! CEPH_MON_PORT=$(free_port) bash "$ceph_sh" start "$dir/ceph" "$(free_port)" >/dev/null 2>"$dir/ceph.log"; then
  cat "$dir/ceph.log" >&2
  exit 1
fi
# shellcheck disable=SC1091
source "$dir/ceph/s3.env"
s3() {
  curl -sS --fail-with-body --max-time 60 --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}
s3 -X PUT "$S3_ENDPOINT/keep" >/dev/null
export KEEP_S3_ACCESS_KEY=$S3_ACCESS_KEY KEEP_S3_SECRET_KEY=$S3_SECRET_KEY
export KEEP_CONFIG_EXTRA="${KEEP_CONFIG_EXTRA:+$KEEP_CONFIG_EXTRA,}\"storage\":{\"driver\":\"s3\",\"s3\":{\"endpoint\":\"$S3_ENDPOINT\",\"bucket\":\"keep\",\"part_size_mib\":5}}"
bash "$script" "$@"
if ! s3 "$S3_ENDPOINT/keep?list-type=2&max-keys=1&prefix=blobs%2F" | grep -q '<Key>blobs/'; then
  echo "[with_s3] FAIL: the bucket holds no blobs after $(basename "$script"): keepd did not use it" >&2
  exit 1
fi
echo "[with_s3] the bucket holds the test's blobs"
