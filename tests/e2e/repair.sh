#!/bin/sh
# repair.sh - convlog verify --repair rebuilds derived data damaged behind
# the library's back (a stale index entry, a stale children entry, wrong
# store counters, a deleted text index file, each written with the LMDB
# command-line tools or rm), after which verify is clean and the export,
# listings and search are what they were.  A damaged segment record is
# reported as unrepairable, with exit status 1.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-repair.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/demo.store"

fail() {
	echo "repair.sh: FAIL: $*" >&2
	exit 1
}

command -v mdb_load >/dev/null || fail "mdb_load missing (lmdb-utils; tools/install-deps.sh installs it)"

"$CONVLOG" init "$S"
"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl"
"$CONVLOG" export "$S" >"$tmp/before.jsonl"
"$CONVLOG" ls --json "$S" >"$tmp/ls-before"
"$CONVLOG" search --json "$S" the >"$tmp/search-before" || true

# a healthy store: repair changes nothing
"$CONVLOG" verify --repair "$S" >"$tmp/out" || fail "repair of a healthy store: $(cat "$tmp/out")"
grep -q "^repaired: 0 problems before, 0 unrepairable; after: ok$" "$tmp/out" ||
	fail "repair of a healthy store printed: $(cat "$tmp/out")"

# put KEYHEX VALHEX TABLE: writes one entry with mdb_load
put() {
	{
		printf 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n'
		printf ' %s\n %s\n' "$1" "$2"
		printf 'DATA=END\n'
	} | mdb_load -s "$3" "$S/meta" || fail "mdb_load into $3 failed"
}

conv=$("$CONVLOG" ls --json "$S" | head -n 1 | sed 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/' | tr -d -)
[ ${#conv} = 32 ] || fail "could not read a conversation id"
put "0000000000000001$conv" "" ix_activity            # stale: wrong time
put "${conv}000003e7000003e8" "" msg_children          # children of no message
put "636f756e74657273" "0802100018022002" meta         # counters: 1/0/1/1
rm -f "$S"/index/*.idx                                 # the whole text index

set +e
"$CONVLOG" verify "$S" >"$tmp/out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "verify of the damaged store exited $rc: $(cat "$tmp/out")"
grep -q "ix_activity" "$tmp/out" || fail "verify missed the stale index entry: $(cat "$tmp/out")"
grep -q "msg_children" "$tmp/out" || fail "verify missed the children entry: $(cat "$tmp/out")"
grep -q "counters" "$tmp/out" || fail "verify missed the counters: $(cat "$tmp/out")"

# the damaged text index: search refuses and names the cure
set +e
"$CONVLOG" search "$S" the >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "search on a damaged index exited $rc"
grep -q "verify --repair" "$tmp/err" || fail "search error does not name the cure: $(cat "$tmp/err")"

"$CONVLOG" verify --repair "$S" >"$tmp/out" || fail "repair failed: $(cat "$tmp/out")"
grep -q "^repaired: [1-9][0-9]* problems before, 0 unrepairable; after: ok$" "$tmp/out" ||
	fail "repair printed: $(cat "$tmp/out")"
"$CONVLOG" verify "$S" >"$tmp/out" || fail "verify after the repair: $(cat "$tmp/out")"
"$CONVLOG" export "$S" >"$tmp/after.jsonl"
cmp -s "$tmp/before.jsonl" "$tmp/after.jsonl" || fail "the export changed"
"$CONVLOG" ls --json "$S" >"$tmp/ls-after"
cmp -s "$tmp/ls-before" "$tmp/ls-after" || fail "the listing changed"
"$CONVLOG" search --json "$S" the >"$tmp/search-after" || true
cmp -s "$tmp/search-before" "$tmp/search-after" || fail "search results changed"

# --json: one object per line, a summary last
"$CONVLOG" verify --repair --json "$S" >"$tmp/out" || fail "repair --json failed"
tail -n 1 "$tmp/out" | grep -q '^{"kind":"summary","problems_before":0,"unrepairable":0,"problems":0}$' ||
	fail "repair --json printed: $(cat "$tmp/out")"

# errors: a missing store, a missing operand
set +e
"$CONVLOG" verify --repair "$tmp/nope" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "repair of a missing store exited $rc"
set +e
"$CONVLOG" verify --repair >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "verify --repair without STORE exited $rc"
echo "repair.sh: ok"
