#!/bin/sh
# verify.sh - convlog verify passes on a healthy store and names the
# segment when a byte in the middle of a segment file is flipped.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-verify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/demo.store"

fail() {
	echo "verify.sh: FAIL: $*" >&2
	exit 1
}

"$CONVLOG" init "$S"
"$CONVLOG" verify "$S" >"$tmp/out" || fail "verify of an empty store failed: $(cat "$tmp/out")"
[ "$(cat "$tmp/out")" = ok ] || fail "verify of an empty store printed: $(cat "$tmp/out")"

"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl"
"$CONVLOG" verify "$S" >"$tmp/out" || fail "verify of the demo store failed: $(cat "$tmp/out")"
[ "$(cat "$tmp/out")" = ok ] || fail "verify printed: $(cat "$tmp/out")"

# Flip one byte well inside the (only) segment file.
seg=$(ls "$S"/segments/*.seg | head -n 1)
[ -f "$seg" ] || fail "no segment file in $S/segments"
size=$(wc -c <"$seg")
[ "$size" -gt 4096 ] || fail "segment is only $size bytes"
off=$((size / 2))
old=$(od -An -tu1 -j "$off" -N1 "$seg" | tr -d ' ')
new=$((255 - old))
printf "\\$(printf '%03o' "$new")" | dd of="$seg" bs=1 seek="$off" count=1 conv=notrunc 2>/dev/null
[ "$(od -An -tu1 -j "$off" -N1 "$seg" | tr -d ' ')" = "$new" ] || fail "could not corrupt $seg"

set +e
"$CONVLOG" verify "$S" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "verify of a corrupt store exited $rc: $(cat "$tmp/out" "$tmp/err")"
grep -q "$(basename "$seg")" "$tmp/out" || fail "verify does not name $(basename "$seg"): $(cat "$tmp/out")"
tail -n 1 "$tmp/out" | grep -Eq '^[0-9]+ problems?$' || fail "no 'N problems' line: $(tail -n 1 "$tmp/out")"

# Reading the damaged conversation fails cleanly instead of printing garbage.
set +e
"$CONVLOG" export "$S" >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "export of a corrupt store exited $rc"
grep -q "^convlog export: " "$tmp/err" || fail "export error message: $(cat "$tmp/err")"
exit 0
