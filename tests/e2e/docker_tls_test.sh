#!/usr/bin/env bash
# e2e_docker_tls: dockerd verifies Keep's certificate. dockerd treats
# 127.0.0.0/8 as an insecure registry (it skips certificate verification
# there), so this test runs keepd and dockerd in a network namespace of its
# own, with keepd on an address that is not loopback, and a certificate for
# that address from a CA the test makes. With no CA, or an unrelated CA of the
# same name, in /etc/docker/certs.d, docker login and pull fail with a
# certificate error and keepd sees no request; with the right CA docker logs
# in, pushes and pulls back; the right CA does not make a certificate for
# another address acceptable.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init docker_tls "${1:-}"
need skopeo dockerd ip nsenter

ADDR=10.213.0.1  # keepd's address
OTHER=10.213.0.2 # a second keepd, serving the certificate made for ADDR
netns_init "$ADDR" "$OTHER"

check "a CA, a certificate for IP $ADDR it signs, and an unrelated CA of the same name"
# Both CAs are called the same: docker must check the signature, not the name.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/O=Keep e2e/CN=Keep e2e docker TLS CA" -keyout "$T/$1.key" -out "$T/$1.crt" \
    2>"$T/openssl-$1.log" || fail "openssl could not make the CA $1: $(cat "$T/openssl-$1.log")"
}
make_ca ca
make_ca wrong-ca
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$ADDR" -keyout "$T/server.key" -out "$T/server.csr" 2>"$T/openssl-csr.log"
printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$ADDR" \
  >"$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" \
  -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$T/server.ext" \
  -out "$T/server.crt" 2>"$T/openssl-sign.log"
openssl verify -CAfile "$T/ca.crt" "$T/server.crt" >/dev/null ||
  fail "the server certificate does not verify against its own CA"
if openssl verify -CAfile "$T/wrong-ca.crt" "$T/server.crt" >/dev/null 2>&1; then
  fail "the server certificate verifies against the unrelated CA"
fi
ok "$(openssl x509 -in "$T/server.crt" -noout -ext subjectAltName | tail -n1 | sed 's/^ *//')"

export KEEP_ADDR=$ADDR KEEP_TLS_CERT="$T/server.crt" KEEP_TLS_KEY="$T/server.key" KEEP_TLS_CA="$T/ca.crt"
keep_start  # in the namespace; checks GET /v2/ with curl and the right CA

check "curl refuses keepd with the unrelated CA (the wrong CA is really wrong)"
if "${E2E_IN_NS[@]}" curl -sS --max-time 20 -o /dev/null --cacert "$T/wrong-ca.crt" \
  "$KEEP_URL/v2/" 2>"$T/curl-wrong.log"; then
  fail "curl accepted keepd's certificate with the unrelated CA"
fi
ok "$(head -n1 "$T/curl-wrong.log")"

dockerd_start  # in the namespace; no insecure registries
CERTS="/etc/docker/certs.d/$KEEP_HOST"

check "docker info: $KEEP_HOST is not an insecure registry"
"${DOCKER[@]}" info -f '{{json .RegistryConfig}}' >"$T/registry-config.json"
# ip_in_cidr IP CIDR: whether the IPv4 address IP lies in CIDR.
ip_to_int() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
ip_in_cidr() {
  local net=${2%/*} bits=${2#*/} mask
  [[ $net == *.*.*.* && $bits =~ ^[0-9]+$ ]] || return 1
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  (($(($(ip_to_int "$1") & mask)) == $(($(ip_to_int "$net") & mask))))
}
mapfile -t cidrs < <(jq -r '.InsecureRegistryCIDRs[]?' "$T/registry-config.json")
for c in "${cidrs[@]}"; do
  if ip_in_cidr "$ADDR" "$c"; then fail "dockerd treats $ADDR as insecure: it lies in $c"; fi
done
secure=$(jq -r --arg h "$KEEP_HOST" --arg a "$ADDR" \
  '[.IndexConfigs | to_entries[] | select(.key == $h or .key == $a) | .value.Secure] | map(tostring) | join(",")' \
  "$T/registry-config.json")
[[ -z $secure || $secure != *false* ]] || fail "dockerd lists $KEEP_HOST as an insecure registry: $(cat "$T/registry-config.json")"
ok "insecure CIDRs: ${cidrs[*]:-none}; $ADDR is in none of them, and no index config marks it insecure"

make_test_image "$T/src" v1
ref="$KEEP_HOST/e2e/docker-tls:v1"
check "docker load of the test image as $ref"
docker_load "$T/src:v1" "$ref"

printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
docker_login() {
  "${DOCKER[@]}" login -u "$E2E_ADMIN_USER" --password-stdin "$KEEP_HOST" <"$T/pw"
}
requests() { wc -l <"$KEEP_LOG"; }
X509_UNKNOWN='x509: certificate signed by unknown authority'
# refused NAME CMD...: CMD must fail with a certificate error, and keepd must
# log no request meanwhile (the TLS handshake failed before any HTTP).
refused() {
  local name=$1 before after
  shift
  before=$(requests)
  if "$@" >"$T/$name.log" 2>&1; then
    fail "$name succeeded: docker did not verify keepd's certificate ($(tail -n1 "$T/$name.log"))"
  fi
  grep -qF "$X509_UNKNOWN" "$T/$name.log" ||
    fail "$name failed, but not with '$X509_UNKNOWN': $(tail -n 3 "$T/$name.log")"
  sleep 0.2
  after=$(requests)
  expect_eq "requests keepd logged during $name" "$before" "$after"
  ok "$(grep -oF -m1 "$X509_UNKNOWN" "$T/$name.log") ($(grep -m1 -o 'Get "[^"]*"' "$T/$name.log" || true))"
}

check "with no ca.crt for $KEEP_HOST, docker login fails with a certificate error"
rm -f "$CERTS/ca.crt"
refused login-no-ca docker_login

check "with the unrelated CA as ca.crt, docker login fails with a certificate error"
cp "$T/wrong-ca.crt" "$CERTS/ca.crt"
refused login-wrong-ca docker_login
refused push-wrong-ca "${DOCKER[@]}" push "$ref"

check "with the right CA as ca.crt, docker logs in and pushes"
cp "$T/ca.crt" "$CERTS/ca.crt"
run_logged docker-login docker_login
grep -q "Login Succeeded" "$T/docker-login.log" || fail "docker login did not say 'Login Succeeded'"
run_logged docker-push "${DOCKER[@]}" push "$ref"
pushed=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\) size: .*/\1/p' "$T/docker-push.log")
[[ -n $pushed ]] || fail "docker push printed no 'digest: ...' line: $(tail -n 3 "$T/docker-push.log")"
fetch_manifest e2e/docker-tls v1 "$MT_DOCKER_MANIFEST" "$T/m.json"
expect_eq "digest keepd serves for e2e/docker-tls:v1" "$pushed" "$(header "$T/m.json.headers" Docker-Content-Digest)"

check "docker rmi, then docker pull $ref over verified TLS"
run_logged docker-rmi "${DOCKER[@]}" rmi "$ref"
run_logged docker-pull "${DOCKER[@]}" pull "$ref"
expect_eq "image ID after pull" "$IMG_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$ref")"
expect_eq "repo digest after pull" "$KEEP_HOST/e2e/docker-tls@$pushed" \
  "$("${DOCKER[@]}" image inspect -f '{{join .RepoDigests " "}}' "$ref")"

check "logged in, with the unrelated CA back in ca.crt, docker pull fails with a certificate error"
run_logged docker-rmi2 "${DOCKER[@]}" rmi "$ref"
cp "$T/wrong-ca.crt" "$CERTS/ca.crt"
refused pull-wrong-ca "${DOCKER[@]}" pull "$ref"
if "${DOCKER[@]}" image inspect "$ref" >/dev/null 2>&1; then fail "$ref is present after the refused pull"; fi
ok "$ref was not pulled"

check "logged in, with no ca.crt, docker pull fails with a certificate error"
rm -f "$CERTS/ca.crt"
refused pull-no-ca "${DOCKER[@]}" pull "$ref"

check "the right CA does not make its certificate for $ADDR good for $OTHER"
other_data="$T/other-data" other_err="$T/other.stderr.log"
other_port=$(free_port)
printf '{"listen":"%s:%s","data_dir":"%s"}\n' "$OTHER" "$other_port" "$other_data" >"$T/other.json"
KEEP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" "${E2E_IN_NS[@]}" "$KEEPD" --config "$T/other.json" \
  --allow-root >"$T/other.requests.log" 2>"$other_err" &
other_pid=$!
E2E_PIDS+=("$other_pid")
for ((i = 0; i < 100; i++)); do
  kill -0 "$other_pid" 2>/dev/null || break
  grep -q 'listening on' "$other_err" && break
  sleep 0.1
done
grep -q 'listening on' "$other_err" || fail "the second keepd did not start on $OTHER:$other_port: $(tail -n 3 "$other_err")"
other_certs="/etc/docker/certs.d/$OTHER:$other_port"
[[ -e $other_certs ]] && fail "$other_certs already exists; refusing to touch another test's trust"
mkdir -p "$other_certs"
E2E_CLEANUP_PATHS+=("$other_certs")
cp "$T/ca.crt" "$other_certs/ca.crt"
if "${DOCKER[@]}" pull "$OTHER:$other_port/e2e/docker-tls:v1" >"$T/pull-other.log" 2>&1; then
  fail "docker pulled from $OTHER:$other_port, whose certificate names only $ADDR"
fi
grep -qF "x509: certificate is valid for $ADDR, not $OTHER" "$T/pull-other.log" ||
  fail "the pull from $OTHER failed, but not with a name mismatch: $(tail -n 3 "$T/pull-other.log")"
ok "$(grep -oF -m1 "x509: certificate is valid for $ADDR, not $OTHER" "$T/pull-other.log")"
expect_eq "requests the second keepd logged" 0 "$(wc -l <"$T/other.requests.log")"
