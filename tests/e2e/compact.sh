#!/bin/sh
# compact.sh - convlog compact from the command line: dry run, full
# compaction, the cold tier, purge erasing a conversation's bytes from
# every file, exit codes.  The store holds tools/sample/demo.jsonl.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-compact.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/c.store"

fail() {
	echo "compact.sh: FAIL: $*" >&2
	exit 1
}

status() {
	want=$1
	shift
	set +e
	"$CONVLOG" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	got=$?
	set -e
	[ "$got" = "$want" ] || fail "convlog $*: exit $got, expected $want ($(head -c 300 "$tmp/stderr"))"
}

# field NAME: a number or boolean of the last --json summary
field() {
	sed -n "s/.*\"$1\":\([a-z0-9]*\).*/\1/p" "$tmp/stdout"
}

"$CONVLOG" init "$S" >/dev/null
"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl" >/dev/null
"$CONVLOG" export "$S" >"$tmp/before.jsonl"

# ---- a dry run changes nothing ----
ls "$S/segments" >"$tmp/segs.before"
status 0 compact --dry-run --full --json "$S"
[ "$(field dry_run)" = true ] || fail "dry run: $(cat "$tmp/stdout")"
ls "$S/segments" | cmp -s - "$tmp/segs.before" || fail "a dry run changed segments/"

# ---- full compaction: same data, one compacted segment ----
status 0 compact --full --json "$S"
[ "$(field segments_written)" -ge 1 ] || fail "full compaction wrote nothing: $(cat "$tmp/stdout")"
[ "$(field segments_rewritten)" -ge 1 ] || fail "full compaction replaced nothing"
[ "$(field records_moved)" -gt 0 ] || fail "full compaction moved no record"
"$CONVLOG" export "$S" | cmp -s - "$tmp/before.jsonl" || fail "export changed by compaction"
"$CONVLOG" verify "$S" >"$tmp/verify" || fail "verify after compaction: $(cat "$tmp/verify")"
[ -z "$(ls "$S/segments" | grep '\.tmp$' || true)" ] || fail "temporary files left in segments/"
status 0 compact "$S"
grep -q '^compacted in ' "$tmp/stdout" || fail "summary line: $(cat "$tmp/stdout")"

# ---- the cold tier ----
for c in $("$CONVLOG" ls --json --all "$S" | sed -n 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/p'); do
	"$CONVLOG" archive "$S" "$c" 2>/dev/null || true
done
status 0 compact --archive --json "$S"
[ "$(field cold_segments_written)" -ge 1 ] || fail "--archive wrote no cold segment: $(cat "$tmp/stdout")"
"$CONVLOG" export "$S" >"$tmp/archived.jsonl"
"$CONVLOG" verify "$S" >"$tmp/verify" || fail "verify after --archive: $(cat "$tmp/verify")"
status 0 show "$S" ac_7f3k9q2mzx81
grep -q 'Weekend in Lisbon' "$tmp/stdout" || fail "show of a cold conversation"

# ---- purge erases: no file keeps the title or the words ----
grep -rqa 'Trattoria' "$S" || fail "control: the other conversation's title is not in any file"
grep -rqa 'Lisbon' "$S" || fail "control: the title is not in any file before the purge"
status 0 purge --yes "$S" ac_7f3k9q2mzx81
if grep -rla 'Lisbon' "$S" >"$tmp/found"; then
	fail "purged bytes remain in: $(cat "$tmp/found")"
fi
grep -rqa 'Trattoria' "$S" || fail "the purge erased another conversation's title"
"$CONVLOG" verify "$S" >"$tmp/verify" || fail "verify after purge: $(cat "$tmp/verify")"

# ---- exit codes and help ----
status 0 compact --help
grep -q '^usage: convlog compact' "$tmp/stdout" || fail "compact --help"
status 2 compact
status 2 compact --level 0 "$S"
status 2 compact --level 20 "$S"
status 2 compact --bogus "$S"
status 2 compact "$S" extra
status 1 compact "$tmp/nothing-here"
exit 0
