#!/usr/bin/env bash
# e2e_proxy: keepd as a replica behind a load balancer that terminates TLS.
# keepd listens in plain HTTP (tls.enabled false) and trusts the proxy's
# address (proxies.trusted); nginx serves TLS in front of it, as an operator
# would put it, and passes X-Forwarded-For, -Proto and -Host. skopeo pushes
# and podman pulls through nginx only: the token realm keepd hands out must
# be nginx's https:// URL, or their logins go nowhere. The request log
# names the client behind the proxy; a client that reaches keepd directly
# and sends the same headers is not believed. Blobs keepd sends in plain
# HTTP (with sendfile) are byte for byte what was pushed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init proxy "${1:-}"
need skopeo nginx
podman_init

# ---- keepd in plain HTTP, trusting 127.0.0.1 (where nginx connects from) ----
KEEP_PORT=$(free_port)
KEEP_DATA="$T/keep-data"
KEEP_LOG="$T/keepd.requests.log"
KEEP_ERR="$T/keepd.stderr.log"
cat >"$T/keepd.json" <<CONF
{"listen": "127.0.0.1:$KEEP_PORT", "data_dir": "$KEEP_DATA",
 "tls": {"enabled": false}, "proxies": {"trusted": ["127.0.0.1"]}}
CONF
KEEP_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD" "$KEEPD" --config "$T/keepd.json" --allow-root \
  >"$KEEP_LOG" 2>"$KEEP_ERR" &
E2E_PIDS+=($!)
for ((i = 0; i < 100; i++)); do
  grep -q 'listening on' "$KEEP_ERR" && break
  sleep 0.1
done
grep -q "listening on http://127.0.0.1:$KEEP_PORT" "$KEEP_ERR" ||
  fail "keepd did not say it listens on http://127.0.0.1:$KEEP_PORT: $(cat "$KEEP_ERR")"
[[ ! -e "$KEEP_DATA/tls" ]] || fail "keepd made TLS material it does not use"
KEEP_CREDS="$E2E_ADMIN_USER:$E2E_ADMIN_PASSWORD"
PLAIN="http://127.0.0.1:$KEEP_PORT"

# ---- nginx terminating TLS in front of it ----------------------------------
NGINX_PORT=$(free_port)
FRONT="127.0.0.1:$NGINX_PORT"
n="$T/nginx"
mkdir -p "$n/logs" "$n/tmp"
chmod 1777 "$n/tmp"  # nginx's workers (nobody) write request bodies there
run_logged nginx-cert openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 2 -subj '/CN=keep e2e load balancer' -addext 'subjectAltName=IP:127.0.0.1' \
  -keyout "$n/lb.key" -out "$n/lb.crt"
cat >"$n/nginx.conf" <<CONF
user nobody nogroup;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log $n/logs/access.log;
  client_body_temp_path $n/tmp/body;
  proxy_temp_path $n/tmp/proxy;
  fastcgi_temp_path $n/tmp/fastcgi;
  uwsgi_temp_path $n/tmp/uwsgi;
  scgi_temp_path $n/tmp/scgi;
  server {
    listen $FRONT ssl;
    ssl_certificate $n/lb.crt;
    ssl_certificate_key $n/lb.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 0;
    location / {
      proxy_pass http://127.0.0.1:$KEEP_PORT;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
    }
  }
}
CONF
"$(command -v nginx || echo /usr/sbin/nginx)" -p "$n" -c "$n/nginx.conf" -g 'daemon off;' \
  >"$n/out.log" 2>&1 &
E2E_PIDS+=($!)
for ((i = 0; i < 50; i++)); do
  curl -s -o /dev/null --cacert "$n/lb.crt" "https://$FRONT/healthz" && break
  sleep 0.1
done
CERT_DIR="$T/certs"
mkdir -p "$CERT_DIR"
cp "$n/lb.crt" "$CERT_DIR/ca.crt"
KEEP_CA="$CERT_DIR/ca.crt"
KEEP_HOST="$FRONT"
KEEP_URL="https://$FRONT"

check "the challenge through the proxy names the proxy's https:// token endpoint"
curl -sS --cacert "$KEEP_CA" -D "$T/challenge.h" -o /dev/null "$KEEP_URL/v2/" ||
  fail "GET /v2/ through nginx failed: $(tail -5 "$n/logs/error.log")"
grep -qi "^www-authenticate: Bearer realm=\"https://$FRONT/token\"" "$T/challenge.h" ||
  fail "unexpected challenge: $(grep -i www-authenticate "$T/challenge.h")"
ok

check "the same request straight to keepd, with forged headers, is answered for what it is"
# (from 127.0.0.7: 127.0.0.1 is where the trusted proxy connects from)
curl -sS -D "$T/direct.h" -o /dev/null --interface 127.0.0.7 -H 'X-Forwarded-Proto: https' \
  -H 'X-Forwarded-Host: evil.example' -H 'X-Forwarded-For: 203.0.113.9' "$PLAIN/v2/" ||
  fail "GET /v2/ straight to keepd failed"
grep -qi "^www-authenticate: Bearer realm=\"http://127.0.0.1:$KEEP_PORT/token\"" "$T/direct.h" ||
  fail "keepd believed a client's forwarded headers: $(grep -i www-authenticate "$T/direct.h")"
line=$(grep '"path":"/v2/"' "$KEEP_LOG" | tail -1)
[[ $line == *'"remote":"127.0.0.7"'* ]] || fail "the log line names another client: $line"
ok

# The admin API through the proxy, as an operator reaches it.
kcurl() { curl -sS --max-time 120 --cacert "$KEEP_CA" -u "$KEEP_CREDS" "$@"; }
admin_api POST /namespaces '{"name":"e2e"}' >/dev/null
admin_api PUT /namespaces/e2e/policy '{"mode":"open"}' >/dev/null
admin_api POST /namespaces '{"name":"held"}' >/dev/null
admin_api POST /users '{"name":"rdr","password":"reader-password-1"}' >/dev/null
admin_api PUT /namespaces/held/members/rdr '{"role":"reader"}' >/dev/null

make_test_image "$T/src" v1

check "skopeo pushes through the proxy (its token comes from the realm keepd named)"
skopeo_to_keep "oci:$T/src:v1" e2e/app:v1
fetch_manifest e2e/app v1 "$MT_OCI_MANIFEST" "$T/m.json"
expect_eq "sha256 of the manifest served through the proxy" "$IMG_MANIFEST" "sha256:$(sha256_of "$T/m.json")"
grep -q '"method":"GET".*"path":"/token"' "$KEEP_LOG" ||
  fail "skopeo did not use the token service"
ok

check "podman pulls it through the proxy"
podman_login
run_logged podman-pull "${PODMAN[@]}" pull --cert-dir "$CERT_DIR" "$KEEP_HOST/e2e/app:v1"
expect_eq "image ID after pull" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/e2e/app:v1")"

check "each layer keepd sends in plain HTTP is byte for byte the pushed one"
for layer in "${IMG_LAYERS[@]}"; do
  curl -sS -u "$KEEP_CREDS" -o "$T/layer.bin" "$PLAIN/v2/e2e/app/blobs/$layer"
  expect_eq "sha256 of layer $layer" "$layer" "sha256:$(sha256_of "$T/layer.bin")"
done

check "trust holds behind the proxy: a reader is refused an unsigned image of a quarantined namespace"
skopeo_to_keep "oci:$T/src:v1" held/app:v1
code=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -o /dev/null -w '%{http_code}' \
  -H "Accept: $MT_OCI_MANIFEST" "$KEEP_URL/v2/held/app/manifests/v1")
expect_eq "reader GET of the unsigned manifest through the proxy" 403 "$code"
code=$(curl -sS --cacert "$KEEP_CA" -u rdr:reader-password-1 -o /dev/null -w '%{http_code}' \
  "$KEEP_URL/v2/held/app/blobs/${IMG_LAYERS[0]}")
expect_eq "reader GET of its layer through the proxy" 403 "$code"

check "the request log names the client behind the proxy, not the proxy"
curl -sS --cacert "$KEEP_CA" --interface 127.0.0.3 -o /dev/null "https://$FRONT/v2/_catalog?probe=1" ||
  fail "curl from 127.0.0.3 failed"
line=$(grep '"path":"/v2/_catalog"' "$KEEP_LOG" | tail -1)
[[ $line == *'"remote":"127.0.0.3"'* ]] || fail "the log line names another client: $line"
ok
