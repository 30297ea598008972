#!/usr/bin/env bash
# deploy/sbom.sh — the software bill of materials of a Keep binary, as
# CycloneDX 1.5 JSON on stdout: every Debian package whose shared library it
# loads (directly or through another library), and the packages of the
# header-only libraries compiled into it, each with the exact version dpkg
# has installed and a package URL (pkg:deb/debian/...).
#
#   deploy/sbom.sh BINARY NAME VERSION > NAME.cdx.json
#
# The build makes build/keepd.cdx.json with it. The output depends only on
# the binary and the installed packages: no time, path or random serial
# number, so that two builds of one commit on one system agree.
set -euo pipefail
binary=${1:?usage: deploy/sbom.sh BINARY NAME VERSION}
name=${2:?usage: deploy/sbom.sh BINARY NAME VERSION}
version=${3:?usage: deploy/sbom.sh BINARY NAME VERSION}

# Compiled in from headers alone: they appear in no dynamic section.
header_only=(libboost1.81-dev nlohmann-json3-dev)

# The package that installed a library file, trying the path as given and
# as resolved, with and without /usr (Debian 12 merges /lib into /usr/lib,
# and dpkg knows each file under the path its package used).
package_of() {
  local path=$1 real candidate owner
  real=$(readlink -f "$path")
  for candidate in "$path" "$real" "${real#/usr}" "/usr$path"; do
    if owner=$(dpkg -S "$candidate" 2>/dev/null); then
      owner=${owner%%: *}
      echo "${owner%%:*}"  # without an :arch qualifier
      return 0
    fi
  done
  echo "sbom: no Debian package holds $path" >&2
  return 1
}

direct=$(readelf -d "$binary" | awk '/\(NEEDED\)/ {gsub(/[\[\]]/, "", $5); print $5}')
declare -A kind  # package -> direct | indirect | compiled-in
while read -r lib path; do
  pkg=$(package_of "$path")
  if grep -qxF "$lib" <<<"$direct"; then
    kind[$pkg]=direct
  else
    kind[$pkg]=${kind[$pkg]:-indirect}
  fi
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
for pkg in "${header_only[@]}"; do kind[$pkg]=compiled-in; done

# A serial number derived from the binary: the same binary, the same number.
sum=$(sha256sum "$binary" | cut -c1-32)
serial="${sum:0:8}-${sum:8:4}-5${sum:13:3}-8${sum:17:3}-${sum:20:12}"

arch=$(dpkg --print-architecture)
distro="debian-$(cut -d. -f1 /etc/debian_version)"
printf '{\n  "bomFormat": "CycloneDX",\n  "specVersion": "1.5",\n'
printf '  "serialNumber": "urn:uuid:%s",\n  "version": 1,\n' "$serial"
printf '  "metadata": {\n    "component": {"type": "application", "bom-ref": "%s", "name": "%s", "version": "%s",\n' \
  "$name" "$name" "$version"
printf '      "hashes": [{"alg": "SHA-256", "content": "%s"}]}\n  },\n' "$(sha256sum "$binary" | cut -d' ' -f1)"
printf '  "components": [\n'
first=1
refs=()
for pkg in $(printf '%s\n' "${!kind[@]}" | LC_ALL=C sort); do
  ver=$(dpkg-query -W -f '${Version}' "$pkg")
  pkg_arch=$(dpkg-query -W -f '${Architecture}' "$pkg")
  [ "$pkg_arch" = all ] || pkg_arch=$arch
  # A purl's version escapes ':' (an epoch) and '+' as percent codes.
  purl_ver=$(printf '%s' "$ver" | sed 's/%/%25/g; s/:/%3A/g; s/+/%2B/g')
  ref="pkg:deb/debian/$pkg@$purl_ver?arch=$pkg_arch&distro=$distro"
  [ $first = 1 ] || printf ',\n'
  first=0
  printf '    {"type": "library", "bom-ref": "%s", "name": "%s", "version": "%s", "purl": "%s",\n' \
    "$ref" "$pkg" "$ver" "$ref"
  printf '     "properties": [{"name": "keep:linkage", "value": "%s"}]}' "${kind[$pkg]}"
  refs+=("\"$ref\"")
done
printf '\n  ],\n'
printf '  "dependencies": [{"ref": "%s", "dependsOn": [%s]}]\n}\n' "$name" "$(IFS=,; echo "${refs[*]}")"
