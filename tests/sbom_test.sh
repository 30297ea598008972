#!/usr/bin/env bash
# sbom: the bill of materials the build made for keepd (deploy/sbom.sh) is
# CycloneDX 1.5 JSON naming keepd by the SHA-256 of this very binary; it
# lists the Debian package of every shared library keepd loads (ldd), each
# at the version dpkg has installed, with a package URL that says so, and
# marks the ones keepd names itself (its dynamic section) as direct; the
# header-only libraries compiled in are listed too; and making it again
# gives the same bytes.
#
#   bash tests/sbom_test.sh KEEPD KEEPD.cdx.json deploy/sbom.sh
set -euo pipefail
keepd=$1 sbom=$2 script=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -s "$sbom" ] || fail "$sbom was not made by the build"
jq -e . "$sbom" >/dev/null || fail "$sbom is not JSON"

check() { jq -e "$1" "$sbom" >/dev/null || fail "$2"; }
check '.bomFormat == "CycloneDX" and .specVersion == "1.5"' "not CycloneDX 1.5"
check '.serialNumber | test("^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$")' \
  "serialNumber is no UUID URN"
want_hash=$(sha256sum "$keepd" | cut -d' ' -f1)
got_hash=$(jq -r '.metadata.component.hashes[0].content' "$sbom")
[ "$got_hash" = "$want_hash" ] || fail "the SBOM names a keepd of SHA-256 $got_hash, not this one ($want_hash)"
check '.metadata.component.name == "keepd" and (.metadata.component.version | length > 0)' \
  "the SBOM's component is not keepd with a version"

package_of() {
  local path=$1 real c owner
  real=$(readlink -f "$path")
  for c in "$path" "$real" "${real#/usr}" "/usr$path"; do
    if owner=$(dpkg -S "$c" 2>/dev/null); then owner=${owner%%: *}; echo "${owner%%:*}"; return; fi
  done
  fail "no package holds $path"
}
direct=$(readelf -d "$keepd" | awk '/\(NEEDED\)/ {gsub(/[\[\]]/, "", $5); print $5}')
n=0
while read -r lib path; do
  pkg=$(package_of "$path")
  ver=$(dpkg-query -W -f '${Version}' "$pkg")
  listed=$(jq -r --arg p "$pkg" '.components[] | select(.name == $p) | .version' "$sbom")
  [ "$listed" = "$ver" ] || fail "$lib comes from $pkg $ver, but the SBOM lists ${listed:-nothing}"
  purl=$(jq -r --arg p "$pkg" '.components[] | select(.name == $p) | .purl' "$sbom")
  case $purl in "pkg:deb/debian/$pkg@"*"?arch="*"&distro=debian-"*) ;; *) fail "purl of $pkg: $purl" ;; esac
  if grep -qxF "$lib" <<<"$direct"; then
    linkage=$(jq -r --arg p "$pkg" '.components[] | select(.name == $p) | .properties[0].value' "$sbom")
    [ "$linkage" = direct ] || fail "keepd names $lib itself, but $pkg is marked $linkage"
  fi
  n=$((n + 1))
done < <(ldd "$keepd" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
[ "$n" -ge 5 ] || fail "ldd listed only $n libraries"
for pkg in libssl3 libsqlite3-0 libsodium23 libseccomp2 libboost1.81-dev nlohmann-json3-dev; do
  check "[.components[].name] | index(\"$pkg\")" "$pkg is missing"
done
check '[.components[] | select((.version | length) == 0)] | length == 0' "a component has no version"
check '(.dependencies[0].dependsOn | length) == (.components | length)' \
  "keepd's dependencies do not name every component"

again=$(mktemp)
trap 'rm -f "$again"' EXIT
bash "$script" "$keepd" keepd "$(jq -r .metadata.component.version "$sbom")" >"$again"
cmp -s "$again" "$sbom" || fail "making the SBOM again gives other bytes"
echo "sbom: $(jq '.components | length' "$sbom") packages, $n libraries checked"
