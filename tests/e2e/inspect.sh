#!/bin/sh
# inspect.sh - convlog inspect and convlog dump from the command line: text
# and JSON output, record counts against the LSNs, LSN order, block lines,
# one segment, after a compaction, damage, exit codes.  The store holds
# tools/sample/demo.jsonl.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-inspect.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/i.store"

fail() {
	echo "inspect.sh: FAIL: $*" >&2
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

# json_check FILE: every line is a JSON object
json_check() {
	python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    if not isinstance(json.loads(line), dict):
        sys.exit("line %d is not an object" % n)
' "$1" || fail "$1: a line is not JSON: $(head -c 300 "$1")"
}

# jq_py EXPR FILE: evaluates a Python expression over the list L of parsed lines
jq_py() {
	python3 -c '
import json, sys
L = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
print(eval(sys.argv[1]))
' "$1" "$2"
}

# ascending FILE: the LSNs of "LSN n" lines strictly ascend
ascending() {
	awk '$1 == "LSN" { if (seen && $2 <= prev) { print "LSN " $2 " after " prev; exit 1 } prev = $2; seen = 1 }' "$1" ||
		fail "$1: LSNs out of order"
}

"$CONVLOG" init "$S" >/dev/null
"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl" >/dev/null

# ---- inspect: text ----
status 0 inspect "$S"
cp "$tmp/stdout" "$tmp/inspect.txt"
for h in '^store ' '^format +4 ' '^lsn +last [0-9]+' '^content +[0-9]+ conversations' '^segments$' \
	'^ +ID +TIER +SIZE +LIVE% +BLOCKS +FRAMES +RECORDS +LSN RANGE +DICT +FLAGS$' \
	'^ +1 +log .* active$' '^  total: ' '^lmdb tables$' '^ +NAME +ENTRIES +DEPTH +PAGES$' \
	'^ +msg +[0-9]+ ' '^lmdb +data.mdb ' '^index segments ' '^memtable ' '^dicts '; do
	grep -Eq "$h" "$tmp/inspect.txt" || fail "inspect output lacks /$h/: $(cat "$tmp/inspect.txt")"
done

# ---- inspect: JSON ----
status 0 inspect --json "$S"
cp "$tmp/stdout" "$tmp/inspect.json"
json_check "$tmp/inspect.json"
[ "$(jq_py 'L[0]["kind"]' "$tmp/inspect.json")" = store ] || fail "first --json line is not the store"
[ "$(jq_py 'sorted(set(o["kind"] for o in L))' "$tmp/inspect.json")" = \
	"['index_segment', 'lmdb', 'memtable', 'segment', 'store', 'table']" ] ||
	fail "inspect --json kinds: $(jq_py 'sorted(set(o["kind"] for o in L))' "$tmp/inspect.json")"
last=$(jq_py 'L[0]["last_lsn"]' "$tmp/inspect.json")
msgs=$(jq_py 'L[0]["messages"]' "$tmp/inspect.json")
blocks=$(jq_py 'sum(o["blocks"] for o in L if o["kind"] == "segment")' "$tmp/inspect.json")
[ "$last" -gt 100 ] || fail "last_lsn $last"
[ "$(jq_py '[o["entries"] for o in L if o.get("name") == "msg"][0]' "$tmp/inspect.json")" = "$msgs" ] ||
	fail "msg table entries differ from the message count $msgs"

# ---- dump: one line per LSN, in order ----
status 0 dump "$S"
cp "$tmp/stdout" "$tmp/dump.txt"
[ "$(grep -c '^LSN ' "$tmp/dump.txt")" = "$last" ] || fail "dump printed $(grep -c '^LSN ' "$tmp/dump.txt") records for $last LSNs"
[ "$(wc -l <"$tmp/dump.txt")" -eq "$last" ] || fail "dump printed lines that are not records"
ascending "$tmp/dump.txt"
[ "$(grep -c '^LSN [0-9]*  seg 1 @0x[0-9a-f]*/[0-9]*  msg_append  [0-9a-f-]\{36\} seq [0-9]*  {.*}$' "$tmp/dump.txt")" = "$msgs" ] ||
	fail "msg_append lines do not match the format or the message count"
grep -q '^LSN 1  seg 1 @0x[0-9a-f]*/0  conv_put  [0-9a-f-]\{36\}  {"id":' "$tmp/dump.txt" || fail "first record: $(head -n 1 "$tmp/dump.txt")"
grep -q '…([0-9]* bytes)"' "$tmp/dump.txt" || fail "no long string was cut"

status 0 dump --raw "$S"
[ "$(grep -c '^block seg [0-9]* @0x[0-9a-f]* body [0-9]* frames [0-9]* records [0-9]* lsn [0-9]*\.\.[0-9]* durable [0-9]* dict [0-9]*$' "$tmp/stdout")" = "$blocks" ] ||
	fail "dump --raw: $(grep -c '^block ' "$tmp/stdout") block lines for $blocks blocks"
[ "$(grep -c '^LSN ' "$tmp/stdout")" = "$last" ] || fail "dump --raw lost records"
head -n 1 "$tmp/stdout" | grep -q '^block seg 1 @0x40 ' || fail "dump --raw does not start with the first block"

status 0 dump --json "$S"
cp "$tmp/stdout" "$tmp/dump.json"
json_check "$tmp/dump.json"
[ "$(wc -l <"$tmp/dump.json")" -eq "$last" ] || fail "dump --json: $(wc -l <"$tmp/dump.json") lines for $last LSNs"
[ "$(jq_py '[o["lsn"] for o in L] == list(range(1, len(L) + 1))' "$tmp/dump.json")" = True ] ||
	fail "dump --json LSNs are not 1..$last"
[ "$(jq_py 'sum(1 for o in L if o["type"] == "msg_append" and o["seq"] == o["fields"]["seq"])' "$tmp/dump.json")" = "$msgs" ] ||
	fail "dump --json: seq of msg_append records"
[ "$(jq_py 'max(len(o["fields"].get("content", "")) for o in L) > 200' "$tmp/dump.json")" = True ] ||
	fail "dump --json cut a string"
grep -q '…(' "$tmp/dump.json" && fail "dump --json cut a string"
status 0 dump --raw --json "$S"
json_check "$tmp/stdout"
[ "$(jq_py 'sum(1 for o in L if "block" in o and o["block"]["problem"] is None)' "$tmp/stdout")" = "$blocks" ] ||
	fail "dump --raw --json block objects"

# ---- one segment: decimal, file name, hex ----
status 0 dump "$S" 1
cp "$tmp/stdout" "$tmp/seg1"
cmp -s "$tmp/seg1" "$tmp/dump.txt" || fail "dump STORE 1 differs from the whole dump of a one-segment store"
status 0 dump "$S" 0000000000000001.seg
cmp -s "$tmp/stdout" "$tmp/seg1" || fail "dump by file name differs"
status 0 dump "$S" 0x1
cmp -s "$tmp/stdout" "$tmp/seg1" || fail "dump by 0x id differs"
status 1 dump "$S" 99
grep -q 'no segment 99' "$tmp/stderr" || fail "dump of a missing segment: $(cat "$tmp/stderr")"

# ---- after a compaction: warm and cold segments, still in LSN order ----
for c in $("$CONVLOG" ls --json --all "$S" | sed -n 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/p' | head -n 6); do
	"$CONVLOG" archive "$S" "$c" 2>/dev/null || true
done
"$CONVLOG" compact --full --archive "$S" >/dev/null
status 0 inspect --json "$S"
cp "$tmp/stdout" "$tmp/inspect2.json"
json_check "$tmp/inspect2.json"
recs=$(jq_py 'sum(o["records"] for o in L if o["kind"] == "segment")' "$tmp/inspect2.json")
[ "$(jq_py 'sorted(set(o["tier"] for o in L if o["kind"] == "segment"))' "$tmp/inspect2.json")" = "['cold', 'log', 'warm']" ] ||
	fail "tiers after compact --archive: $(jq_py '[o["tier"] for o in L if o["kind"] == "segment"]' "$tmp/inspect2.json")"
status 0 dump "$S"
[ "$(grep -c '^LSN ' "$tmp/stdout")" = "$recs" ] || fail "dump after compaction: $(grep -c '^LSN ' "$tmp/stdout") records, inspect $recs"
ascending "$tmp/stdout"
warm=$(jq_py '[o["id"] for o in L if o["kind"] == "segment" and o["tier"] == "warm"][0]' "$tmp/inspect2.json")
wrecs=$(jq_py '[o["records"] for o in L if o["kind"] == "segment" and o["tier"] == "warm"][0]' "$tmp/inspect2.json")
status 0 dump "$S" "$warm"
[ "$(grep -c "^LSN [0-9]*  seg $warm " "$tmp/stdout")" = "$wrecs" ] || fail "dump of warm segment $warm"
[ "$(wc -l <"$tmp/stdout")" -eq "$wrecs" ] || fail "dump of segment $warm printed other segments"

# ---- damage: a flipped byte in a block header of a sealed segment ----
wfile=$(printf '%s/segments/%016x.seg' "$S" "$warm")
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(64 + 20); b = f.read(1); f.seek(64 + 20); f.write(bytes([b[0] ^ 0x5a]))
' "$wfile"
status 1 inspect "$S"
grep -Eq "^ +$warm +warm .*DAMAGED$" "$tmp/stdout" || fail "inspect does not flag segment $warm: $(cat "$tmp/stdout")"
grep -q 'damaged segment' "$tmp/stderr" || fail "inspect stderr: $(cat "$tmp/stderr")"
status 1 dump --raw "$S"
grep -q "^block seg $warm @0x40 .*DAMAGED: " "$tmp/stdout" || fail "dump --raw shows no damaged block"
grep -q 'damaged block' "$tmp/stderr" || fail "dump stderr: $(cat "$tmp/stderr")"
[ "$(grep -c '^LSN ' "$tmp/stdout")" = "$((recs - wrecs))" ] || fail "dump did not print the other records"

# ---- help, usage errors, a missing store ----
status 0 inspect --help
grep -q '^usage: convlog inspect' "$tmp/stdout" || fail "inspect --help"
status 0 dump --help
grep -q '^usage: convlog dump' "$tmp/stdout" || fail "dump --help"
status 0 help dump
grep -q '^usage: convlog dump' "$tmp/stdout" || fail "help dump"
status 2 inspect
status 2 inspect "$S" extra
status 2 inspect --bogus "$S"
status 2 dump
status 2 dump "$S" 1 extra
status 2 dump --nope "$S"
status 2 dump "$S" xyz
status 2 dump "$S" 0
status 1 inspect "$tmp/missing.store"
status 1 dump "$tmp/missing.store"
[ ! -e "$tmp/missing.store" ] || fail "a read-only command created the store"

echo "inspect.sh: ok"
