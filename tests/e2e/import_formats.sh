#!/bin/sh
# import_formats.sh - convlog import of real export formats: ChatGPT and
# Claude.ai conversations.json, OpenAI chat-completions JSONL, detected
# without --format; branches become a tree with the right tip; Unicode
# survives byte for byte; importing twice changes nothing; and every kind
# of bad input (truncated JSON, invalid UTF-8, a cycle, a missing parent,
# duplicate ids, wrong types, absurd nesting, a 50 MB string) fails the
# conversation it is in with an error naming the file, the conversation
# number and byte offset and the node, leaves the store exactly as before
# that conversation, and with --keep-going imports the good ones.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data="$root/tests/data/exports"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-formats.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

fail() {
	echo "import_formats.sh: FAIL: $*" >&2
	exit 1
}

# run EXPECTED-STATUS ARGS...: runs convlog, output in $tmp/out and $tmp/err
run() {
	want=$1
	shift
	set +e
	"$CONVLOG" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = "$want" ] || fail "convlog $*: exit $rc, expected $want: $(cat "$tmp/err")"
}

fresh() {
	rm -rf "$tmp/s"
	"$CONVLOG" init "$tmp/s"
}

# ---- good files, detected, twice ----
for f in chatgpt.json claude.json openai.jsonl; do
	fresh
	run 0 import --json "$tmp/s" "$data/$f"
	grep -q '"kind":"summary".*"conversations":3,"new":3,"updated":0,"unchanged":0,"failed":0' "$tmp/out" ||
		fail "$f: first import summary: $(cat "$tmp/out")"
	run 0 verify "$tmp/s"
	"$CONVLOG" export "$tmp/s" >"$tmp/first.jsonl"
	run 0 import --json "$tmp/s" "$data/$f"
	grep -q '"conversations":3,"new":0,"updated":0,"unchanged":3,"failed":0' "$tmp/out" ||
		fail "$f: second import changed something: $(cat "$tmp/out")"
	"$CONVLOG" export "$tmp/s" | cmp -s - "$tmp/first.jsonl" || fail "$f: second import changed the export"
	# an explicit --format gives the same store; standard input works too
	fmt=${f%%.*}
	rm -rf "$tmp/t"
	"$CONVLOG" init "$tmp/t"
	run 0 import --format "$fmt" "$tmp/t" - <"$data/$f"
	if [ "$fmt" != openai ]; then # OpenAI has no times: the import clock stands in
		"$CONVLOG" export "$tmp/t" | cmp -s - "$tmp/first.jsonl" || fail "$f: --format $fmt from stdin differs"
	fi
done

# ---- ChatGPT: the branches and the tip ----
fresh
run 0 import "$tmp/s" "$data/chatgpt.json"
L=6650a3b1-7c2e-8005-9f3a-2b1d4e6f8a90
run 0 children "$tmp/s" "$L" 6
grep -c '^\[[0-9]*\] assistant' "$tmp/out" | grep -qx 2 || fail "the regenerated answers are not siblings: $(cat "$tmp/out")"
run 0 children "$tmp/s" "$L" 3
grep -q '^\[4\] user' "$tmp/out" && grep -q '^\[6\] user' "$tmp/out" ||
	fail "the edited question is not a sibling of the original: $(cat "$tmp/out")"
run 0 thread "$tmp/s" "$L"
grep -q "Do Sintra in the morning" "$tmp/out" || fail "the tip is not current_node's answer: $(cat "$tmp/out")"
grep -q "bus 403" "$tmp/out" && fail "the thread shows the branch that is not current"
grep -q "What about Sintra?$" "$tmp/out" && fail "the thread shows the question before its edit"
run 0 show "$tmp/s" "$L"
grep -q '"hidden":true' "$tmp/out" || fail "the hidden system message was dropped"
# Unicode, byte for byte (the title and a turn of the ramen conversation)
run 0 ls --json "$tmp/s"
grep -q '"title":"拉麵推薦 🍜"' "$tmp/out" || fail "the CJK/emoji title did not survive: $(cat "$tmp/out")"
run 0 search "$tmp/s" "Lisbon"
grep -q "$L" "$tmp/out" || fail "imported text is not searchable"

# ---- Claude: attachments searchable, tool use kept ----
fresh
run 0 import "$tmp/s" "$data/claude.json"
"$CONVLOG" export "$tmp/s" >"$tmp/claude.jsonl"
grep -q '\[attachment: ' "$tmp/claude.jsonl" || fail "attachment text is not in the content"
grep -q '"tool_calls":\[{"id":' "$tmp/claude.jsonl" || fail "tool_use is not in tool_calls"
grep -q '"role":"user"' "$tmp/claude.jsonl" || fail "human is not mapped to user"

# ---- OpenAI: tool calls and tool turns ----
fresh
run 0 import "$tmp/s" "$data/openai.jsonl"
"$CONVLOG" export "$tmp/s" >"$tmp/openai.jsonl"
grep -q '"tool_call_id":"call_abc123"' "$tmp/openai.jsonl" || fail "tool_call_id was lost"
grep -q '"role":"tool"' "$tmp/openai.jsonl" || fail "the tool turn was lost"

# ---- format errors ----
fresh
run 2 import --format word "$tmp/s" "$data/chatgpt.json"
run 1 import --format convlog "$tmp/s" "$data/chatgpt.json"
grep -q "a JSON array, not convlog JSONL" "$tmp/err" || fail "wrong --format not explained: $(cat "$tmp/err")"
run 1 import --format chatgpt "$tmp/s" "$data/openai.jsonl"
grep -q "does not start with '\['" "$tmp/err" || fail "wrong --format not explained: $(cat "$tmp/err")"
printf '[{"foo":1}]' >"$tmp/unknown.json"
run 1 import "$tmp/s" "$tmp/unknown.json"
grep -q "give --format" "$tmp/err" || fail "an unknown array format is not explained: $(cat "$tmp/err")"

# ---- bad input ----
# A tiny ChatGPT conversation: gconv ID CONTENT-PRINTF-ARG
gconv() {
	printf '{"id":"%s","title":"t %s","create_time":1714567890.5,"update_time":null,' "$1" "$1"
	printf '"current_node":"n1","mapping":{"r":{"id":"r","message":null,"parent":null,"children":["n1"]},'
	printf '"n1":{"id":"n1","message":{"id":"m-%s","author":{"role":"user"},"create_time":1714567890.5,' "$1"
	printf '"content":{"content_type":"text","parts":["%s"]}},"parent":"r","children":[]}}}' "$2"
}
A=66520001-aaaa-8001-b001-00000000000a
B=66520002-aaaa-8001-b001-00000000000b
C=66520003-aaaa-8001-b001-00000000000c
base="$tmp/base.store"
"$CONVLOG" init "$base"
"$CONVLOG" import "$base" "$root/tools/sample/demo.jsonl"
"$CONVLOG" export "$base" >"$tmp/base.jsonl"

# bad KIND FILE PATTERN: FILE is [good A, bad B, good C] (the fixtures use
# other ids: their good ones are found by title)
bad() {
	kind=$1 file=$2 pattern=$3
	name=$(basename "$file")
	rm -rf "$tmp/s"
	cp -R "$base" "$tmp/s"
	run 1 import "$tmp/s" "$file"
	grep -Eq "^convlog import: .*$name(: conversation 2 \(byte [0-9]+\)|:2): " "$tmp/err" ||
		fail "$kind: the error does not name $name and conversation 2: $(cat "$tmp/err")"
	grep -Eq "$pattern" "$tmp/err" || fail "$kind: the error lacks /$pattern/: $(cat "$tmp/err")"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$kind: more than one error line: $(cat "$tmp/err")"
	n=$("$CONVLOG" export "$tmp/s" | grep -c '"type":"conversation"')
	m=$(grep -c '"type":"conversation"' "$tmp/base.jsonl")
	[ "$n" = $((m + 1)) ] || fail "$kind: $n conversations after stopping at the second, expected $((m + 1))"
	rm -rf "$tmp/s"
	cp -R "$base" "$tmp/s"
	run 1 import --keep-going "$tmp/s" "$file"
	grep -Eq "$pattern" "$tmp/err" || fail "$kind -k: the error lacks /$pattern/: $(cat "$tmp/err")"
	n=$("$CONVLOG" export "$tmp/s" | grep -c '"type":"conversation"')
	[ "$n" = $((m + 2)) ] || fail "$kind -k: $n conversations, expected the two good ones more than $m"
	run 0 verify "$tmp/s"
}

bad cycle "$data/chatgpt_cycle.json" 'cycle'
bad missing-parent "$data/chatgpt_missing_parent.json" 'not in the mapping|missing'
bad duplicate-id "$data/chatgpt_dup_id.json" 'already'
bad wrong-type "$data/chatgpt_wrong_type.json" 'expected'
bad claude-time "$data/claude_bad_time.json" 'time'
bad openai-type "$data/openai_bad.jsonl" 'messages'

{ printf '['; gconv "$A" good; printf ','; gconv "$B" "Lis$(printf '\377')bon"; printf ','; gconv "$C" good; printf ']'; } >"$tmp/utf8.json"
bad invalid-utf8 "$tmp/utf8.json" 'invalid JSON at byte [0-9]+: .*(UTF-8|decode)'

deep=$(printf '%.0s[' $(seq 600))$(printf '%.0s]' $(seq 600))
{ printf '['; gconv "$A" good; printf ',{"id":"%s","x":%s,"mapping":{}},' "$B" "$deep"; gconv "$C" good; printf ']'; } >"$tmp/deep.json"
bad nesting "$tmp/deep.json" 'nested deeper than 512 levels'

big=$(head -c 50000000 /dev/zero | tr '\0' a)
{ printf '['; gconv "$A" good; printf ','; gconv "$B" "$big"; printf ','; gconv "$C" good; printf ']'; } >"$tmp/big.json"
unset big
bad huge-string "$tmp/big.json" 'content is 47.7 MiB, over the 16 MiB limit'

{ printf '['; gconv "$A" good; printf ','; gconv "$B" good | head -c 150; } >"$tmp/trunc.json"
rm -rf "$tmp/s"
cp -R "$base" "$tmp/s"
run 1 import "$tmp/s" "$tmp/trunc.json"
grep -q "conversation 2 (byte [0-9]*): the file ends inside the array (truncated?)" "$tmp/err" ||
	fail "truncated: $(cat "$tmp/err")"
n=$("$CONVLOG" export "$tmp/s" | grep -c '"type":"conversation"')
[ "$n" = $(($(grep -c '"type":"conversation"' "$tmp/base.jsonl") + 1)) ] || fail "truncated: the first conversation is not imported"

# the convlog format with a 50 MB content string: the library's limit
{
	printf '{"type":"conversation","id":"%s","created_at":"2025-01-01T00:00:00Z"}\n' "$A"
	printf '{"type":"message","id":"%s","conversation_id":"%s","seq":1,"role":"user","created_at":"2025-01-01T00:00:00Z","content":"' "$B" "$A"
	head -c 50000000 /dev/zero | tr '\0' a
	printf '"}\n'
} >"$tmp/big.jsonl"
rm -rf "$tmp/s"
cp -R "$base" "$tmp/s"
run 1 import "$tmp/s" "$tmp/big.jsonl"
grep -q "big.jsonl:2: conversation $A: .*" "$tmp/err" || fail "big convlog line: $(cat "$tmp/err")"
"$CONVLOG" export "$tmp/s" | cmp -s - "$tmp/base.jsonl" || fail "big convlog line: the store changed"

# --json errors
rm -rf "$tmp/s"
cp -R "$base" "$tmp/s"
run 1 import --json --keep-going "$tmp/s" "$data/chatgpt_cycle.json"
grep -q '^{"kind":"error","file":"[^"]*chatgpt_cycle.json","item":2,"conversation":"66510002-aaaa-8001-b001-000000000002 (\\"cycle\\")","error":".*cycle","byte":[0-9]*}$' "$tmp/out" ||
	fail "--json error line: $(cat "$tmp/out")"
grep -q '"kind":"summary".*"new":2,.*"failed":1' "$tmp/out" || fail "--json summary: $(cat "$tmp/out")"
echo "import_formats.sh: ok"
