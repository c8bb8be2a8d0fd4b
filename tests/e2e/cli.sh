#!/bin/sh
# cli.sh - command-line behaviour of convlog: golden outputs of ls, show and
# stats on the demo store, listing filters and paging, exit codes (0 ok,
# 1 failure, 2 usage error) and the --help of every command.
#
# Set CONVLOG_UPDATE_GOLDEN=1 to rewrite the golden files instead of
# comparing (then review the diff).
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/demo.store"

fail() {
	echo "cli.sh: FAIL: $*" >&2
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

"$CONVLOG" init "$S"
"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl"

# ---- golden outputs ----
"$CONVLOG" ls "$S" | golden ls.txt
"$CONVLOG" ls --json --user user-alpha-123 "$S" | golden ls_user.jsonl
"$CONVLOG" show "$S" 0196ce10-a700-7005-8e9b-5eed00058ef2 | golden show.txt
"$CONVLOG" show --json "$S" ac_7f3k9q2mzx81 | golden show_ext.jsonl
"$CONVLOG" show --json --last 2 "$S" 0194853a-a280-7007-8ed9-5eed00077de2 | golden show_last.jsonl
# stats: only the fields that do not depend on file layout
"$CONVLOG" stats --json "$S" | sed 's/,"segments".*/}/' | golden stats.json
"$CONVLOG" stats "$S" | grep -E '^(conversations|messages|content) ' | golden stats.txt

# ---- ls filters ----
count() {
	"$CONVLOG" ls --json "$@" "$S" | grep -c '"type":"conversation"' || true
}
[ "$(count)" = 11 ] || fail "ls lists 11 conversations (deleted one hidden)"
[ "$(count --all)" = 12 ] || fail "ls --all lists 12"
[ "$(count --status deleted)" = 1 ] || fail "ls --status deleted"
[ "$(count --status archived)" = 1 ] || fail "ls --status archived"
[ "$(count --tag python)" = 2 ] || fail "ls --tag python"
[ "$(count --org 3f6c1e2a-8d4b-4c1e-9a7f-2b5d8e0c4a11)" = 2 ] || fail "ls --org"
[ "$(count --session 5f0e6a3c-2b7d-4e91-a8c4-13d6f9b02e57)" = 2 ] || fail "ls --session"
[ "$(count --user user-alpha-123 --tag c)" = 1 ] || fail "ls --user --tag"
[ "$(count --user nobody)" = 0 ] || fail "ls --user nobody"

# ---- ls orders, role filters and forks ----
ids() {
	"$CONVLOG" ls --json "$@" "$S" | sed -n 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/p'
}
"$CONVLOG" ls --order oldest "$S" | golden ls_oldest.txt
[ "$(ids --order newest)" = "$(ids --order oldest | tac)" ] || fail "ls --order newest"
[ "$(ids --order activity)" = "$(ids)" ] || fail "ls --order activity is the default"
[ "$(ids --order oldest --all | head -n 1)" = 0194853a-a280-7007-8ed9-5eed00077de2 ] ||
	fail "ls --order oldest --all"
[ "$(ids --user user-alpha-123 --order newest)" = "$(printf '%s\n' \
	0198c26e-d460-700a-8d36-5eed000b3cd3 019744ae-dd00-7003-835d-5eed00024bbd)" ] ||
	fail "ls --user --order newest"
[ "$(ids --initiator-role recruiter_twin)" = 01958583-4ed0-7001-811f-5eed00001eef ] ||
	fail "ls --initiator-role"
[ "$(ids --responder-role recruiter_twin)" = 01958979-8f40-7002-8c3e-5eed00017334 ] ||
	fail "ls --responder-role"
[ "$(ids --initiator-role recruiter_twin --responder-role bench_sales_twin --order oldest)" = \
	01958583-4ed0-7001-811f-5eed00001eef ] || fail "ls with both roles"
[ -z "$(ids --initiator-role recruiter_twin --responder-role recruiter_twin)" ] ||
	fail "ls with roles that do not match"
[ "$(ids --initiator-role recruiter_twin --status completed --order activity)" = \
	01958583-4ed0-7001-811f-5eed00001eef ] || fail "ls role and status by activity"
"$CONVLOG" ls --responder-role recruiter_twin "$S" | head -n 1 | grep -q '^ID  *CREATED ' ||
	fail "a role-only listing shows the creation time"
[ "$(ids --parent 0196ce10-a700-7005-8e9b-5eed00058ef2)" = 0196ce41-2ce0-7006-87ba-5eed0006a559 ] ||
	fail "ls --parent"
[ -z "$(ids --parent ac_7f3k9q2mzx81)" ] || fail "ls --parent of a conversation without forks"
"$CONVLOG" ls --order oldest --limit 4 "$S" >"$tmp/o1" 2>"$tmp/o1.err"
tok=$(sed -n 's/^next: //p' "$tmp/o1.err")
"$CONVLOG" ls --order oldest --limit 20 --after "$tok" "$S" | sed 1d >>"$tmp/o1"
"$CONVLOG" ls --order oldest "$S" | cmp -s - "$tmp/o1" || fail "paging in creation order"

# ---- paging: two pages of --limit 6 give the whole listing ----
"$CONVLOG" ls --limit 6 "$S" >"$tmp/p1" 2>"$tmp/p1.err"
tok=$(sed -n 's/^next: //p' "$tmp/p1.err")
[ -n "$tok" ] || fail "ls --limit 6 printed no 'next:' token"
"$CONVLOG" ls --limit 6 --after "$tok" "$S" >"$tmp/p2" 2>"$tmp/p2.err"
[ ! -s "$tmp/p2.err" ] || fail "the last page printed a 'next:' token"
{ cat "$tmp/p1"; sed 1d "$tmp/p2"; } >"$tmp/pages"
"$CONVLOG" ls "$S" | cmp -s - "$tmp/pages" || fail "two pages differ from the full listing"
"$CONVLOG" ls --json --limit 3 "$S" 2>"$tmp/j.err" >/dev/null
[ ! -s "$tmp/j.err" ] || fail "ls --json --limit printed a token"

# ---- exit codes ----
status 0 --version
grep -q '^convlog [0-9]' "$tmp/stdout" || fail "--version output"
status 0 --help
status 0 help
status 2
status 2 frobnicate
status 2 help frobnicate
for cmd in init import export ls show verify stats fork replay thread children tip session search \
	reindex delete restore archive purge compact inspect dump; do
	status 0 "$cmd" --help
	grep -q "^usage: convlog $cmd" "$tmp/stdout" || fail "$cmd --help has no usage line"
	status 0 help "$cmd"
	status 2 "$cmd" --no-such-flag "$S"
	grep -q "^convlog $cmd: unknown option" "$tmp/stderr" || fail "$cmd: bad flag message"
done
status 2 init
status 2 import "$S"
status 2 export
status 2 export "$S" extra
status 2 ls
status 2 ls --limit
status 2 ls --limit zero "$S"
status 2 ls --status paused "$S"
status 2 ls --order sideways "$S"
grep -q "^convlog ls: --order is activity, newest or oldest, not 'sideways'" "$tmp/stderr" ||
	fail "ls --order sideways message"
status 2 ls --parent
status 1 ls --order newest --tag python "$S"
status 1 ls --order activity --initiator-role recruiter_twin "$S"
status 1 ls --parent no-such-conversation "$S"
grep -q "^convlog ls: no conversation has the id or external_id 'no-such-conversation'" \
	"$tmp/stderr" || fail "ls --parent of an unknown conversation"
status 2 show "$S"
status 2 show --last -1 "$S" ac_7f3k9q2mzx81
status 2 verify
status 2 stats

status 1 ls "$tmp/missing.store"
grep -q "^convlog ls: .*no convlog store" "$tmp/stderr" || fail "missing store message"
status 1 show "$tmp/missing.store" x
status 1 export "$tmp/missing.store"
status 1 stats "$tmp/missing.store"
status 1 verify "$tmp/missing.store"
status 1 import "$tmp/missing.store" "$root/tests/data/good.jsonl"
status 1 import "$S" "$tmp/no-such-file.jsonl"
status 1 show "$S" 0190ffff-0000-7000-8000-000000000000
grep -q "^convlog show: " "$tmp/stderr" || fail "unknown conversation message"
status 1 show "$S" no-such-external-id
status 1 init "$S"
grep -q "already a convlog store" "$tmp/stderr" || fail "init of an existing store"
status 0 init --exist-ok "$S"
status 1 ls --after cl1.zz "$S"

# init refuses a non-empty directory that is not a store
mkdir "$tmp/notastore"
echo hello >"$tmp/notastore/file"
status 1 init "$tmp/notastore"

# quiet on success: import, export --out and init print nothing
"$CONVLOG" init "$tmp/q.store" >"$tmp/q.out" 2>&1
"$CONVLOG" import "$tmp/q.store" "$root/tests/data/good.jsonl" >>"$tmp/q.out" 2>&1
"$CONVLOG" export --out "$tmp/q.jsonl" "$tmp/q.store" >>"$tmp/q.out" 2>&1
[ ! -s "$tmp/q.out" ] || fail "init/import/export are not quiet: $(cat "$tmp/q.out")"
cmp -s "$tmp/q.jsonl" "$root/tests/data/good.jsonl" && fail "export should add derived fields"
"$CONVLOG" import -v "$tmp/q.store" "$root/tests/data/good.jsonl" 2>"$tmp/v.err"
grep -q "3 conversations imported (0 new, 0 updated, 3 unchanged)" "$tmp/v.err" ||
	fail "import -v summary: $(cat "$tmp/v.err")"
exit 0
