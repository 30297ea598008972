#!/usr/bin/env bash
# e2e_docker_trust: with a real dockerd, a publisher's unsigned `docker push`
# is quarantined: a reader's `docker pull` is refused and docker's error shows
# Keep's DENIED message. After `keepctl sign` with a key the namespace trusts,
# the same pull works and gives the same image; `keepctl verify` says so. An
# image `skopeo copy --sign-by` signed with a GPG key the namespace trusts is
# pulled by the reader's docker too.
# Run as `bash docker_trust_test.sh PATH/TO/keepd PATH/TO/keepctl`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init docker_trust "${1:-}" "${2:-}"
[[ -n "${KEEPCTL:-}" ]] || fail "usage: $0 PATH/TO/keepd PATH/TO/keepctl"
need skopeo dockerd gpg
keep_start
dockerd_start

# keepctl with credentials of its own under $T, never the host's.
export XDG_CONFIG_HOME="$T/keepctl-config"
unset KEEPCTL_CONFIG KEEPCTL_PASSWORD KEEPCTL_KEY_PASSPHRASE
PUB_PASSWORD="publisher-password-$RANDOM"
RDR_PASSWORD="reader-password-$RANDOM"

check "keepctl login as admin, with keepd's certificate as CA"
printf '%s' "$E2E_ADMIN_PASSWORD" >"$T/pw"
run_logged keepctl-login "$KEEPCTL" login "$KEEP_URL" --user "$E2E_ADMIN_USER" \
  --password-stdin --ca "$KEEP_CA" <"$T/pw"
ok "$(cat "$T/keepctl-login.log")"

check "namespace 'signed' (default policy: quarantine), a publisher, a reader, a trusted key"
run_logged keepctl-ns "$KEEPCTL" namespace create signed
run_logged keepctl-policy "$KEEPCTL" --output json policy show signed
expect_eq "policy mode of signed" quarantine "$(jq -r .mode "$T/keepctl-policy.log")"
printf '%s' "$PUB_PASSWORD" >"$T/pw"
run_logged keepctl-user-pub "$KEEPCTL" user add pub --password-stdin <"$T/pw"
printf '%s' "$RDR_PASSWORD" >"$T/pw"
run_logged keepctl-user-rdr "$KEEPCTL" user add rdr --password-stdin <"$T/pw"
run_logged keepctl-member-pub "$KEEPCTL" member add signed pub --role publisher
run_logged keepctl-member-rdr "$KEEPCTL" member add signed rdr --role reader
mkdir -m 700 "$T/keys"
run_logged keepctl-keygen "$KEEPCTL" key generate --out "$T/keys/release"
KEY_ID=$(sed -n 's/^key_id: //p' "$T/keepctl-keygen.log")
[[ $KEY_ID =~ ^[0-9a-f]{64}$ ]] || fail "key generate printed no key_id: $(cat "$T/keepctl-keygen.log")"
run_logged keepctl-keyadd "$KEEPCTL" key add signed --name release --file "$T/keys/release.pub"
expect_eq "key id the registry stored" "$KEY_ID" "$(sed -n 's/^key_id: //p' "$T/keepctl-keyadd.log")"

make_test_image "$T/src" v1
ref="$KEEP_HOST/signed/app:v1"
check "docker load of the test image"
docker_load "$T/src:v1" "$ref"

# The publisher uses DOCKER_CONFIG from dockerd_start; the reader a config of their own.
READER_CONFIG="$T/docker/config-reader"
mkdir -p "$READER_CONFIG"
as_reader() { DOCKER_CONFIG="$READER_CONFIG" "${DOCKER[@]}" "$@"; }

check "the publisher pushes the unsigned image with docker: accepted, quarantined"
printf '%s' "$PUB_PASSWORD" >"$T/pw"
run_logged docker-login-pub "${DOCKER[@]}" login -u pub --password-stdin "$KEEP_HOST" <"$T/pw"
run_logged docker-push "${DOCKER[@]}" push "$ref"
pushed=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\) size: .*/\1/p' "$T/docker-push.log")
[[ -n $pushed ]] || fail "docker push printed no digest: $(tail -n 3 "$T/docker-push.log")"
grep '"event":"manifest accepted, quarantined"' "$KEEP_ERR" | grep -q "\"digest\":\"$pushed\"" ||
  fail "no audit line for the quarantined push of $pushed"
ok "pushed $pushed, quarantined"

# reader_pull NAME: the reader's docker pull of $ref, with the image removed
# first so that it comes from Keep; docker's output in $T/NAME.log.
reader_pull() {
  "${DOCKER[@]}" rmi -f "$ref" >/dev/null 2>&1 || true
  "${DOCKER[@]}" image inspect "$ref" >/dev/null 2>&1 && fail "$ref still present after rmi"
  log "$ docker pull $ref (as rdr)"
  as_reader pull "$ref" >"$T/$1.log" 2>&1
}

check "the reader's docker pull is refused, and docker shows Keep's message"
printf '%s' "$RDR_PASSWORD" >"$T/pw"
run_logged docker-login-rdr as_reader login -u rdr --password-stdin "$KEEP_HOST" <"$T/pw"
if reader_pull pull-unsigned; then fail "the reader pulled an unsigned image"; fi
if ! grep -q "quarantined" "$T/pull-unsigned.log"; then
  sed 's/^/    | /' "$T/pull-unsigned.log" >&2
  if grep -q "quarantined" "$DOCKERD_LOG"; then
    fail "Keep's message is only in dockerd's log, not in what docker showed the user (above)"
  fi
  fail "the refusal does not say why (docker's output above)"
fi
ok "$(grep -o 'denied:.*' "$T/pull-unsigned.log" | head -n1 | cut -c1-200)"

check "keepctl sign signed/app:v1 with the trusted key"
run_logged keepctl-sign "$KEEPCTL" sign signed/app:v1 --key "$T/keys/release.key"
expect_eq "keepctl sign" "Signed signed/app@$pushed with key $KEY_ID" "$(cat "$T/keepctl-sign.log")"

check "the same docker pull by the reader now works and gives the same image"
reader_pull pull-signed || {
  sed 's/^/    | /' "$T/pull-signed.log" >&2
  fail "the reader's pull of the signed image failed (docker's output above)"
}
expect_eq "image ID the reader pulled" "$IMG_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$ref")"
expect_eq "repo digest the reader pulled" "$KEEP_HOST/signed/app@$pushed" \
  "$("${DOCKER[@]}" image inspect -f '{{join .RepoDigests " "}}' "$ref")"

check "keepctl verify signed/app:v1 exits 0"
run_logged keepctl-verify "$KEEPCTL" verify signed/app:v1
grep -q "^trusted: yes" "$T/keepctl-verify.log" ||
  fail "verify does not say trusted: $(cat "$T/keepctl-verify.log")"
grep -q "^$KEY_ID  release " "$T/keepctl-verify.log" ||
  fail "verify does not list key $KEY_ID: $(cat "$T/keepctl-verify.log")"
ok "$(grep '^trusted:' "$T/keepctl-verify.log")"

check "skopeo copy --sign-by with a trusted GPG key; the reader's docker pull of it works"
gpg_key_init "$T/keys/gpg.asc"
run_logged keepctl-key-gpg "$KEEPCTL" key add signed --name gpg-release --file "$T/keys/gpg.asc"
expect_eq "key id of the OpenPGP key" "$FPR" "$(sed -n 's/^key_id: //p' "$T/keepctl-key-gpg.log")"
gref="$KEEP_HOST/signed/gpg:v1"
run_logged skopeo-sign-by skopeo copy --retry-times 0 --dest-cert-dir "$CERT_DIR" \
  --dest-creds "pub:$PUB_PASSWORD" --sign-by "$FPR" "oci:$T/src:v1" "docker://$gref"
run_logged keepctl-verify-gpg "$KEEPCTL" --output json verify signed/gpg:v1
expect_eq "format of its signature" gpg "$(jq -r '.signatures[0].format' "$T/keepctl-verify-gpg.log")"
"${DOCKER[@]}" rmi -f "$gref" >/dev/null 2>&1 || true
log "$ docker pull $gref (as rdr)"
as_reader pull "$gref" >"$T/pull-gpg.log" 2>&1 || {
  sed 's/^/    | /' "$T/pull-gpg.log" >&2
  fail "the reader's docker pull of the GPG-signed image failed (docker's output above)"
}
expect_eq "image ID the reader pulled" "$IMG_CONFIG" "$("${DOCKER[@]}" image inspect -f '{{.Id}}' "$gref")"
