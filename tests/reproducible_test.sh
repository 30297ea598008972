#!/usr/bin/env bash
# reproducible: keepd and keepctl built again from the same sources, copied
# to another directory and built in a third, are the same bytes as this
# build's: no path, time or other trace of where and when they were built is
# in them (CMakeLists.txt maps the checkout's and the build's directories
# away; nothing reads the clock at build time). Neither directory's path is
# in keepd either.
#
#   bash tests/reproducible_test.sh SOURCE_DIR BUILD_DIR BUILD_TYPE CXX KEEPD KEEPCTL
#
# The copy holds the files of the checkout as they are now (git's tracked
# and untracked, not ignored, files), and is built with the commit this
# build names (a copy has no git history), without ccache and without the
# tests. It takes a build of keepd and keepctl.
set -euo pipefail
src=$1 build=$2 type=$3 cxx=$4 keepd=$5 keepctl=$6
fail() { echo "FAIL: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/keep-reproducible.XXXXXX)
trap 'rm -rf "$work"' EXIT
other="$work/elsewhere/keep-sources"
mkdir -p "$other"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -t "$other")
commit=$(sed -n 's/.*CommitText() { return "\(.*\)"; }.*/\1/p' "$build/generated/version.cc")
[ -n "$commit" ] || fail "cannot read the commit this build names from $build/generated/version.cc"

CCACHE_DISABLE=1 cmake -S "$other" -B "$work/out" -DCMAKE_BUILD_TYPE="$type" \
  -DCMAKE_CXX_COMPILER="$cxx" -DKEEP_GIT_COMMIT="$commit" -DKEEP_TESTS=OFF >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; fail "configuring the copy failed"; }
CCACHE_DISABLE=1 cmake --build "$work/out" --target keepd keepctl -j"$(nproc)" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; fail "building the copy failed"; }

status=0
for dir in "$src" "$build"; do
  if strings "$keepd" | grep -qF "$dir"; then
    status=1
    echo "FAIL: keepd holds the path $dir:" >&2
    strings "$keepd" | grep -F "$dir" | head -5 | sed 's/^/  /' >&2
  fi
done
[ $status = 0 ] && echo "reproducible: keepd holds no path of the checkout or the build"
for pair in "$keepd:$work/out/keepd" "$keepctl:$work/out/cli/keepctl"; do
  a=${pair%%:*} b=${pair#*:}
  if cmp -s "$a" "$b"; then
    echo "reproducible: $(basename "$a") is the same $(stat -c %s "$a") bytes, sha256 $(sha256sum "$a" | cut -c1-16)..."
  else
    status=1
    echo "FAIL: $(basename "$a") differs between $a and $b" >&2
    # Where: the sections whose contents differ, and any path of either build left in them.
    for s in $(readelf -SW "$a" | awk '$2 ~ /^\./ {print $2}'); do
      if ! cmp -s <(objcopy -O binary --only-section="$s" "$a" /dev/stdout 2>/dev/null) \
        <(objcopy -O binary --only-section="$s" "$b" /dev/stdout 2>/dev/null); then
        echo "  section $s differs" >&2
      fi
    done
    strings "$a" | grep -F -e "$src" -e "$build" | head -5 | sed 's/^/  path in this build: /' >&2 || true
    strings "$b" | grep -F -e "$work" | head -5 | sed 's/^/  path in the copy: /' >&2 || true
  fi
done
exit $status
