#!/usr/bin/env bash
# hardening_check: tests/hardening_test.sh passes a small program built with
# every hardening flag of cmake/hardening.cmake, and fails one built without
# any single one of them, naming that property and no other.
#
# usage: hardening_check_test.sh CXX   (the compiler the build uses)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CXX=${1:?usage: $0 CXX}
export KEEP_HARDENING_UNCHECKED=
work=$(mktemp -d "${TMPDIR:-/tmp}/keep-hardening-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A local array (the stack protector guards it) and copies into it of a
# length known only at run time (fortified: __memcpy_chk, __snprintf_chk).
cat >"$work/small.cc" <<'CC'
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  char text[64];
  std::memcpy(text, argv[0], std::strlen(argv[0]) % sizeof text);
  std::snprintf(text, sizeof text, "%d %s", argc, argv[argc - 1]);
  std::puts(text);
  return 0;
}
CC

# The flags of cmake/hardening.cmake, as the compiler driver takes them.
compile=(-O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection
         -fPIE)
# shellcheck disable=SC2054  # the commas separate the linker's arguments
link=(-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
x86=no
if "$CXX" -dumpmachine | grep -q '^x86_64'; then
  x86=yes
  compile+=(-fcf-protection=full)
fi

# build NAME FLAG...: the small program with the flags above, then FLAG...
# (a later flag undoes an earlier one).
build() {
  local name=$1
  shift
  "$CXX" "${compile[@]}" "${link[@]}" "$@" "$work/small.cc" -o "$work/$name" 2>"$work/$name.cc.log" ||
    { cat "$work/$name.cc.log"; fail "$CXX could not build the $name program"; }
}

build hardened
if ! bash "$here/hardening_test.sh" "$work/hardened" >"$work/out" 2>&1; then
  cat "$work/out"
  fail "a program built with every hardening flag failed the check"
fi
cat "$work/out"

# property  flags that leave it out
cases=(
  "pie|-fno-pie -no-pie"
  "relro|-Wl,-z,norelro"
  "bind_now|-Wl,-z,lazy"
  "noexecstack|-Wl,-z,execstack"
  "stack_protector|-fno-stack-protector"
  "fortify|-U_FORTIFY_SOURCE"
)
[ "$x86" = yes ] && cases+=("cet|-fcf-protection=none")

for c in "${cases[@]}"; do
  property=${c%%|*}
  read -ra flags <<<"${c#*|}"
  build "no_$property" "${flags[@]}"
  if bash "$here/hardening_test.sh" "$work/no_$property" >"$work/out" 2>&1; then
    cat "$work/out"
    fail "a program built with ${flags[*]} passed the check"
  fi
  failed=$(sed -n 's/^FAIL \([a-z_]*\): .*/\1/p' "$work/out" | tr '\n' ' ')
  if [ "$failed" != "$property " ]; then
    cat "$work/out"
    fail "built with ${flags[*]}, the check failed on '${failed}', not on $property alone"
  fi
  echo "PASS without $property (${flags[*]}): $(grep "^FAIL $property: " "$work/out")"
done
[ "$x86" = yes ] || echo "---- cet: not checked: $CXX does not build for x86-64"
echo "hardening_check: every check fails without its flag"
