#!/bin/sh
# scope.sh - the tool under CONVLOG_SCOPE_USER / CONVLOG_SCOPE_ORG (scoped
# handles, convlog_scope_open): listings, search, export and stats show
# only the scope's conversations; another user's conversation reads as
# unknown (same message as an id that never existed) and cannot be
# changed; whole-store commands are refused; the unscoped store is
# unchanged afterwards.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-scope.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/s.store"

fail() {
	echo "scope.sh: FAIL: $*" >&2
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

"$CONVLOG" init "$S" >/dev/null
"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl" >/dev/null
"$CONVLOG" export "$S" >"$tmp/before.jsonl"

ALPHA=user-alpha-123
# the conversations alpha owns, and one of someone else's
mine=$(grep '"type":"conversation"' "$tmp/before.jsonl" | grep -c "\"user_id\":\"$ALPHA\"")
[ "$mine" -eq 2 ] || fail "the sample should give alpha 2 conversations, not $mine"
other=$(grep '"type":"conversation"' "$tmp/before.jsonl" | grep -v "\"user_id\":\"$ALPHA\"" |
	head -1 | sed 's/.*"id":"\([^"]*\)".*/\1/')
own=$(grep '"type":"conversation"' "$tmp/before.jsonl" | grep "\"user_id\":\"$ALPHA\"" |
	head -1 | sed 's/.*"id":"\([^"]*\)".*/\1/')
never=01234567-89ab-7def-8123-456789abcdef

export CONVLOG_SCOPE_USER=$ALPHA

# listings and export: alpha's only
status 0 ls "$S"
n=$(($(wc -l <"$tmp/stdout") - 1))
[ "$n" -eq 2 ] || fail "scoped ls lists $n conversations, expected 2"
status 0 export "$S"
[ "$(grep -c '"type":"conversation"' "$tmp/stdout")" -eq 2 ] || fail "scoped export: not 2 conversations"
grep '"type":"conversation"' "$tmp/stdout" | grep -v "\"user_id\":\"$ALPHA\"" && fail "scoped export leaks"
status 0 search "$S" the --limit 100
grep -q "$other" "$tmp/stdout" && fail "scoped search finds another user's messages"
grep -q "$own" "$tmp/stdout" || fail "scoped search misses alpha's own messages"
status 0 stats "$S"
grep -q "^conversations *2 " "$tmp/stdout" || fail "scoped stats: $(head -1 "$tmp/stdout")"

# someone else's conversation: exactly like one that never existed
status 1 show "$S" "$other"
sed "s/$other/ID/" "$tmp/stderr" >"$tmp/hidden.err"
status 1 show "$S" "$never"
sed "s/$never/ID/" "$tmp/stderr" >"$tmp/never.err"
cmp -s "$tmp/hidden.err" "$tmp/never.err" || fail "hidden and unknown ids differ: $(cat "$tmp/hidden.err")"
status 1 thread "$S" "$other"
status 1 fork --at 1 "$S" "$other"
status 1 delete "$S" "$other"
status 1 archive "$S" "$other"
status 0 show "$S" "$own"

# whole-store commands
status 1 compact "$S"
grep -q "whole store" "$tmp/stderr" || fail "compact through a scope: $(cat "$tmp/stderr")"
status 1 verify "$S"
status 1 inspect "$S"

# the org scope sees more than the user scope and less than the store
unset CONVLOG_SCOPE_USER
org=$(grep '"type":"conversation"' "$tmp/before.jsonl" | grep '"org_id"' | head -1 |
	sed 's/.*"org_id":"\([^"]*\)".*/\1/')
in_org=$(grep '"type":"conversation"' "$tmp/before.jsonl" | grep -c "\"org_id\":\"$org\"")
CONVLOG_SCOPE_ORG=$org "$CONVLOG" export "$S" >"$tmp/org.jsonl"
[ "$(grep -c '"type":"conversation"' "$tmp/org.jsonl")" -eq "$in_org" ] ||
	fail "org scope exports the wrong conversations"

# nothing changed
"$CONVLOG" export "$S" >"$tmp/after.jsonl"
cmp -s "$tmp/before.jsonl" "$tmp/after.jsonl" || fail "the store changed"
"$CONVLOG" verify "$S" >/dev/null || fail "verify after the scoped session"
echo "scope.sh: ok"
