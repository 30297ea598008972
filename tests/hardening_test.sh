#!/usr/bin/env bash
# hardening: each program given (keepd and keepctl, from ctest) was built
# hardened as cmake/hardening.cmake says, which its ELF file shows:
#
#   pie              ELF type DYN, and FLAGS_1 in the dynamic section says PIE
#   relro            a GNU_RELRO segment
#   bind_now         every symbol bound at start (FLAGS BIND_NOW or FLAGS_1
#                    NOW): with relro, full RELRO
#   noexecstack      a GNU_STACK segment that is not executable
#   stack_protector  __stack_chk_fail among the functions imported
#   fortify          glibc's checked variants (__memcpy_chk, __snprintf_chk...)
#                    among the functions imported
#   cet              (x86-64 only) IBT and SHSTK in the GNU property note; when
#                    the C library's start files carry no such note (Debian 12),
#                    no program can, and the code is checked instead: main must
#                    start with an IBT landing pad (endbr64)
#
# usage: hardening_test.sh PROGRAM...
# Every check is printed, PASS or FAIL with what was found; the exit status
# is 1 when any check failed. KEEP_HARDENING_UNCHECKED names the checks the
# build does not apply (space-separated: "fortify" for a Debug or sanitized
# build), printed as not checked. CXX is the compiler that linked the
# programs (default c++): it finds the C library's start files.
set -uo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 PROGRAM..." >&2
  exit 2
fi
for tool in readelf objdump; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (Debian's binutils)" >&2; exit 1; }
done
unchecked=" ${KEEP_HARDENING_UNCHECKED:-} "
cxx=${CXX:-c++}

# The start files the compiler links into every program: the GNU property
# note of the output is the intersection of its inputs' notes.
start_files_have_cet() {
  local name path
  for name in Scrt1.o crti.o crtn.o; do
    path=$("$cxx" -print-file-name="$name" 2>/dev/null) || return 1
    [ -f "$path" ] || return 1
    readelf -nW "$path" 2>/dev/null | grep 'x86 feature:' | grep -q 'IBT' || return 1
    readelf -nW "$path" 2>/dev/null | grep 'x86 feature:' | grep -q 'SHSTK' || return 1
  done
}

# check_program PROGRAM: prints one line per check; returns 1 when one failed.
check_program() {
  local prog=$1 header dynamic segments symbols notes failed=()
  if ! header=$(readelf -hW "$prog" 2>&1); then
    echo "FAIL $prog: not an ELF file: $header"
    return 1
  fi
  dynamic=$(readelf -dW "$prog")
  segments=$(readelf -lW "$prog")
  # The functions it imports (a sanitizer runtime linked in defines its own
  # __*_chk wrappers: those do not count).
  symbols=$(readelf --dyn-syms -W "$prog" | awk 'NF >= 8 && $7 == "UND" { sub(/@.*/, "", $8); print $8 }')
  notes=$(readelf -nW "$prog")

  pass() { echo "PASS $1: $2"; }
  fail() { echo "FAIL $1: $2"; failed+=("$1"); }
  skip() { echo "---- $1: not checked: $2"; }
  applies() {
    case "$unchecked" in
      *" $1 "*) skip "$1" "this build does not apply it (KEEP_HARDENING_UNCHECKED)"; return 1 ;;
    esac
  }

  echo "== $prog"
  local type flags flags_1
  type=$(awk -F: '/^ *Type:/ { sub(/^ */, "", $2); print $2 }' <<<"$header")
  flags=$(awk '/\(FLAGS\)/ { $1 = $2 = ""; sub(/^ */, ""); print }' <<<"$dynamic")
  flags_1=$(awk '/\(FLAGS_1\)/ { $1 = $2 = ""; sub(/^ *(Flags: *)?/, ""); print }' <<<"$dynamic")

  if applies pie; then
    if [[ $type == DYN* ]] && [[ " $flags_1 " == *" PIE "* ]]; then
      pass pie "type $type, FLAGS_1 $flags_1"
    else
      fail pie "not a position-independent executable: type ${type:-?}, FLAGS_1 '${flags_1}' (want DYN and PIE)"
    fi
  fi

  if applies relro; then
    if grep -q '^ *GNU_RELRO ' <<<"$segments"; then
      pass relro "GNU_RELRO segment"
    else
      fail relro "no GNU_RELRO segment (link with -z relro)"
    fi
  fi

  if applies bind_now; then
    if [[ " $flags " == *" BIND_NOW "* ]] || [[ " $flags_1 " == *" NOW "* ]]; then
      pass bind_now "FLAGS '${flags}', FLAGS_1 '${flags_1}'"
    else
      fail bind_now "symbols bound lazily: neither FLAGS BIND_NOW nor FLAGS_1 NOW (link with -z now)"
    fi
  fi

  if applies noexecstack; then
    local stack
    stack=$(awk '$1 == "GNU_STACK" { print $7 }' <<<"$segments")
    if [ -z "$stack" ]; then
      fail noexecstack "no GNU_STACK segment: the stack is executable (link with -z noexecstack)"
    elif [[ $stack == *E* ]]; then
      fail noexecstack "GNU_STACK is $stack: the stack is executable (link with -z noexecstack)"
    else
      pass noexecstack "GNU_STACK $stack"
    fi
  fi

  if applies stack_protector; then
    if grep -qx '__stack_chk_fail' <<<"$symbols"; then
      pass stack_protector "__stack_chk_fail"
    else
      fail stack_protector "no __stack_chk_fail among the functions imported (compile with -fstack-protector-strong)"
    fi
  fi

  if applies fortify; then
    local checked
    checked=$(grep -E '^__[a-z0-9_]+_chk$' <<<"$symbols" | grep -vx '__stack_chk_fail' | sort -u)
    if [ -n "$checked" ]; then
      pass fortify "checked functions ($(wc -l <<<"$checked")): $(head -n 6 <<<"$checked" | tr '\n' ' ')"
    else
      fail fortify "no __*_chk function among the functions imported (compile with -O2 -D_FORTIFY_SOURCE=3)"
    fi
  fi

  if ! grep -q 'Machine: *Advanced Micro Devices X86-64' <<<"$header"; then
    skip cet "not an x86-64 program"
  elif applies cet; then
    local feature
    feature=$(grep -m 1 'x86 feature:' <<<"$notes" | sed 's/.*x86 feature: *//')
    if [[ ", $feature, " == *", IBT, "* ]] && [[ ", $feature, " == *", SHSTK, "* ]]; then
      pass cet "x86 feature: $feature"
    elif start_files_have_cet; then
      fail cet "x86 feature '${feature}' lacks IBT or SHSTK, though the C library's start files have both: an object was built without -fcf-protection"
    else
      local first
      first=$(objdump -d --no-show-raw-insn --disassemble=main "$prog" 2>/dev/null |
                awk '/<main>:$/ { getline; print $2; exit }')
      if [ "$first" = endbr64 ]; then
        pass cet "main starts with endbr64; no IBT/SHSTK note, as the C library's start files ($cxx -print-file-name=crti.o) carry none"
      else
        fail cet "main starts with '${first:-?}', not endbr64 (compile with -fcf-protection=full)"
      fi
    fi
  fi

  if [ ${#failed[@]} -gt 0 ]; then
    echo "FAIL $prog is not hardened: ${failed[*]}"
    return 1
  fi
}

status=0
for prog in "$@"; do
  check_program "$prog" || status=1
done
exit "$status"
