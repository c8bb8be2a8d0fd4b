#!/bin/sh
# tree.sh - message trees and forks from the command line: thread, children,
# tip, fork and replay on the store of tests/data/tree.jsonl, show of forks,
# import and export of forks under the shared-prefix semantics, exit codes.
#
# tests/data/tree.jsonl: R (tree-root) has the tree
#     1 user -> 2 assistant (regenerated as 3)
#            -> 3 assistant -> 4 user -> 5 assistant
#                           -> 6 user (edit of 4) -> 7 assistant   (tip 7)
# F1 (tree-fork) forks R at 5 and adds 6 user -> 7 assistant (tip 7);
# F2 (tree-fork2) forks F1 at 6 and adds 7 assistant (tip 7).
#
# Set CONVLOG_UPDATE_GOLDEN=1 to rewrite the golden files instead of
# comparing (then review the diff).
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-tree.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/tree.store"
R=0190f000-0000-7000-8000-000000000001
F1=0190f000-0000-7000-8000-000000000002
F2=0190f000-0000-7000-8000-000000000003

fail() {
	echo "tree.sh: FAIL: $*" >&2
	exit 1
}

# golden NAME: compares stdin with golden/NAME
golden() {
	cat >"$tmp/out"
	if [ "${CONVLOG_UPDATE_GOLDEN:-}" = 1 ]; then
		cp "$tmp/out" "$here/golden/$1"
		return 0
	fi
	if ! cmp -s "$tmp/out" "$here/golden/$1"; then
		diff "$here/golden/$1" "$tmp/out" | head -20 >&2 || true
		fail "output differs from golden/$1"
	fi
}

# status WANT CMD...: runs convlog CMD..., expects exit status WANT
status() {
	want=$1
	shift
	set +e
	"$CONVLOG" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
	got=$?
	set -e
	[ "$got" = "$want" ] || fail "convlog $*: exit $got, expected $want ($(head -c 300 "$tmp/stderr"))"
}

# seqs CMD...: the seq of every message line convlog CMD... prints, joined
seqs() {
	"$CONVLOG" "$@" | sed -n 's/.*"type":"message".*"seq":\([0-9]*\),.*/\1/p' | tr '\n' ' ' |
		sed 's/ $//'
}

# field NAME: the value of integer or string field NAME of the JSON on stdin
field() {
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

"$CONVLOG" init "$S"
"$CONVLOG" import "$S" "$root/tests/data/tree.jsonl"

# ---- thread: root to tip or to --to, across fork boundaries ----
"$CONVLOG" thread "$S" tree-fork2 | golden tree_thread.txt
"$CONVLOG" thread --json "$S" $F2 | golden tree_thread.jsonl
[ "$(seqs thread --json "$S" tree-root)" = "1 3 6 7" ] || fail "thread of R to its tip"
[ "$(seqs thread --json --to 5 "$S" tree-root)" = "1 3 4 5" ] || fail "thread --to 5"
[ "$(seqs thread --json --to 2 "$S" tree-root)" = "1 2" ] || fail "thread --to 2"
[ "$(seqs thread --json "$S" tree-fork)" = "1 3 4 5 6 7" ] || fail "thread of F1"
# inherited messages keep their owner's conversation_id
owners=$("$CONVLOG" thread --json "$S" tree-fork2 | field conversation_id | uniq -c |
	awk '{printf "%s:%s ", $1, substr($2, 35)}')
[ "$owners" = "4:01 1:02 1:03 " ] || fail "thread owners of F2: $owners"

# ---- children: siblings, roots, and the fork limit ----
"$CONVLOG" children "$S" tree-fork 1 | golden tree_children.txt
[ "$(seqs children --json "$S" tree-root 1)" = "2 3" ] || fail "children of R/1"
[ "$(seqs children --json "$S" tree-root 3)" = "4 6" ] || fail "children of R/3"
[ "$(seqs children --json "$S" tree-root 0)" = "1" ] || fail "roots of R"
# F1 forks at 5: R's 6 (a child of 3) is not in F1's seq space
[ "$(seqs children --json "$S" tree-fork 3)" = "4" ] || fail "children of F1/3"
[ "$(seqs children --json "$S" tree-fork 5)" = "6" ] || fail "children of F1/5"
# F2 forks F1 at 6: F1's 7 is not F2's; F2's own 7 is
[ "$(seqs children --json "$S" tree-fork2 6)" = "7" ] || fail "children of F2/6"
"$CONVLOG" children "$S" tree-root 7 >"$tmp/none"
[ "$(sed -n 2p "$tmp/none")" = "(none)" ] || fail "children of a leaf: $(cat "$tmp/none")"
[ -z "$("$CONVLOG" children --json "$S" tree-root 7)" ] || fail "children --json of a leaf"

# ---- show: a fork's header and inherited messages; --json = export ----
"$CONVLOG" show "$S" tree-fork2 | golden tree_show_fork.txt
"$CONVLOG" export "$S" >"$tmp/export.jsonl"
for c in $R $F1 $F2; do
	"$CONVLOG" show --json "$S" $c >"$tmp/show.jsonl"
	awk -v id="$c" '/"type":"conversation"/ { on = index($0, "\"id\":\"" id "\"") > 0 }
		on' "$tmp/export.jsonl" | cmp -s - "$tmp/show.jsonl" ||
		fail "show --json $c differs from its lines in export"
done
[ "$(seqs show --json --last 1 "$S" tree-fork)" = "7" ] || fail "show --json --last 1 of F1"
[ "$(seqs show --json --last 5 "$S" tree-fork)" = "6 7" ] || fail "show --json --last 5 of F1"
[ "$("$CONVLOG" show --last 3 "$S" tree-fork | grep -c '^\[')" = 3 ] || fail "show --last 3 of F1"

# ---- tip: switch branches; replay follows the active thread ----
status 0 tip "$S" tree-root 5
[ ! -s "$tmp/stdout" ] || fail "tip printed something"
[ "$(seqs thread --json "$S" tree-root)" = "1 3 4 5" ] || fail "thread after tip 5"
"$CONVLOG" show --json "$S" tree-root | head -n 1 | grep -q '"tip_seq":5,' || fail "tip_seq 5"
status 0 tip "$S" $F2 4 # an inherited message
[ "$(seqs thread --json "$S" $F2)" = "1 3 4" ] || fail "thread of F2 after tip 4"
status 0 tip "$S" $F2 7

# ---- replay: a fork at 0 and the user turns of the active thread ----
"$CONVLOG" replay --system-prompt "You are verbose." "$S" tree-root >"$tmp/replay.jsonl"
fork=$(head -n 1 "$tmp/replay.jsonl" | field fork_id)
[ -n "$fork" ] || fail "replay printed no fork_id"
sed "s/$fork/FORK/" "$tmp/replay.jsonl" | golden tree_replay.jsonl
"$CONVLOG" show --json "$S" "$fork" >"$tmp/rf.jsonl"
[ "$(wc -l <"$tmp/rf.jsonl")" = 1 ] || fail "the replay fork has messages"
grep -q "\"system_prompt\":\"You are verbose.\".*\"parent_id\":\"$R\",\"depth\":1," "$tmp/rf.jsonl" ||
	fail "replay fork fields: $(cat "$tmp/rf.jsonl")"
grep -q '"fork_seq"' "$tmp/rf.jsonl" && fail "replay fork_seq is not 0"
status 0 tip "$S" tree-root 7
"$CONVLOG" replay "$S" tree-root >"$tmp/replay2.jsonl"
fork2=$(head -n 1 "$tmp/replay2.jsonl" | field fork_id)
[ "$(sed 1d "$tmp/replay2.jsonl" | field seq | tr '\n' ' ')" = "1 6 " ] || fail "replay after tip 7"
"$CONVLOG" replay "$S" $F2 >"$tmp/replay3.jsonl"
fork3=$(head -n 1 "$tmp/replay3.jsonl" | field fork_id)
[ "$(sed 1d "$tmp/replay3.jsonl" | field conversation_id | tr '\n' ' ')" = "$R $R $F1 " ] ||
	fail "replay of F2: the owners of its user turns"

# ---- fork: --at, overrides, default tip, a fork of a fork ----
new=$("$CONVLOG" fork --at 4 --title "Arithmetic, again" --tag x --tag a "$S" tree-root)
"$CONVLOG" show --json "$S" "$new" | sed -e "s/$new/NEW/" \
	-e 's/"\(created_at\|updated_at\|last_activity_at\)":"[^"]*"/"\1":"NOW"/g' |
	golden tree_fork.jsonl
[ "$(seqs thread --json "$S" "$new")" = "1 3 4" ] || fail "thread of the new fork"
ff=$("$CONVLOG" fork "$S" tree-fork) # at F1's tip, 7
"$CONVLOG" show --json "$S" "$ff" | head -n 1 >"$tmp/ff.jsonl"
grep -q "\"parent_id\":\"$F1\",\"fork_seq\":7,\"depth\":2,\"tip_seq\":7," "$tmp/ff.jsonl" ||
	fail "fork of a fork: $(cat "$tmp/ff.jsonl")"
grep -q '"tags":\["math"\]' "$tmp/ff.jsonl" || fail "fork did not copy the tags"
"$CONVLOG" thread --json "$S" tree-fork >"$tmp/t1"
"$CONVLOG" thread --json "$S" "$ff" | cmp -s - "$tmp/t1" || fail "a fork at the tip has its parent's thread"
"$CONVLOG" ls --json --parent tree-root "$S" | field id | sort >"$tmp/kids"
printf '%s\n' $F1 "$fork" "$fork2" "$new" | sort | cmp -s - "$tmp/kids" ||
	fail "ls --parent tree-root: $(cat "$tmp/kids")"
# newest activity first: the fork made now, then F2 (2025)
[ "$("$CONVLOG" ls --json --parent $F1 "$S" | field id)" = "$(printf '%s\n' "$ff" $F2)" ] ||
	fail "ls --parent F1"
[ "$("$CONVLOG" ls --json --parent $F2 "$S" | field id)" = "$fork3" ] || fail "ls --parent F2"

# ---- export and import of forks: a round trip, then checks ----
"$CONVLOG" export "$S" >"$tmp/a.jsonl"
"$CONVLOG" init "$tmp/b.store"
"$CONVLOG" import "$tmp/b.store" "$tmp/a.jsonl"
"$CONVLOG" export "$tmp/b.store" | cmp -s - "$tmp/a.jsonl" || fail "fork export/import round trip"
"$CONVLOG" verify "$S" >/dev/null || fail "verify after the tree commands"
"$CONVLOG" verify "$tmp/b.store" >/dev/null || fail "verify of the re-imported store"
# a fork's own messages start at fork_seq + 1
sed -n 1,8p "$root/tests/data/tree.jsonl" >"$tmp/bad.jsonl"
cat >>"$tmp/bad.jsonl" <<EOF
{"type":"conversation","id":"0190f000-0000-7000-8000-00000000000f","parent_id":"$R","fork_seq":2,"created_at":"2025-04-05T00:00:00Z"}
{"type":"message","id":"0190f000-0000-7000-8000-000000000f01","conversation_id":"0190f000-0000-7000-8000-00000000000f","seq":1,"role":"user","created_at":"2025-04-05T00:00:01Z"}
EOF
"$CONVLOG" init "$tmp/c.store"
status 1 import "$tmp/c.store" "$tmp/bad.jsonl"
grep -q ":10: .*seqs up to fork_seq 2 are the parent's; the fork's own messages start at seq 3" \
	"$tmp/stderr" || fail "import of a fork's seq 1: $(cat "$tmp/stderr")"
sed -i 's/"seq":1,"role":"user","created_at":"2025-04-05/"seq":4,"role":"user","created_at":"2025-04-05/' \
	"$tmp/bad.jsonl"
status 1 import "$tmp/c.store" "$tmp/bad.jsonl"
grep -q ":10: .*a new fork at fork_seq 2 starts at seq 3" "$tmp/stderr" ||
	fail "import of a fork starting at seq 4: $(cat "$tmp/stderr")"

# ---- exit codes ----
for cmd in fork replay thread children tip; do
	status 0 "$cmd" --help
	grep -q "^usage: convlog $cmd" "$tmp/stdout" || fail "$cmd --help has no usage line"
	status 2 "$cmd" --no-such-flag "$S" tree-root 1
	grep -q "^convlog $cmd: unknown option" "$tmp/stderr" || fail "$cmd: bad flag message"
done
status 1 thread "$S" no-such-conversation
grep -q "^convlog thread: no conversation has the id or external_id 'no-such-conversation'" \
	"$tmp/stderr" || fail "thread of an unknown conversation: $(cat "$tmp/stderr")"
status 1 thread --to 99 "$S" tree-root
grep -q "^convlog thread: message 99 of conversation $R does not exist" "$tmp/stderr" ||
	fail "thread --to 99: $(cat "$tmp/stderr")"
status 1 children "$S" tree-root 8
status 1 children "$S" 0190ffff-0000-7000-8000-000000000000 1
status 1 tip "$S" tree-root 8
status 1 tip "$S" nope 1
status 1 fork --at 8 "$S" tree-root
grep -q "^convlog fork: conversation $R has no message 8 (it has 7)" "$tmp/stderr" ||
	fail "fork --at 8: $(cat "$tmp/stderr")"
status 1 fork "$S" nope
status 1 replay "$S" nope
status 1 thread "$tmp/missing.store" tree-root
status 2 thread "$S"
status 2 thread --to 0 "$S" tree-root
status 2 thread --to x "$S" tree-root
status 2 thread "$S" tree-root extra
status 2 children "$S" tree-root
status 2 children "$S" tree-root -1
status 2 children "$S" tree-root 1 extra
status 2 tip "$S" tree-root
status 2 tip "$S" tree-root 0
status 2 tip "$S" tree-root seven
status 2 fork "$S"
status 2 fork --at "$S" tree-root
status 2 fork --at 1x "$S" tree-root
status 2 replay "$S"
status 2 replay --system-prompt
# nothing was forked by the failures above
[ "$("$CONVLOG" ls --json --all "$S" | grep -c '"type":"conversation"')" = 8 ] ||
	fail "failed commands created conversations"
exit 0
