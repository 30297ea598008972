#!/usr/bin/env bash
# e2e_client_cert: with tls.client_ca set, skopeo and podman push and pull
# as a robot account with nothing but its client certificate in their
# certificate directory (no login): the certificate's common name names the
# robot, and its scopes are all it gets. Without the certificate the same
# push is refused; a certificate naming the admin signs no one in.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init client_cert "${1:-}"
need skopeo
need openssl
podman_init

# ---- a CA and certificates it issued -----------------------------------------
pki="$T/pki"
mkdir -p "$pki"
printf 'extendedKeyUsage=clientAuth\n' >"$pki/client.ext"
run_logged pki-ca openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj '/CN=E2E client CA' -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign -keyout "$pki/ca.key" -out "$pki/ca.crt"
issue() { # NAME CN
  run_logged "pki-$1-req" openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  run_logged "pki-$1" openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 2 -extfile "$pki/client.ext" -out "$pki/$1.crt"
}
issue ci ci
issue admin admin

KEEP_CONFIG_EXTRA="\"tls\":{\"client_ca\":\"$pki/ca.crt\"}" keep_start

admin_api POST /namespaces '{"name":"e2e"}' >/dev/null
admin_api PUT /namespaces/e2e/policy '{"mode":"open"}' >/dev/null
admin_api POST /robots '{"name":"ci","scopes":[{"namespace":"e2e","actions":["pull","push"]}]}' >/dev/null

# A certificate directory as the clients read it: ca.crt, and <name>.cert
# with <name>.key.
certdir() { # DIR [NAME]
  mkdir -p "$1"
  cp "$KEEP_CA" "$1/ca.crt"
  if [[ -n ${2:-} ]]; then
    cp "$pki/$2.crt" "$1/$2.cert"
    cp "$pki/$2.key" "$1/$2.key"
  fi
}
certdir "$T/as-ci" ci
certdir "$T/as-admin" admin
certdir "$T/as-nobody"
export REGISTRY_AUTH_FILE="$T/no-logins.json"
echo '{}' >"$REGISTRY_AUTH_FILE"

make_test_image "$T/src" v1

check "skopeo copy with no certificate and no login is refused"
if skopeo copy --retry-times 0 --dest-cert-dir "$T/as-nobody" "oci:$T/src:v1" \
  "docker://$KEEP_HOST/e2e/cert:v1" >"$T/nocert.log" 2>&1; then
  fail "a push without credentials went through"
fi
grep -qi "denied\|unauthorized\|authentication required" "$T/nocert.log" || fail "unexpected refusal: $(tail -3 "$T/nocert.log")"
ok

check "skopeo copy with a certificate naming the admin is refused (only robots sign in so)"
if skopeo copy --retry-times 0 --dest-cert-dir "$T/as-admin" "oci:$T/src:v1" \
  "docker://$KEEP_HOST/e2e/cert:v1" >"$T/admincert.log" 2>&1; then
  fail "a certificate naming the admin pushed"
fi
grep -q "no robot account" "$T/admincert.log" || fail "unexpected refusal: $(tail -3 "$T/admincert.log")"
ok

check "skopeo copy with robot ci's certificate alone pushes"
run_logged skopeo-cert-push skopeo copy --retry-times 0 --dest-cert-dir "$T/as-ci" \
  "oci:$T/src:v1" "docker://$KEEP_HOST/e2e/cert:v1"
fetch_manifest e2e/cert v1 "$MT_OCI_MANIFEST" "$T/m.json"
expect_eq "sha256 of the served manifest" "$IMG_MANIFEST" "sha256:$(sha256_of "$T/m.json")"
grep -q '"method":"PUT".*"path":"/v2/e2e/cert/manifests/v1".*"user":"robot+ci"' "$KEEP_LOG" ||
  fail "the request log does not name robot+ci as the manifest's pusher"
ok "the log names robot+ci"

check "podman pull with robot ci's certificate alone gets the same image"
run_logged podman-cert-pull "${PODMAN[@]}" pull --cert-dir "$T/as-ci" "$KEEP_HOST/e2e/cert:v1"
expect_eq "image ID after pull" "${IMG_CONFIG#sha256:}" \
  "$("${PODMAN[@]}" image inspect --format '{{.Id}}' "$KEEP_HOST/e2e/cert:v1")"

check "the robot's scopes still bound it: a push elsewhere is refused"
admin_api POST /namespaces '{"name":"other"}' >/dev/null
if skopeo copy --retry-times 0 --dest-cert-dir "$T/as-ci" "oci:$T/src:v1" \
  "docker://$KEEP_HOST/other/cert:v1" >"$T/other.log" 2>&1; then
  fail "robot ci pushed outside its scopes"
fi
ok

