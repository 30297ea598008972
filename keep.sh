#!/usr/bin/env bash
# Keep's two commands (see README.md):
#   ./keep.sh run    install what is missing, build, start keepd with the embedded defaults
#   ./keep.sh test   install what is missing, build, run the whole test suite
# Also: ./keep.sh build, ./keep.sh deps [build|test|bench], ./keep.sh bench
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
BUILD=${KEEP_BUILD_DIR:-$ROOT/build}

BUILD_PKGS=(build-essential cmake pkg-config libboost1.81-dev libboost-url1.81-dev libssl-dev
            libsqlite3-dev libpq-dev libsodium-dev librnp-dev libseccomp-dev nlohmann-json3-dev openssl ca-certificates)
TEST_PKGS=(libgtest-dev skopeo podman umoci docker.io docker-registry jq curl uidmap iproute2
           procps gnupg nginx clang libclang-rt-14-dev clang-format clang-tidy systemd
           ceph-mon ceph-osd radosgw ceph-common postgresql)
BENCH_PKGS=(wrk docker-registry nginx jq curl iproute2 ceph-mon ceph-osd radosgw ceph-common postgresql)

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs the packages that are not installed yet (apt-get update first).
install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "keep.sh: installing ${missing[*]}"
  sudo_if_needed apt-get update -q
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Node.js and npm run sigstore's JavaScript libraries in e2e_cosign_bundle and e2e_keyless.
# Debian's packages only when no node/npm is there already: a machine may
# have Node.js from elsewhere, and Debian's npm would fight it.
install_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then return 0; fi
  install_packages nodejs npm
}

# sigstore's JavaScript libraries for e2e_cosign_bundle and e2e_keyless, pinned by
# tests/e2e/sigstore/package-lock.json, installed into node_modules there
# now so that the test itself needs no network. npm ci runs again only when
# the lock file changed since the last install.
SIGSTORE_JS=$ROOT/tests/e2e/sigstore
install_sigstore_js() {
  install_node
  local stamp=$SIGSTORE_JS/node_modules/.keep-package-lock.sha256 want
  want=$(sha256sum "$SIGSTORE_JS/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "keep.sh: installing sigstore's JavaScript libraries (npm ci in $SIGSTORE_JS)"
  npm ci --prefix "$SIGSTORE_JS" --no-audit --no-fund
  echo "$want" >"$stamp"
}

# Signatures that cosign itself made, with their payloads, images' manifests
# and key: the published fixtures of the containers/image library, from
# Debian's package of its source. Only that one .deb is fetched and unpacked
# (installing it would pull in hundreds of Go packages); the unit test
# trust_cosign_published_test reads them from here.
PUBLISHED=$ROOT/tests/published
fetch_published_fixtures() {
  local pkg=golang-github-containers-image-dev
  local dest=$PUBLISHED/containers-image
  if [ -f "$dest/cosign.pub" ]; then return 0; fi
  echo "keep.sh: fetching cosign-made signature fixtures ($pkg)"
  local tmp
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # apt fetches as its own user where it can
  (cd "$tmp" && { apt-get download "$pkg" >/dev/null 2>&1 ||
                  { sudo_if_needed apt-get update -q >/dev/null && apt-get download "$pkg" >/dev/null; }; })
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/x"
  mkdir -p "$dest"
  cp -rL "$tmp/x/usr/share/gocode/src/github.com/containers/image/signature/fixtures/." "$dest/"
  rm -rf "$tmp"
}

# Configures and builds the given targets (all of them when none are given).
# Options for the configure step are in CMAKE_OPTIONS (an array). Warnings
# are errors only when KEEP_WERROR=ON (./keep.sh test sets it); it is passed
# every time, so a build dir the tests used builds keepd without it.
CMAKE_OPTIONS=()
build() {
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKEEP_WERROR="${KEEP_WERROR:-OFF}" "${CMAKE_OPTIONS[@]}" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" ${1:+--target "$@"}
}

# The data_dir of the config file given to keepd with --config, if it names one.
config_data_dir() {
  local file=
  while [ $# -gt 0 ]; do
    case "$1" in
      --config) file=${2:-}; shift ;;
      --config=*) file=${1#--config=} ;;
    esac
    shift
  done
  [ -n "$file" ] && [ -r "$file" ] || return 0
  sed -n 's/.*"data_dir"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$file" | head -n 1
}

run() {
  install_packages "${BUILD_PKGS[@]}"
  build keepd keepctl   # only what serving needs; ./keep.sh test builds the rest
  # The data directory: KEEP_DATA_DIR when the user set it, else the config
  # file's data_dir, else the default (KEEP_DATA_DIR would override the file).
  local from_file
  from_file=$(config_data_dir "$@")
  local data=${KEEP_DATA_DIR:-${from_file:-}}
  if [ "$(id -u)" = 0 ]; then
    install -m 0755 "$BUILD/keepd" /usr/local/bin/keepd
    install -m 0755 "$BUILD/cli/keepctl" /usr/local/bin/keepctl
    # Never serve as root: a system user owns the data directory and runs keepd.
    id keep >/dev/null 2>&1 || useradd --system --home-dir /var/lib/keep --shell /usr/sbin/nologin keep
    data=${data:-/var/lib/keep}
    install -d -o keep -g keep -m 0700 "$data"
    echo "keep.sh: keepctl is /usr/local/bin/keepctl; starting keepd as user 'keep', data in $data"
    if [ -n "$from_file" ] && [ -z "${KEEP_DATA_DIR:-}" ]; then
      exec setpriv --reuid=keep --regid=keep --init-groups /usr/local/bin/keepd "$@"
    fi
    exec setpriv --reuid=keep --regid=keep --init-groups env KEEP_DATA_DIR="$data" /usr/local/bin/keepd "$@"
  fi
  # keepctl for this user, where Debian's ~/.profile puts bin directories on the PATH.
  install -D -m 0755 "$BUILD/cli/keepctl" "$HOME/.local/bin/keepctl"
  case ":$PATH:" in
    *":$HOME/.local/bin:"*) echo "keep.sh: keepctl is $HOME/.local/bin/keepctl" ;;
    *) echo "keep.sh: keepctl is $HOME/.local/bin/keepctl (not on your PATH yet: log in again, or add it)" ;;
  esac
  if [ -n "$from_file" ] && [ -z "${KEEP_DATA_DIR:-}" ]; then exec "$BUILD/keepd" "$@"; fi
  exec env KEEP_DATA_DIR="${data:-$ROOT/keep-data}" "$BUILD/keepd" "$@"
}

run_tests() {
  install_packages "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
  install_sigstore_js
  fetch_published_fixtures
  # A clang build with ASan and UBSan, in a dir of its own: the libFuzzer
  # targets (tests/fuzz), which the fuzz_short test runs for a few seconds
  # each, and keepd from the same instrumented libraries, which the whole
  # integration suite runs against too (the test integration_sanitized).
  # -O1 -g1, as ASan advises: reports keep file and line, and it builds
  # quicker than the main build's -O2 -g.
  local fuzz_build=$ROOT/build-fuzz
  cmake -S "$ROOT" -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_COMPILER=clang++ -DKEEP_FUZZ=ON >/dev/null
  cmake --build "$fuzz_build" --target keep_fuzz keepd -j"$(nproc)"
  CMAKE_OPTIONS=(-DKEEP_SANITIZED_KEEPD="$fuzz_build/keepd")
  KEEP_WERROR=ON build  # CI fails on a compiler warning; ctest runs tests/check_format.sh
  cd "$BUILD"
  # ctest counts a skipped test as passed: every skip is printed with its
  # reason, and one that tests/allowed_skips.txt does not name fails the run.
  local results=$BUILD/ctest-results.xml status=0
  rm -f "$results"
  if [ $# -gt 0 ]; then
    ctest --output-on-failure --timeout 900 --output-junit "$results" "$@" || status=$?
    "$ROOT/tests/check_skips.sh" "$results" "$ROOT/tests/allowed_skips.txt" || status=1
    return "$status"
  fi
  # The whole suite, as many tests at a time as there are cores: most of them
  # wait on daemons and clients. Tests that must not run together say so
  # (RESOURCE_LOCK, RUN_SERIAL), and the longest start first (COST). The test
  # `reproducible` compiles keepd and keepctl again, minutes of both cores:
  # it runs beside them at the lowest priority, from the tests directory so
  # that its ctest keeps its own log, and is reported at the end.
  local repro_results=$BUILD/ctest-reproducible.xml repro_log=$BUILD/reproducible.log repro
  rm -f "$repro_results"
  (cd "$BUILD/tests" && exec nice -n 19 ctest --output-on-failure --timeout 1800 \
    --output-junit "$repro_results" -R '^reproducible$') >"$repro_log" 2>&1 &
  repro=$!
  ctest --output-on-failure --timeout 900 --output-junit "$results" -j"$(nproc)" \
    -E '^reproducible$' || status=$?
  wait "$repro" || status=$?
  echo "---- the test reproducible, run beside the others ----"
  cat "$repro_log"
  "$ROOT/tests/check_skips.sh" "$results" "$ROOT/tests/allowed_skips.txt" || status=1
  "$ROOT/tests/check_skips.sh" "$repro_results" "$ROOT/tests/allowed_skips.txt" || status=1
  return "$status"
}

case "${1:-}" in
  run) shift; run "$@" ;;
  test) shift; run_tests "$@" ;;
  build) install_packages "${BUILD_PKGS[@]}"; build ;;
  deps)
    case "${2:-build}" in
      build) install_packages "${BUILD_PKGS[@]}" ;;
      test) install_packages "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; install_sigstore_js ;;
      bench) install_packages "${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}" ;;
    esac ;;
  bench) shift; install_packages "${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}"; build; exec "$ROOT/bench/run.sh" "$BUILD/keepd" "$@" ;;
  *) echo "usage: $0 run|test|build|deps [build|test|bench]|bench" >&2; exit 2 ;;
esac
