#!/usr/bin/env bash
# e2e_ctr: containerd's ctr (the containerd that a private dockerd runs)
# pulls from Keep over TLS, trusting Keep through a hosts.toml, with Basic
# credentials; the content it stores matches what was pushed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init ctr "${1:-}"
need skopeo ctr
keep_start
dockerd_start

for ((i = 0; i < 100; i++)); do [[ -S $CONTAINERD_SOCK ]] && break; sleep 0.1; done
[[ -S $CONTAINERD_SOCK ]] || fail "dockerd runs no containerd at $CONTAINERD_SOCK"
CTR=(ctr -a "$CONTAINERD_SOCK" -n keep-e2e)
"${CTR[@]}" version >/dev/null || fail "ctr cannot talk to containerd at $CONTAINERD_SOCK"

# ctr trusts Keep's self-signed certificate through --hosts-dir.
mkdir -p "$T/hosts/$KEEP_HOST"
cat >"$T/hosts/$KEEP_HOST/hosts.toml" <<EOF
server = "https://$KEEP_HOST"

[host."https://$KEEP_HOST"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$KEEP_CA"
EOF
CTR_PULL=("${CTR[@]}" images pull --hosts-dir "$T/hosts" --snapshotter native)
# ctr_digest REF: the manifest digest containerd recorded for REF.
ctr_digest() { "${CTR[@]}" images ls 2>/dev/null | awk -v r="$1" '$1 == r {print $3}'; }

make_test_image "$T/src" v1
v1_manifest=$IMG_MANIFEST
ref="$KEEP_HOST/e2e/ctr:v1"
check "skopeo pushes the test image to $ref"
skopeo_to_keep "oci:$T/src:v1" e2e/ctr:v1
ok

check "ctr images pull without credentials is refused"
if "${CTR_PULL[@]}" "$ref" >"$T/ctr-anon.log" 2>&1; then fail "ctr pulled without credentials"; fi
# Through the token flow ctr gets an anonymous token that grants nothing.
grep -qiE '401|unauthorized|insufficient_scope' "$T/ctr-anon.log" ||
  fail "anonymous ctr pull failed, but not for want of authorization: $(tail -n 3 "$T/ctr-anon.log")"
ok "$(grep -iE '401|unauthorized' "$T/ctr-anon.log" | tail -n1)"

check "ctr images pull --user admin:... $ref"
run_logged ctr-pull "${CTR_PULL[@]}" --user "$KEEP_CREDS" "$ref"
expect_eq "manifest digest ctr recorded" "$v1_manifest" "$(ctr_digest "$ref")"
for d in "$IMG_CONFIG" "${IMG_LAYERS[@]}"; do
  expect_eq "sha256 of $d in containerd's content store" "$d" \
    "sha256:$("${CTR[@]}" content get "$d" | sha256sum | cut -d' ' -f1)"
done

check "ctr pulls a Docker schema2 image (pushed with skopeo --format v2s2)"
skopeo_to_keep "oci:$T/src:v1" e2e/ctr:v2s2 --format v2s2
run_logged ctr-pull-v2s2 "${CTR_PULL[@]}" --user "$KEEP_CREDS" "$KEEP_HOST/e2e/ctr:v2s2"
fetch_manifest e2e/ctr v2s2 "$MT_DOCKER_MANIFEST" "$T/m-v2s2.json"
expect_eq "manifest digest ctr recorded" "$(header "$T/m-v2s2.json.headers" Docker-Content-Digest)" \
  "$(ctr_digest "$KEEP_HOST/e2e/ctr:v2s2")"

check "ctr pulls linux/arm64 from a multi-platform index"
make_multiarch_image "$T/multi" v1
skopeo_to_keep "oci:$T/multi:v1" e2e/ctr-multi:v1 --all
run_logged ctr-pull-multi "${CTR_PULL[@]}" --user "$KEEP_CREDS" --platform linux/arm64 \
  "$KEEP_HOST/e2e/ctr-multi:v1"
expect_eq "index digest ctr recorded" "$MULTI_INDEX" \
  "$(ctr_digest "$KEEP_HOST/e2e/ctr-multi:v1")"
expect_eq "arm64 config in containerd's content store" "$ARM64_CONFIG" \
  "sha256:$("${CTR[@]}" content get "$ARM64_CONFIG" | sha256sum | cut -d' ' -f1)"

check "ctr images push of the pulled image to a new tag"
run_logged ctr-tag "${CTR[@]}" images tag "$ref" "$KEEP_HOST/e2e/ctr-pushed:v1"
run_logged ctr-push "${CTR[@]}" images push --hosts-dir "$T/hosts" --user "$KEEP_CREDS" \
  "$KEEP_HOST/e2e/ctr-pushed:v1"
fetch_manifest e2e/ctr-pushed v1 "$ACCEPT_ALL_MANIFESTS" "$T/m-ctr-pushed.json"
expect_eq "manifest digest pushed by ctr" "$v1_manifest" "$(header "$T/m-ctr-pushed.json.headers" Docker-Content-Digest)"
