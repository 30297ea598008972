#!/usr/bin/env bash
# deploy/image/build.sh — Keep's own container image, assembled from the
# binaries of this build and the files of this system, with no base image
# from anywhere: an OCI image layout holding keepd, keepctl, the shared
# libraries they load (and the dynamic loader), the CA certificates, a
# passwd/group naming the user it runs as, and a default config. No shell,
# no package manager, no other program.
#
#   deploy/image/build.sh KEEPD KEEPCTL LAYOUT [TAG]   (TAG: the version)
#
# It prints the image manifest's digest, and writes the bill of materials of
# the image's keepd (deploy/sbom.sh) to LAYOUT.keepd.cdx.json, to attach to
# the image as a referrer.
#
# The image runs as user and group 65532 ("keep"), serves HTTPS on port 5000
# with its data in the volume /var/lib/keep (owned by 65532), and writes
# nowhere else: it runs with a read-only root filesystem. Every file's time
# is SOURCE_DATE_EPOCH (else the last commit's time, else 0) and nothing else
# varies, so one build's binaries give one image digest. deploy/image/
# README.md says how to push, sign and run it.
set -euo pipefail
keepd=$(readlink -f "${1:?usage: build.sh KEEPD KEEPCTL LAYOUT [TAG]}")
keepctl=$(readlink -f "${2:?usage: build.sh KEEPD KEEPCTL LAYOUT [TAG]}")
layout=${3:?usage: build.sh KEEPD KEEPCTL LAYOUT [TAG]}
tag=${4:-latest}
here=$(cd "$(dirname "$0")" && pwd)
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)}
uid=65532

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
# /proc, /sys and /dev stay empty: where a runtime mounts its own.
mkdir -p "$root/usr/bin" "$root/etc/keep" "$root/etc/ssl/certs" "$root/var/lib/keep" \
  "$root/proc" "$root/sys" "$root/dev"
# Without their debugging sections (objcopy's output depends on its input alone).
for b in keepd keepctl; do
  src=$keepd
  [ $b = keepctl ] && src=$keepctl
  objcopy --strip-debug "$src" "$root/usr/bin/$b"
  chmod 0755 "$root/usr/bin/$b"
done

# Each library at the path the loader finds it by (its soname under the
# directory ldd names), and the loader itself at the path the binaries ask for.
while read -r path; do
  mkdir -p "$root$(dirname "$path")"
  install -m 0644 "$(readlink -f "$path")" "$root$path"
done < <(ldd "$keepd" "$keepctl" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' |
  LC_ALL=C sort -u)
chmod 0755 "$root"/lib64/ld-linux-* 2>/dev/null || true

install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/nonexistent\nkeep:x:%d:%d:Keep registry:/var/lib/keep:/nonexistent\n' \
  "$uid" "$uid" >"$root/etc/passwd"
printf 'root:x:0:\nkeep:x:%d:\n' "$uid" >"$root/etc/group"
cat >"$root/etc/keep/keep.json" <<'JSON'
{
  "listen": "0.0.0.0:5000",
  "data_dir": "/var/lib/keep"
}
JSON
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/keep/keep.json"

# Two layers: everything, owned by root; then the data directory, owned by
# keep (tar gives one owner to a whole archive).
tar_layer() {  # OUT OWNER LIST: the paths in LIST (relative to $root), each alone
  tar -C "$root" --sort=name --mtime="@$epoch" --owner="$2" --group="$2" --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --no-recursion -T "$3" -cf "$1"
}
(cd "$root" && find . -mindepth 1 ! -path ./var/lib/keep -printf '%P\n') | LC_ALL=C sort >"$work/base.list"
echo var/lib/keep >"$work/data.list"
tar_layer "$work/base.tar" 0 "$work/base.list"
tar_layer "$work/data.tar" "$uid" "$work/data.list"

mkdir -p "$layout/blobs/sha256"
blob() {  # FILE: stores it, prints its digest
  local d
  d=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$layout/blobs/sha256/$d"
  echo "sha256:$d"
}
size() { stat -c %s "$1"; }
layers="" diffs=""
for t in base data; do
  diffs+="${diffs:+,}\"sha256:$(sha256sum "$work/$t.tar" | cut -d' ' -f1)\""
  gzip -9 -n <"$work/$t.tar" >"$work/$t.tar.gz"
  layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$(blob "$work/$t.tar.gz")\",\"size\":$(size "$work/$t.tar.gz")}"
done
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
cat >"$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"$created","config":{"User":"$uid:$uid","Entrypoint":["/usr/bin/keepd"],"Cmd":["--config","/etc/keep/keep.json"],"ExposedPorts":{"5000/tcp":{}},"Volumes":{"/var/lib/keep":{}},"WorkingDir":"/var/lib/keep","Env":["PATH=/usr/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],"Labels":{"org.opencontainers.image.title":"keep","org.opencontainers.image.version":"$tag","org.opencontainers.image.description":"Keep, a container registry that serves only signed images"}},"rootfs":{"type":"layers","diff_ids":[$diffs]}}
JSON
config_digest=$(blob "$work/config.json")
cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config_digest","size":$(size "$work/config.json")},"layers":[$layers],"annotations":{"org.opencontainers.image.version":"$tag","org.opencontainers.image.created":"$created"}}
JSON
manifest_digest=$(blob "$work/manifest.json")
printf '{"imageLayoutVersion":"1.0.0"}\n' >"$layout/oci-layout"
cat >"$layout/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$manifest_digest","size":$(size "$work/manifest.json"),"annotations":{"org.opencontainers.image.ref.name":"$tag"}}]}
JSON
bash "$here/../sbom.sh" "$root/usr/bin/keepd" keepd "$tag" >"${layout%/}.keepd.cdx.json"
echo "$manifest_digest"
