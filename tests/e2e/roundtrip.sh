#!/bin/sh
# roundtrip.sh - export/import round trips are lossless and idempotent.
#
#   import demo.jsonl into A, export A; import that into B, export B: equal.
#   importing the same files into A again writes nothing (same export, same
#   log position); the export of A matches golden/demo.export.jsonl.
#   Same checks for tests/data/edge.jsonl (NUL bytes, offsets, forks, ...),
#   and an edited file updates a store in place.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-roundtrip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

fail() {
	echo "roundtrip.sh: FAIL: $*" >&2
	exit 1
}

last_lsn() {
	"$CONVLOG" stats --json "$1" | sed 's/.*"last_lsn":\([0-9]*\).*/\1/'
}

# roundtrip NAME INPUT: checks and leaves $tmp/NAME.a.jsonl (export of A)
roundtrip() {
	a="$tmp/$1.a" b="$tmp/$1.b"
	"$CONVLOG" init "$a"
	"$CONVLOG" import "$a" "$2" || fail "$1: import of $2"
	"$CONVLOG" export "$a" >"$a.jsonl" || fail "$1: export of A"
	"$CONVLOG" init "$b"
	"$CONVLOG" import "$b" - <"$a.jsonl" || fail "$1: import of the export"
	"$CONVLOG" export --out "$b.jsonl" "$b" || fail "$1: export of B"
	cmp "$a.jsonl" "$b.jsonl" || fail "$1: export(import(export A)) differs from export A"

	lsn=$(last_lsn "$a")
	"$CONVLOG" import "$a" "$2" || fail "$1: second import of $2"
	"$CONVLOG" import "$a" "$a.jsonl" || fail "$1: import of A's own export"
	"$CONVLOG" export "$a" >"$a.again.jsonl"
	cmp "$a.jsonl" "$a.again.jsonl" || fail "$1: re-import changed the export"
	[ "$(last_lsn "$a")" = "$lsn" ] || fail "$1: re-import wrote to the log"
}

roundtrip demo "$root/tools/sample/demo.jsonl"
if ! cmp "$tmp/demo.a.jsonl" "$here/golden/demo.export.jsonl"; then
	diff "$here/golden/demo.export.jsonl" "$tmp/demo.a.jsonl" | head -20 >&2 || true
	fail "export of the demo data differs from golden/demo.export.jsonl"
fi
[ "$(grep -c '"type":"conversation"' "$tmp/demo.a.jsonl")" = 12 ] || fail "demo: 12 conversations"
[ "$(grep -c '"type":"message"' "$tmp/demo.a.jsonl")" = 115 ] || fail "demo: 115 messages"

roundtrip edge "$root/tests/data/edge.jsonl"
if ! cmp "$tmp/edge.a.jsonl" "$here/golden/edge.export.jsonl"; then
	diff "$here/golden/edge.export.jsonl" "$tmp/edge.a.jsonl" | head -20 >&2 || true
	fail "export of tests/data/edge.jsonl differs from golden/edge.export.jsonl"
fi

# An edited export updates the store: changed content supersedes the
# message, a changed title is put, a new message is appended.
a="$tmp/demo.a"
sed -e '/"content":"No drops last night. Thanks!"/{
s/No drops last night/No drops at all/
s/}$/,"edited_at":"2025-02-01T10:00:00.000Z"}/
}' -e 's/"title":"Resignation letter"/"title":"Resignation letter (final)"/' \
	"$a.jsonl" >"$tmp/edited.jsonl"
cmp -s "$a.jsonl" "$tmp/edited.jsonl" && fail "the edit did not apply to the test input"
"$CONVLOG" import "$a" "$tmp/edited.jsonl" || fail "import of an edited export"
"$CONVLOG" export "$a" >"$tmp/edited.out.jsonl"
cmp "$tmp/edited.jsonl" "$tmp/edited.out.jsonl" || fail "the edited export did not round-trip"
exit 0
