#!/usr/bin/env bash
# check_skips: tests/check_skips.sh fails on a skipped test that the allowed
# list does not name, passes when it does, and prints the reason either way.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/keep-check-skips.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# What ctest --output-junit writes for a passed test, a GTEST_SKIP and an exit 77.
cat >"$work/results.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="keep" tests="3" failures="0" disabled="0" skipped="2">
	<testcase name="unit.Passes" classname="unit.Passes" time="0.1" status="run">
		<system-out>[  PASSED  ] 1 test.
</system-out>
	</testcase>
	<testcase name="crash.DiskTest.Full" classname="crash.DiskTest.Full" time="0.2" status="notrun">
		<skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/>
		<system-out>[ RUN      ] DiskTest.Full
/src/tests/crash/disk_test.cc:38: Skipped
no small filesystem &amp; no loop device &lt;here&gt;

[  SKIPPED ] DiskTest.Full (5 ms)
</system-out>
	</testcase>
	<testcase name="e2e_thing" classname="e2e_thing" time="0.3" status="notrun">
		<skipped message="SKIP_RETURN_CODE=77"/>
		<system-out>thing: SKIPPED: no thing installed
</system-out>
	</testcase>
</testsuite>
XML

echo "# nothing allowed" >"$work/none.txt"
if bash "$here/check_skips.sh" "$work/results.xml" "$work/none.txt" >"$work/out" 2>&1; then
  cat "$work/out"
  fail "skips that no list allows passed"
fi
grep -qF 'crash.DiskTest.Full: no small filesystem & no loop device <here>' "$work/out" ||
  fail "the GTEST_SKIP reason is not printed: $(cat "$work/out")"
grep -qF 'e2e_thing: thing: SKIPPED: no thing installed' "$work/out" ||
  fail "the exit-77 reason is not printed: $(cat "$work/out")"

printf 'crash.DiskTest.Full  no disk to fill here\n' >"$work/one.txt"
if bash "$here/check_skips.sh" "$work/results.xml" "$work/one.txt" >"$work/out" 2>&1; then
  fail "a skip missing from the list passed: $(cat "$work/out")"
fi
grep -q 'not allowed.*e2e_thing' "$work/out" || fail "the unlisted skip is not named: $(cat "$work/out")"

printf 'crash.DiskTest.Full  no disk to fill here\ne2e_thing  # no reason\n' >"$work/both.txt"
bash "$here/check_skips.sh" "$work/results.xml" "$work/both.txt" >"$work/out" 2>&1 &&
  fail "a list entry without a reason passed"
grep -q 'without a reason: e2e_thing' "$work/out" || fail "the entry without a reason is not named"

printf 'crash.DiskTest.Full  no disk to fill here\ne2e_thing  no thing here\n' >"$work/both.txt"
bash "$here/check_skips.sh" "$work/results.xml" "$work/both.txt" >"$work/out" 2>&1 ||
  fail "skips the list allows failed: $(cat "$work/out")"
grep -qF 'SKIPPED (allowed: no disk to fill here): crash.DiskTest.Full' "$work/out" ||
  fail "the allowed skip is not printed with the list's reason: $(cat "$work/out")"

bash "$here/check_skips.sh" "$work/missing.xml" "$work/none.txt" >/dev/null 2>&1 &&
  fail "no results file passed"
echo "check_skips: ok"
