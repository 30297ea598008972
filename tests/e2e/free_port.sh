# shellcheck shell=bash
# tests/e2e/free_port.sh — free_port, sourced by the test scripts that start
# daemons on ports of their own choosing.
#
# free_port: a TCP port no socket uses now, below the kernel's ephemeral
# range. A port in that range can be taken at any moment as the local end of
# some outgoing connection (a keepd's own to PostgreSQL, a curl), and then a
# daemon started on it fails with "Address already in use" even though
# nothing listens there. Runs `ss` through E2E_IN_NS when that array names a
# network namespace.
free_port() {
  local low=32768 high p i
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  high=$((low - 1))
  ((high > 20000)) || high=32767
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % (high - 20000 + 1)))
    if ! ${E2E_IN_NS[@]+"${E2E_IN_NS[@]}"} ss -Htan "sport = :$p" | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  echo "free_port: no free port between 20000 and $high" >&2
  return 1
}
