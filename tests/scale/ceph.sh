#!/usr/bin/env bash
# tests/scale/ceph.sh start DIR [PORT]
# tests/scale/ceph.sh stop DIR
# tests/scale/ceph.sh stop-rgw DIR | start-rgw DIR
#
# Brings up a throw-away single-node Ceph cluster with an S3 gateway for the
# scale tests: one ceph-mon, one BlueStore ceph-osd on a sparse 10 GiB file,
# and radosgw (beast) on 127.0.0.1:PORT (default 7480). No ceph-mgr, no
# systemd. Every path (config, keyrings, mon store, OSD data, block file,
# logs, admin sockets, pid files) lives in DIR, so nothing under
# /etc/ceph, /var/lib/ceph or /var/log/ceph is read or written. The daemons
# run as the invoking user (root in CI, or a normal user).
#
# `start` creates an S3 user with a random key pair, warms the gateway up
# (bucket create/delete, multipart initiate/abort, so that RGW has created its
# lazily made pools), writes DIR/s3.env and prints it:
#   S3_ENDPOINT=http://127.0.0.1:PORT
#   S3_ACCESS_KEY=...
#   S3_SECRET_KEY=...
#   S3_REGION=us-east-1
# Progress goes to stderr. `stop` kills the daemons by their pid files and
# waits for them; it is safe to run twice or after a failed start.
# `stop-rgw` and `start-rgw` stop and start the gateway alone (the store
# going away and coming back under a client).
#
# Environment: CEPH_MON_PORT (default 6789), CEPH_TIMEOUT (seconds each
# daemon may take to come up, default 60). Needs the Debian packages
# ceph-mon ceph-osd radosgw ceph-common, and curl.
set -euo pipefail

readonly MON_PORT=${CEPH_MON_PORT:-6789}
readonly TIMEOUT=${CEPH_TIMEOUT:-60}
# RGW does not check the region in the SigV4 scope; clients need one.
readonly REGION=us-east-1

t0=${EPOCHREALTIME/[.,]/}

# Progress on stderr, with the seconds since the script started.
log() {
  local now=${EPOCHREALTIME/[.,]/}
  local ms=$(((now - t0) / 1000))
  printf '[ceph.sh %d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2
}

die() {
  echo "ceph.sh: error: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start DIR [PORT] | stop DIR | stop-rgw DIR | start-rgw DIR" >&2
  exit 2
}

# Fails with MSG and the tail of LOGFILE.
die_with_log() {
  local msg=$1 logfile=$2
  echo "ceph.sh: error: $msg" >&2
  if [ -s "$logfile" ]; then
    echo "---- last lines of $logfile ----" >&2
    tail -n 30 "$logfile" >&2
    echo "----" >&2
  fi
  exit 1
}

# 2*N upper-case hex characters from /dev/urandom.
random_hex() {
  od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F'
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True while PID runs. A zombie counts as gone: a container's PID 1 may
# never reap the daemons, which were re-parented to it.
pid_alive() {
  local state
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || true
  [ "$state" != Z ]
}

# Prints the pid in DIR/run/NAME.pid if that process is alive and was
# started with this DIR's ceph.conf.
daemon_pid() {
  local file="$dir/run/$1.pid" pid
  [ -f "$file" ] || return 1
  pid=$(tr -cd '0-9' <"$file")
  pid_alive "$pid" || return 1
  grep -q -- "$conf" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

ceph_cli() {
  timeout 30 ceph -c "$conf" --connect-timeout 20 "$@"
}

write_conf() {
  cat >"$conf" <<EOF
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon_host = v1:127.0.0.1:$MON_PORT
ms_bind_msgr2 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $dir/keys/\$name.keyring
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
crash_dir = $dir/crash
mon_data = $dir/mon.\$id
osd_data = $dir/osd.\$id
rgw_data = $dir/rgw.\$id
mgr_data = $dir/mgr.\$id
mon_cluster_log_file = default=$dir/log/ceph.\$channel.log cluster=$dir/log/ceph.log
mon_debug_dump_location = $dir/log/\$name.tdump
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_memory_target = 896MiB
# Pool creation by RGW otherwise waits for the mon's 1 s paxos batching.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[mon]
pid_file = $dir/run/\$name.pid

[osd]
pid_file = $dir/run/\$name.pid
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
osd_objectstore = bluestore
# Outside osd_data: BlueStore links osd_data/block to this path.
bluestore_block_path = $dir/\$name.block.img
bluestore_block_create = true
bluestore_block_size = 10G

[client.admin]
# Several CLI calls may run at once.
admin_socket = $dir/run/\$name.\$pid.asok

[client.rgw.gw]
pid_file = $dir/run/\$name.pid
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
# Deleted objects are reclaimed after ~1 min instead of 2 h.
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
# Shutdown waits for the OSD; give up soon if it is gone.
rgw_exit_timeout_secs = 5
EOF
}

write_keyrings() {
  local k=$dir/keys
  ceph-authtool "$k/mon.a.keyring" --create-keyring --gen-key -n mon. \
    --cap mon 'allow *'
  ceph-authtool "$k/client.admin.keyring" --create-keyring --gen-key \
    -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mds 'allow *' --cap mgr 'allow *'
  ceph-authtool "$k/osd.0.keyring" --create-keyring --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' \
    --cap osd 'allow *'
  ceph-authtool "$k/client.rgw.gw.keyring" --create-keyring --gen-key \
    -n client.rgw.gw --cap mon 'allow rw' --cap osd 'allow rwx' \
    --cap mgr 'allow rw'
  # The mon's mkfs seeds its auth database from its own keyring.
  local name
  for name in client.admin osd.0 client.rgw.gw; do
    ceph-authtool "$k/mon.a.keyring" --import-keyring "$k/$name.keyring"
  done
  chmod 600 "$k"/*.keyring
}

# Pids of the daemons this run started, by name.
declare -A started=()

# Polls CMD until it succeeds; fails with LOGFILE's tail after $TIMEOUT
# seconds, or as soon as the daemon NAME has exited.
wait_for() {
  local what=$1 name=$2 logfile=$3
  shift 3
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    # A daemon removes its pid file when it exits, so check its pid.
    if [ -n "${started[$name]:-}" ] && ! pid_alive "${started[$name]}"; then
      die_with_log "$name exited before $what" "$logfile"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      die_with_log "$what: not within ${TIMEOUT}s" "$logfile"
    fi
    sleep 0.1
  done
}

# Runs a daemon, which forks into the background and writes its pid file;
# its stdout/stderr go to DIR/log/NAME.out.
run_daemon() {
  local name=$1
  shift
  if ! "$@" -c "$conf" >>"$dir/log/$name.out" 2>&1; then
    if [ -s "$dir/log/$name.out" ]; then
      die_with_log "$name failed to start" "$dir/log/$name.out"
    fi
    die_with_log "$name failed to start" "$dir/log/$name.log"
  fi
  wait_for "$name writing its pid file" "$name" "$dir/log/$name.log" \
    daemon_pid "$name"
  started[$name]=$(daemon_pid "$name")
}

start_mon() {
  monmaptool --create --fsid "$(sed -n 's/^fsid = //p' "$conf")" \
    --addv a "[v1:127.0.0.1:$MON_PORT]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" \
    --keyring "$dir/keys/mon.a.keyring" >>"$dir/log/mon.a.out" 2>&1 ||
    die_with_log "ceph-mon --mkfs failed" "$dir/log/mon.a.out"
  run_daemon mon.a ceph-mon -i a
  wait_for "ceph-mon answering" mon.a "$dir/log/mon.a.log" ceph_cli mon stat
  log "ceph-mon answers on 127.0.0.1:$MON_PORT"
}

osd_up() {
  ceph_cli osd dump -f json | grep -q '"up":1,"in":1'
}

start_osd() {
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir/osd.0"
  ceph_cli osd new "$uuid" 0 >/dev/null || die "ceph osd new failed"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" \
    >>"$dir/log/osd.0.out" 2>&1 ||
    die_with_log "ceph-osd --mkfs failed" "$dir/log/osd.0.log"
  log "BlueStore created"
  run_daemon osd.0 ceph-osd -i 0
  wait_for "ceph-osd up and in" osd.0 "$dir/log/osd.0.log" osd_up
  log "ceph-osd up and in"
}

rgw_answers() {
  curl -sf -o /dev/null --max-time 2 "$endpoint/"
}

start_rgw() {
  run_daemon client.rgw.gw radosgw -n client.rgw.gw
  wait_for "radosgw answering on $endpoint" client.rgw.gw \
    "$dir/log/client.rgw.gw.log" rgw_answers
  log "radosgw answers on $endpoint"
}

create_user() {
  access_key=$(random_hex 10)
  secret_key=$(random_hex 20)
  timeout 60 radosgw-admin -c "$conf" user create --uid=keep-tests \
    --display-name="Keep tests" --access-key="$access_key" \
    --secret-key="$secret_key" >/dev/null 2>>"$dir/log/radosgw-admin.out" ||
    die_with_log "radosgw-admin user create failed" \
      "$dir/log/radosgw-admin.out"
  log "S3 user created"
}

# curl with SigV4. curl sends no x-amz-content-sha256, which RGW requires.
s3() {
  curl -sS --fail-with-body --max-time 30 \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$access_key:$secret_key" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# RGW creates its bucket index, data and multipart pools on first use.
warm_up() {
  local bucket reply upload_id
  bucket=warm-up-$(random_hex 4 | tr 'A-F' 'a-f')
  s3 -X PUT "$endpoint/$bucket" >/dev/null ||
    die "warm-up: bucket create failed"
  # "?uploads=": curl signs a valueless "?uploads" differently from RGW.
  reply=$(s3 -X POST "$endpoint/$bucket/object?uploads=") ||
    die "warm-up: multipart initiate failed: $reply"
  upload_id=$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' <<<"$reply")
  [ -n "$upload_id" ] || die "warm-up: no UploadId in: $reply"
  s3 -X DELETE "$endpoint/$bucket/object?uploadId=$upload_id" >/dev/null ||
    die "warm-up: multipart abort failed"
  s3 -X DELETE "$endpoint/$bucket" >/dev/null ||
    die "warm-up: bucket delete failed"
  log "warm-up done"
}

write_env() {
  cat >"$dir/s3.env" <<EOF
S3_ENDPOINT=$endpoint
S3_ACCESS_KEY=$access_key
S3_SECRET_KEY=$secret_key
S3_REGION=$REGION
EOF
  cat "$dir/s3.env"
}

check_tools() {
  local tool
  for tool in ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw \
    radosgw-admin curl timeout od; do
    command -v "$tool" >/dev/null ||
      die "$tool not found (apt-get install ceph-mon ceph-osd radosgw ceph-common curl)"
  done
}

# Sends TERM to the daemon NAME and waits for it to exit (KILL after 20 s).
kill_and_wait() {
  local pid deadline=$((SECONDS + 20))
  pid=$(daemon_pid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "ceph.sh: $1 ignored TERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.05
  done
}

# One at a time, clients first: radosgw's shutdown hangs (for up to 2 min)
# when the OSD is gone, and a stopping OSD waits up to 5 s for the mon to
# acknowledge it.
stop_daemons() {
  kill_and_wait client.rgw.gw
  kill_and_wait osd.0
  kill_and_wait mon.a
  rm -f "$dir"/run/*.pid
}

on_start_exit() {
  if [ "$1" -ne 0 ]; then
    echo "ceph.sh: start failed; stopping what was started (logs in $dir/log)" >&2
    stop_daemons
  fi
}

cmd_start() {
  check_tools
  [[ $rgw_port =~ ^[0-9]+$ ]] || die "bad port: $rgw_port"
  [[ $MON_PORT =~ ^[0-9]+$ ]] || die "bad CEPH_MON_PORT: $MON_PORT"
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  port_in_use "$MON_PORT" &&
    die "port $MON_PORT is in use (set CEPH_MON_PORT)"
  port_in_use "$rgw_port" && die "port $rgw_port is in use"
  mkdir -p "$dir"/{keys,run,log,crash}
  # On failure, leave no daemon behind; the logs stay in DIR.
  trap 'on_start_exit $?' EXIT
  write_conf
  write_keyrings >/dev/null
  start_mon
  start_osd
  start_rgw
  create_user
  warm_up
  write_env
  log "ready"
}

cmd_stop() {
  [ -d "$dir" ] || return 0
  stop_daemons
}

main() {
  [ $# -ge 2 ] || usage
  local cmd=$1
  dir=$2
  case $dir in
  /*) ;;
  *) dir=$PWD/$dir ;;
  esac
  [[ $dir != *[[:space:]]* ]] || die "DIR must not contain whitespace"
  dir=${dir%/}
  conf=$dir/ceph.conf
  case $cmd in
  start)
    [ $# -le 3 ] || usage
    rgw_port=${3:-7480}
    endpoint=http://127.0.0.1:$rgw_port
    cmd_start
    ;;
  stop)
    [ $# -eq 2 ] || usage
    cmd_stop
    ;;
  stop-rgw)
    [ $# -eq 2 ] || usage
    kill_and_wait client.rgw.gw
    ;;
  start-rgw)
    [ $# -eq 2 ] || usage
    [ -s "$dir/s3.env" ] || die "no $dir/s3.env: start the cluster first"
    endpoint=$(sed -n 's/^S3_ENDPOINT=//p' "$dir/s3.env")
    start_rgw
    ;;
  *) usage ;;
  esac
}

main "$@"
