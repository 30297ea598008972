#!/usr/bin/env bash
# tests/check_format.sh — the style checks of a change: clang-format
# (.clang-format) and clang-tidy (.clang-tidy) on the C++ lines it changed,
# so that code nobody touched never fails someone else's change.
#
#   tests/check_format.sh [BUILD_DIR]     (default: build)
#
# The change is the working tree against a base: $KEEP_CHECK_BASE when set
# (e.g. the merge-base of a branch under review), else the previous commit
# (for a merge, its first parent: the whole branch merged). Files git does
# not track yet are not part of it. A clone's origin/main is not used: where
# it points depends on how the clone was made, and a far base would check
# (and run clang-tidy on) every file changed since. No changed C++
# file: it passes. clang-format runs with --dry-run
# -Werror on the changed lines of every changed .cc and .h file; clang-tidy,
# with BUILD_DIR/compile_commands.json, on the changed lines of every changed
# .cc file that the build compiles (a header's lines get clang-format only).
# Exit status 1 on any finding, 2 when a tool or the build is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

for tool in clang-format clang-tidy; do
  if ! command -v "$tool" >/dev/null; then
    echo "check_format: $tool is not installed (./keep.sh deps test installs it)" >&2
    exit 2
  fi
done

if [ -n "${KEEP_CHECK_BASE:-}" ]; then
  base=$KEEP_CHECK_BASE
elif base=$(git rev-parse -q --verify 'HEAD~1^{commit}'); then
  :
else
  echo "check_format: no base to compare with (a single commit); nothing to check"
  exit 0
fi

mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$base" -- '*.cc' '*.h')
if [ ${#files[@]} -eq 0 ]; then
  echo "check_format: no C++ file changed since $(git rev-parse --short "$base")"
  exit 0
fi

if printf '%s\n' "${files[@]}" | grep -q '\.cc$' && [ ! -f "$build/compile_commands.json" ]; then
  echo "check_format: $build/compile_commands.json is missing: configure with cmake first" >&2
  exit 2
fi

# The line ranges of `file` the change added or modified, as "first:last"
# per line (git diff -U0 hunk headers: @@ -a,b +first,count @@).
changed_ranges() {
  git diff -U0 "$base" -- "$1" | sed -n 's/^@@ -[0-9,]* +\([0-9]*\)\(,\([0-9]*\)\)\{0,1\} @@.*/\1 \3/p' |
    while read -r first count; do
      count=${count:-1}
      [ "$count" -eq 0 ] && continue  # lines removed only
      echo "$first:$((first + count - 1))"
    done
}

# The files of the build's unity builds (cmake/unity.cmake): each includes
# several sources, which compile_commands.json does not name.
mapfile -t unity_files < <(find "$build" -path '*/CMakeFiles/*.dir/Unity/unity_*_cxx.cxx' 2>/dev/null)

status=0
tidy_files=()
tidy_filter=
for f in "${files[@]}"; do
  mapfile -t ranges < <(changed_ranges "$f")
  [ ${#ranges[@]} -eq 0 ] && continue
  lines=()
  json=
  for r in "${ranges[@]}"; do
    lines+=("--lines=$r")
    json+="${json:+,}[${r%%:*},${r##*:}]"
  done
  clang-format --dry-run -Werror "${lines[@]}" "$f" || status=1
  if [[ $f == *.cc ]] && grep -q -e "\"file\": \".*/$f\"" -e "^#include \".*/$f\"$" \
    "$build/compile_commands.json" "${unity_files[@]}"; then
    tidy_files+=("$f")
    tidy_filter+="${tidy_filter:+,}{\"name\":\"$f\",\"lines\":[$json]}"
  fi
done

if [ ${#tidy_files[@]} -gt 0 ]; then
  # The build's commands without the tests' precompiled headers
  # (cmake/test_code.cmake): clang cannot read GCC's, and each file must
  # compile without them anyway. A file that a unity build compiles inside
  # another (cmake/unity.cmake) gets an entry of its own, with that file's
  # command.
  commands=$(mktemp -d)
  trap 'rm -rf "$commands"' EXIT
  jq -c '.[]' "$build/compile_commands.json" | while read -r entry; do
    echo "$entry"
    unity=$(jq -r '.file | select(test("/Unity/unity_[0-9]+_cxx\\.cxx$"))' <<<"$entry")
    [ -n "$unity" ] || continue
    sed -n 's/^#include "\(.*\)"$/\1/p' "$unity" | while read -r source; do
      jq -c --arg f "$source" '.file = $f | .command |= sub(" -c [^ ]*$"; " -c " + $f)' <<<"$entry"
    done
  done | jq -s 'map(.command |= (gsub(" -Winvalid-pch"; "") | gsub(" -include [^ ]*/cmake_pch\\.hxx"; "")))' \
    >"$commands/compile_commands.json"
  # (The build's flags are GCC's: clang need not know every warning they name.)
  clang-tidy -p "$commands" --quiet --warnings-as-errors='*' --extra-arg=-Wno-unknown-warning-option \
    --line-filter="[$tidy_filter]" \
    "${tidy_files[@]}" 2> >(grep -v 'warnings\{0,1\} generated\.$' >&2) || status=1
fi

if [ "$status" -eq 0 ]; then
  echo "check_format: ${#files[@]} changed C++ file(s) since $(git rev-parse --short "$base") pass"
else
  echo "check_format: fix the findings above (clang-format -i --lines=... or by hand)" >&2
fi
exit "$status"
