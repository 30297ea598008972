#!/usr/bin/env bash
# tests/check_skips.sh RESULTS.xml ALLOWED.txt
#
# ctest counts a skipped test as passed ("100% tests passed") and marks it
# only with ***Skipped. This reads the JUnit file ctest wrote
# (--output-junit), prints every test that did not run (skipped or
# disabled) with the reason its output gives, and fails when one is not
# named in ALLOWED.txt (tests/allowed_skips.txt: one ctest name per line,
# then why it may skip). `./keep.sh test`, and so CI, runs it after ctest.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 RESULTS.xml ALLOWED.txt" >&2
  exit 2
fi
results=$1
allowed=$2
if [ ! -r "$results" ]; then
  echo "check_skips: ctest wrote no results to $results" >&2
  exit 1
fi

# One line per test that did not run: NAME<TAB>REASON. ctest writes one
# element per line, and escapes the output it puts in <system-out>.
not_run=$(awk '
  function attr(line, key,    m) {
    if (!match(line, key "=\"[^\"]*\"")) return ""
    m = substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 3)
    return unxml(m)
  }
  function unxml(s) {
    gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
    gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s)
    return s
  }
  function flush() {
    if (name != "" && (status == "notrun" || status == "disabled")) {
      reason = after_skipped != "" ? after_skipped : (skip_line != "" ? skip_line : last)
      if (reason == "") reason = message
      gsub(/\t/, " ", reason)
      printf "%s\t%s (%s)\n", name, reason, message
    }
    name = ""
  }
  /<testcase / {
    flush()
    name = attr($0, "name"); status = attr($0, "status")
    message = status; after_skipped = ""; skip_line = ""; last = ""; in_out = 0; want_next = 0
  }
  /<skipped / { message = attr($0, "message") }
  /<system-out>/ { in_out = 1; sub(/.*<system-out>/, "") }
  in_out {
    line = $0
    end = sub(/<\/system-out>.*/, "", line)
    line = unxml(line)
    if (want_next && line != "") { after_skipped = line; want_next = 0 }
    if (line ~ /: Skipped$/) want_next = 1
    if (skip_line == "" && line ~ /SKIP/ && line !~ /^\[  SKIPPED \]/) skip_line = line
    if (line ~ /[^[:space:]]/) last = line
    if (end) in_out = 0
  }
  /<\/testcase>/ { flush() }
  END { flush() }
' "$results")

# The names ALLOWED.txt lets skip: the first word of each line that is not a
# comment; the rest of the line is the reason, which may not be left out.
if [ ! -r "$allowed" ]; then
  echo "check_skips: cannot read $allowed" >&2
  exit 1
fi
unexplained=$(sed -e 's/#.*//' "$allowed" | awk 'NF == 1 { print $1 }')
if [ -n "$unexplained" ]; then
  echo "check_skips: $allowed allows without a reason: $unexplained" >&2
  exit 1
fi
allowed_names=$(sed -e 's/#.*//' "$allowed" | awk 'NF { print $1 }')

refused=0
count=0
while IFS=$'\t' read -r name reason; do
  [ -n "$name" ] || continue
  count=$((count + 1))
  if grep -qxF -- "$name" <<<"$allowed_names"; then
    why=$(sed -e 's/#.*//' "$allowed" | awk -v n="$name" '$1 == n { $1 = ""; sub(/^ +/, ""); print; exit }')
    echo "SKIPPED (allowed: $why): $name: $reason"
  else
    echo "SKIPPED (not allowed): $name: $reason"
    refused=$((refused + 1))
  fi
done <<<"$not_run"

if [ "$refused" -gt 0 ]; then
  echo "check_skips: $refused of $count skipped test(s) are not in $allowed." >&2
  echo "  Make them run here, or add each to that list with the reason it may skip." >&2
  exit 1
fi
echo "check_skips: $count test(s) skipped, all allowed by $allowed"
