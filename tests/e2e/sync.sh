#!/bin/sh
# sync.sh - convlog sync export|apply|status between three stores through
# changeset files: a first full copy, incremental exports from the cursor
# `export` prints, concurrent offline changes (forks, archive, delete,
# purge, a title) merged both ways into identical exports, idempotent
# re-application, changesets read from standard input, and bad changesets
# (truncated, not a changeset, made by the same store) refused with the
# store unchanged.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-sync.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
A="$tmp/a.store" B="$tmp/b.store" C="$tmp/c.store"

fail() {
	echo "sync.sh: FAIL: $*" >&2
	exit 1
}

# status CODE ARGS...: runs convlog, checks its exit status
status() {
	want=$1
	shift
	set +e
	"$CONVLOG" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	got=$?
	set -e
	[ "$got" = "$want" ] || fail "convlog $* exited $got, expected $want: $(cat "$tmp/stderr")"
}

same() {
	"$CONVLOG" export "$1" >"$tmp/x1.jsonl"
	"$CONVLOG" export "$2" >"$tmp/x2.jsonl"
	cmp -s "$tmp/x1.jsonl" "$tmp/x2.jsonl" || {
		diff "$tmp/x1.jsonl" "$tmp/x2.jsonl" | head -5 >&2
		fail "$3: exports of $1 and $2 differ"
	}
}

for s in "$A" "$B" "$C"; do "$CONVLOG" init "$s" >/dev/null; done
"$CONVLOG" import "$A" "$root/tools/sample/demo.jsonl" >/dev/null

# ---- a first full copy ----
status 0 sync export -o "$tmp/a0.cs" --json "$A"
grep -q '^{"since":0,"upto":[0-9]*,"bytes":[0-9]*}$' "$tmp/stdout" || fail "export --json: $(cat "$tmp/stdout")"
cur_a=$(sed 's/.*"upto":\([0-9]*\).*/\1/' "$tmp/stdout")
status 0 sync apply "$B" "$tmp/a0.cs"
grep -q "12 conversations (12 new, 0 changed), 115 messages added" "$tmp/stdout" || fail "apply output: $(cat "$tmp/stdout")"
same "$A" "$B" "first copy"
"$CONVLOG" verify "$B" >/dev/null || fail "verify after the first copy"
# again: nothing changes
status 0 sync apply --json "$B" "$tmp/a0.cs"
grep -q '"created":0,"updated":0,"messages_added":0,"messages_updated":0' "$tmp/stdout" ||
	fail "second apply changed something: $(cat "$tmp/stdout")"
# from standard input, to a third store
status 0 sync apply "$C" - <"$tmp/a0.cs"
same "$A" "$C" "apply from stdin"

# ---- status ----
status 0 sync status --json "$B"
ida=$("$CONVLOG" sync status --json "$A" | sed 's/^{"replica":"\([0-9a-f]*\)".*/\1/')
grep -q "\"peers\":\[{\"replica\":\"$ida\",\"recv\":$cur_a," "$tmp/stdout" ||
	fail "B's status does not show A at cursor $cur_a: $(cat "$tmp/stdout")"
status 0 sync status "$B"
grep -q "^peer $ida: applied its feed up to $cur_a" "$tmp/stdout" || fail "status text: $(cat "$tmp/stdout")"

# ---- concurrent offline changes ----
conv1=$("$CONVLOG" ls --json "$A" | sed -n '1s/^{"type":"conversation","id":"\([^"]*\)".*/\1/p')
conv2=$("$CONVLOG" ls --json "$A" | sed -n '2s/^{"type":"conversation","id":"\([^"]*\)".*/\1/p')
conv3=$("$CONVLOG" ls --json "$A" | sed -n '3s/^{"type":"conversation","id":"\([^"]*\)".*/\1/p')
[ -n "$conv1" ] && [ -n "$conv2" ] && [ -n "$conv3" ] || fail "no conversations listed"
fork_a=$("$CONVLOG" fork --at 2 --title "fork made on A" "$A" "$conv1")
"$CONVLOG" archive "$A" "$conv2" >/dev/null
fork_b=$("$CONVLOG" fork --at 1 --title "fork made on B" "$B" "$conv1")
"$CONVLOG" delete "$B" "$conv2" >/dev/null
"$CONVLOG" purge --yes "$B" "$conv3" >/dev/null
# incremental exports from the cursors each side holds for the other
status 0 sync export --since "$cur_a" -o "$tmp/a1.cs" "$A"
grep -q "^exported changes $cur_a\.\.[0-9]* ([0-9]* bytes); next: --since [0-9]*$" "$tmp/stderr" ||
	fail "export message: $(cat "$tmp/stderr")"
cur_b=$("$CONVLOG" sync status --json "$A" | sed 's/.*"head":\([0-9]*\).*/\1/')
status 0 sync export -o "$tmp/b1.cs" "$B"
status 0 sync apply "$B" "$tmp/a1.cs"
status 0 sync apply "$A" "$tmp/b1.cs"
grep -q "1 purged" "$tmp/stdout" || fail "A did not purge conv3: $(cat "$tmp/stdout")"
status 0 sync export -o "$tmp/b2.cs" "$B"
status 0 sync apply "$A" "$tmp/b2.cs"
status 0 sync export -o "$tmp/a2.cs" "$A"
status 0 sync apply "$B" "$tmp/a2.cs"
same "$A" "$B" "after concurrent changes"
status 0 show "$A" "$fork_a"
status 0 show "$B" "$fork_b"
status 1 show "$A" "$conv3"
# the later of archive (A) and delete (B) wins on both: the delete
"$CONVLOG" ls --json --all "$A" | grep "\"id\":\"$conv2\"" | grep -q '"status":"deleted"' ||
	fail "conv2 is not deleted on A"
for s in "$A" "$B"; do "$CONVLOG" verify "$s" >/dev/null || fail "verify $s"; done
# C catches up from its old cursor, with the purge
status 0 sync export --since "$cur_a" -o "$tmp/a3.cs" "$A"
status 0 sync apply "$C" "$tmp/a3.cs"
same "$A" "$C" "C after catching up"
: "$cur_b"

# ---- bad changesets change nothing ----
"$CONVLOG" export "$C" >"$tmp/c-before.jsonl"
size=$(wc -c <"$tmp/a3.cs")
head -c $((size - 1)) "$tmp/a3.cs" >"$tmp/short.cs"
status 1 sync apply "$C" "$tmp/short.cs"
grep -q "checksum mismatch" "$tmp/stderr" || fail "truncated: $(cat "$tmp/stderr")"
status 1 sync apply "$C" "$root/tools/sample/demo.jsonl"
grep -q "not a convlog changeset" "$tmp/stderr" || fail "not a changeset: $(cat "$tmp/stderr")"
status 1 sync apply "$A" "$tmp/a3.cs"
grep -q "made by this store" "$tmp/stderr" || fail "own changeset: $(cat "$tmp/stderr")"
status 1 sync apply "$C" "$tmp/missing.cs"
"$CONVLOG" export "$C" | cmp -s - "$tmp/c-before.jsonl" || fail "a refused changeset changed C"

# ---- usage ----
status 2 sync
status 2 sync frobnicate "$A"
status 2 sync export --since x -o "$tmp/z.cs" "$A"
status 2 sync apply "$A"
status 0 sync --help
grep -q "^usage: convlog sync export" "$tmp/stdout" || fail "sync --help"
echo "sync.sh: ok"
