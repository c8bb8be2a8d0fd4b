#!/bin/sh
# badinput.sh - import rejects bad input precisely and atomically.
#
# Each tests/data/bad_KIND.jsonl holds good conversation A, conversation B
# with one defect, and good conversation C.  The store already holds A.
#   without --keep-going: exit 1, the error names the file, line and (where
#     it can be read) conversation B, and the export is byte-identical to
#     the export before the import;
#   with --keep-going: exit 1, B is reported and absent, A and C are there.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data="$root/tests/data"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-badinput.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

A=0190aaaa-0000-7000-8000-00000000000a
B=0190bbbb-0000-7000-8000-00000000000b
C=0190cccc-0000-7000-8000-00000000000c

fail() {
	echo "badinput.sh: FAIL: $*" >&2
	exit 1
}

# The base store: the demo data plus conversation A.
base="$tmp/base.store"
"$CONVLOG" init "$base"
"$CONVLOG" import "$base" "$root/tools/sample/demo.jsonl"
head -n 3 "$data/good.jsonl" | "$CONVLOG" import "$base" -
"$CONVLOG" export "$base" >"$tmp/base.jsonl"

# check KIND FILE LINE PATTERN: PATTERN is a grep -E for the message text
check() {
	kind=$1 file=$2 line=$3 pattern=$4
	name=$(basename "$file")

	rm -rf "$tmp/s"
	cp -R "$base" "$tmp/s"
	set +e
	"$CONVLOG" import "$tmp/s" "$file" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 1 ] || fail "$kind: exit $rc, expected 1"
	grep -q "^convlog import: .*$name:$line: " "$tmp/err" ||
		fail "$kind: error does not name $name:$line: $(cat "$tmp/err")"
	grep -Eq "$pattern" "$tmp/err" || fail "$kind: error lacks /$pattern/: $(cat "$tmp/err")"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$kind: more than one error line: $(cat "$tmp/err")"
	"$CONVLOG" export "$tmp/s" >"$tmp/after.jsonl"
	cmp -s "$tmp/base.jsonl" "$tmp/after.jsonl" || fail "$kind: the store changed"

	rm -rf "$tmp/s"
	cp -R "$base" "$tmp/s"
	set +e
	"$CONVLOG" import --keep-going "$tmp/s" "$file" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 1 ] || fail "$kind --keep-going: exit $rc, expected 1"
	grep -q "^convlog import: .*$name:$line: " "$tmp/err" ||
		fail "$kind --keep-going: B not reported: $(cat "$tmp/err")"
	"$CONVLOG" show "$tmp/s" "$A" >/dev/null || fail "$kind --keep-going: A is missing"
	"$CONVLOG" show "$tmp/s" "$C" >/dev/null || fail "$kind --keep-going: C was not imported"
	if "$CONVLOG" show "$tmp/s" "$B" >/dev/null 2>&1; then
		fail "$kind --keep-going: bad conversation B was imported"
	fi
}

check truncated "$data/bad_truncated.jsonl" 6 "conversation $B: invalid JSON"
check utf8 "$data/bad_utf8.jsonl" 6 "conversation $B: invalid JSON.*0xff"
check seqtype "$data/bad_seqtype.jsonl" 6 "field 'seq': expected an integer"
check status "$data/bad_status.jsonl" 4 "conversation $B: field 'status': unknown conversation status 'paused'"
check uuid "$data/bad_uuid.jsonl" 6 "field 'id': '[^']*' is not a UUID"
check time "$data/bad_time.jsonl" 6 "field 'created_at': '2025-02-30T09:00:02Z' is not an RFC 3339 time"
check orphan "$data/bad_orphan.jsonl" 1 "message line comes before any conversation"
check seqgap "$data/bad_seqgap.jsonl" 7 "conversation $B: message seq 4 follows seq 2"
check dupid "$data/bad_dupid.jsonl" 6 "conversation $B: .*0190aaaa-0000-7000-8000-0000000000a1 is already used"
check metastring "$data/bad_metastring.jsonl" 4 "field 'metadata': expected a JSON object, got a string"
check unknown "$data/bad_unknown.jsonl" 5 "unknown field 'mood'"
check otherconv "$data/bad_otherconv.jsonl" 7 "belongs to conversation $C"
check forkseq "$data/bad_forkseq.jsonl" 5 "conversation $B: message seq 1: seqs up to fork_seq 1 are the parent's"

# Content over the 16 MiB default limit (generated: too big to check in).
{
	head -n 3 "$data/good.jsonl"
	sed -n 4p "$data/good.jsonl"
	printf '{"type":"message","id":"0190bbbb-0000-7000-8000-0000000000b1","conversation_id":"%s",' "$B"
	printf '"seq":1,"role":"user","created_at":"2025-02-01T09:00:01Z","content":"'
	head -c 16777217 /dev/zero | tr '\0' x
	printf '"}\n'
	tail -n 2 "$data/good.jsonl"
} >"$tmp/bad_oversize.jsonl"
check oversize "$tmp/bad_oversize.jsonl" 5 "content is 16777217 bytes, the limit is 16777216"

# Blank lines and a missing final newline are fine.
rm -rf "$tmp/s"
cp -R "$base" "$tmp/s"
{
	printf '\n'
	head -n 4 "$data/good.jsonl"
	printf ' \t\r\n'
	tail -n +5 "$data/good.jsonl"
} >"$tmp/blank.jsonl"
printf '%s' "$(cat "$tmp/blank.jsonl")" >"$tmp/nonl.jsonl"
"$CONVLOG" import "$tmp/s" "$tmp/nonl.jsonl" || fail "blank lines / missing final newline"
"$CONVLOG" show "$tmp/s" "$C" >/dev/null || fail "C missing after the no-newline import"
exit 0
