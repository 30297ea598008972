#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# Runs each libFuzzer target of BUILD_DIR (a clang -DKEEP_FUZZ=ON build; this
# script builds nothing) over its seed corpus for SECONDS, prints how many
# inputs each executed, and fails on any crash, sanitizer report, broken
# invariant, timeout or out-of-memory. Default: every target that has a
# corpus/<target>/ directory here. New inputs go to a temporary directory
# (the committed seeds are never modified); crashing inputs are kept in
# BUILD_DIR/fuzz-artifacts/<target>/.
#
# Exits 77 (a ctest skip) when BUILD_DIR holds no fuzz target at all.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build=$1
seconds=$2
shift 2
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for d in "$here"/corpus/*/; do targets+=("$(basename "$d")"); done
fi
bin=$build/tests/fuzz

built=0
for t in "${targets[@]}"; do [ -x "$bin/fuzz_$t" ] && built=1; done
if [ $built = 0 ]; then
  echo "fuzz: SKIPPED — no fuzz targets in $bin. Build them with:"
  echo "  cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DKEEP_FUZZ=ON"
  echo "  cmake --build build-fuzz --target keep_fuzz -j2"
  echo "(./keep.sh test does this)"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keep-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
total=0
printf '%-10s %12s %10s %8s %s\n' target executions "execs/s" corpus "coverage"
for t in "${targets[@]}"; do
  if [ ! -x "$bin/fuzz_$t" ]; then
    echo "$t: FAILED — $bin/fuzz_$t was not built"
    failed+=("$t")
    continue
  fi
  mkdir -p "$work/$t" "$artifacts/$t"
  args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$artifacts/$t/")
  [ -f "$here/dict/$t.dict" ] && args+=(-dict="$here/dict/$t.dict")
  log=$work/$t.log
  "$bin/fuzz_$t" "${args[@]}" "$work/$t" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n1)
  corp=$(echo "$cov" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
  if [ $rc -ne 0 ] || [ -z "$execs" ]; then
    echo "$t: FAILED (exit $rc) — the fuzzer's output ends:"
    grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse|INITED)' "$log" | tail -n 60 | sed 's/^/    /'
    ls "$artifacts/$t"/crash-* "$artifacts/$t"/leak-* "$artifacts/$t"/timeout-* \
       "$artifacts/$t"/oom-* 2>/dev/null | sed 's/^/    input: /'
    echo "    reproduce: $bin/fuzz_$t <input>"
    failed+=("$t")
    continue
  fi
  total=$((total + execs))
  printf '%-10s %12s %10s %8s %s\n' "$t" "$execs" "${rate:-?}" "${corp:-?}" \
    "$(echo "$cov" | sed 's/ corp: [0-9]*//')"
done

echo "fuzz: ${#targets[@]} targets, $seconds s each, $total executions in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crashes"
