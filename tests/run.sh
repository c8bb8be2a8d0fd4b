#!/bin/sh
# tests/run.sh JOBS LOGDIR TEST...: runs each TEST (a test program, or a
# shell script ending in .sh, run with sh) JOBS at a time, each with its
# output in LOGDIR/<name>.log.  Prints one line per finished test with its
# time; the log of a failing test is printed whole.  Exits non-zero if any test failed,
# after all of them have run (so one failure does not hide another).
#
# The caller passes the tests longest first: with two jobs, the long
# suites (test_search, test_compact, test_model, test_sync: one to two
# minutes each under ASan) then overlap instead of running last, alone.
set -eu
jobs=$1
logdir=$2
shift 2
mkdir -p "$logdir"
rm -rf "$logdir"/*.log "$logdir"/*.fail "$logdir"/.claim.*
start=$(date +%s)

# one_test TEST: runs one test, its output to its log; never fails itself
one_test() {
	name=$(basename "$1" .sh)
	log="$logdir/$name.log"
	case $1 in
	*.sh) set -- sh "$1" ;;
	esac
	t0=$(date +%s)
	if "$@" >"$log" 2>&1; then
		echo "ok   $name ($(($(date +%s) - t0)) s)"
	else
		rc=$?
		: >"$logdir/$name.fail"
		echo "FAIL $name ($(($(date +%s) - t0)) s, exit $rc); its output:"
		sed 's/^/    /' "$log"
	fi
}

# a small pool: JOBS background workers walk the tests in order, and
# each runs the ones it claims first (mkdir of a claim directory is atomic)
for _ in $(seq 1 "$jobs"); do
	(
		n=0
		for t in "$@"; do
			n=$((n + 1))
			if mkdir "$logdir/.claim.$n" 2>/dev/null; then
				one_test "$t"
			fi
		done
	) &
done
wait
rm -rf "$logdir"/.claim.*

failed=$(cd "$logdir" && ls -- *.fail 2>/dev/null | sed 's/\.fail$//' | tr '\n' ' ')
echo "$# tests, $jobs at a time: $(($(date +%s) - start)) s"
if [ -n "$failed" ]; then
	echo "failed: $failed" >&2
	exit 1
fi
