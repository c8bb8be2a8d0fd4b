#!/bin/sh
# lifecycle.sh - delete, restore, archive and purge from the command line:
# what ls, show and search see after each, all-or-nothing over the operand
# list, forks surviving a purged parent, exit codes.
#
# The store holds tests/data/tree.jsonl (R = tree-root, active; F1 =
# tree-fork forks R at 5, active; F2 = tree-fork2 forks F1 at 6, completed;
# "edited" occurs in R's seq 6 only, which no fork inherits) and the two
# conversations written below: A (lc-a, completed, "quetzal") and B (lc-b,
# active, "xylophone").
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-lifecycle.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/lc.store"
R=0190f000-0000-7000-8000-000000000001
F1=0190f000-0000-7000-8000-000000000002
F2=0190f000-0000-7000-8000-000000000003
A=0190f0aa-0000-7000-8000-00000000000a
B=0190f0aa-0000-7000-8000-00000000000b

fail() {
	echo "lifecycle.sh: FAIL: $*" >&2
	exit 1
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

# err PATTERN WHAT: stderr of the last status call matches PATTERN
err() {
	grep -q "$1" "$tmp/stderr" || fail "$2: stderr is '$(cat "$tmp/stderr")'"
}

# conv_status CONV: the status of CONV, as show --json gives it
conv_status() {
	"$CONVLOG" show --json "$S" "$1" | head -n 1 | sed -n 's/.*"status":"\([a-z_]*\)".*/\1/p'
}

# listed ARGS...: the ids that convlog ls --json ARGS... STORE lists, sorted, on one line
listed() {
	"$CONVLOG" ls --json "$@" "$S" | sed -n 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/p' |
		sort | tr '\n' ' ' | sed 's/ $//'
}

# ids ID...: the ids sorted, on one line, as listed prints them
ids() {
	printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'
}

# hits QUERY [OPTS...]: the conversation ids of the search hits, one line
hits() {
	q=$1
	shift
	"$CONVLOG" search --json "$@" "$S" "$q" | sed -n 's/.*"conversation_id":"\([^"]*\)".*/\1/p' |
		sort -u | tr '\n' ' ' | sed 's/ $//'
}

# snap / unchanged WHAT: the whole store (its export) is as at the last snap
snap() {
	"$CONVLOG" export "$S" >"$tmp/snap"
}
unchanged() {
	"$CONVLOG" export "$S" | cmp -s - "$tmp/snap" || fail "$1 changed the store"
}

# thread_norm CONV: text thread of CONV without the owner marks
thread_norm() {
	"$CONVLOG" thread "$S" "$1" | sed 's/  (from [0-9a-f-]*)$//'
}

# thread_json_norm CONV: JSON thread of CONV without the owners
# (message ids too: a purge gives the forks' copies ids derived from the
# fork and the original, the same on every replica)
thread_json_norm() {
	"$CONVLOG" thread --json "$S" "$1" | sed 's/"conversation_id":"[^"]*",//; s/"id":"[^"]*",//'
}

# owners CONV: the owner of each message of CONV's JSON thread, "seq:owner-tail ..."
owners() {
	"$CONVLOG" thread --json "$S" "$1" |
		sed -n 's/.*"conversation_id":"[^"]*\(..\)","seq":\([0-9]*\),.*/\2:\1/p' | tr '\n' ' ' |
		sed 's/ $//'
}

cat >"$tmp/ab.jsonl" <<EOF
{"type":"conversation","id":"$A","external_id":"lc-a","user_id":"u2","title":"Birds","status":"completed","tip_seq":2,"created_at":"2025-05-01T09:00:00Z"}
{"type":"message","id":"0190f0aa-0000-7000-8000-0000000000a1","conversation_id":"$A","seq":1,"role":"user","content":"Where does the quetzal live?","created_at":"2025-05-01T09:00:01Z"}
{"type":"message","id":"0190f0aa-0000-7000-8000-0000000000a2","conversation_id":"$A","seq":2,"role":"assistant","content":"The resplendent quetzal lives in cloud forests.","created_at":"2025-05-01T09:00:02Z"}
{"type":"conversation","id":"$B","external_id":"lc-b","user_id":"u2","title":"Music","status":"active","tip_seq":1,"created_at":"2025-05-02T09:00:00Z"}
{"type":"message","id":"0190f0aa-0000-7000-8000-0000000000b1","conversation_id":"$B","seq":1,"role":"user","content":"Play a xylophone tune.","created_at":"2025-05-02T09:00:01Z"}
EOF
"$CONVLOG" init "$S"
"$CONVLOG" import "$S" "$root/tests/data/tree.jsonl"
"$CONVLOG" import "$S" "$tmp/ab.jsonl"
all=$(ids $A $B $R $F1 $F2)
[ "$(listed)" = "$all" ] || fail "initial ls: $(listed)"

# ---- delete: hidden from ls and search, shown as deleted by show ----
status 0 delete "$S" lc-a $R
[ ! -s "$tmp/stdout" ] || fail "delete printed something"
[ "$(listed)" = "$(ids $B $F1 $F2)" ] || fail "ls after delete: $(listed)"
[ "$(listed --all)" = "$all" ] || fail "ls --all after delete: $(listed --all)"
[ "$(listed --status deleted)" = "$(ids $A $R)" ] || fail "ls --status deleted: $(listed --status deleted)"
"$CONVLOG" show "$S" lc-a >"$tmp/show.txt"
grep -q '^  status  *deleted$' "$tmp/show.txt" || fail "show of a deleted conversation: status"
grep -q '^  prev_status  *completed$' "$tmp/show.txt" || fail "show of a deleted conversation: prev_status"
grep -q '^  deleted_at  ' "$tmp/show.txt" || fail "show of a deleted conversation: deleted_at"
grep -q '^\[2\] assistant' "$tmp/show.txt" || fail "show of a deleted conversation lists its messages"
"$CONVLOG" show --json "$S" $R | head -n 1 >"$tmp/r.jsonl"
grep -q '"status":"deleted","prev_status":"active",' "$tmp/r.jsonl" || fail "show --json of R: $(cat "$tmp/r.jsonl")"
grep -q '"deleted_at":"' "$tmp/r.jsonl" || fail "show --json of R: no deleted_at"
[ -z "$(hits quetzal)" ] || fail "search finds a deleted conversation"
[ "$(hits quetzal --deleted)" = "$A" ] || fail "search --deleted"
[ "$(hits edited)" = "" ] || fail "search finds R's own words while R is deleted"
# the forks of a deleted conversation still read through it
[ "$(owners tree-fork2)" = "1:01 3:01 4:01 5:01 6:02 7:03" ] || fail "thread of F2 under a deleted R"
# deleting a deleted conversation changes nothing; an id named twice counts once
snap
status 0 delete "$S" $A lc-a
unchanged "delete of a deleted conversation"

# ---- restore: the status before the deletion comes back ----
status 0 restore "$S" lc-a tree-root
[ ! -s "$tmp/stdout" ] || fail "restore printed something"
[ "$(conv_status lc-a)" = completed ] || fail "restore of A: $(conv_status lc-a)"
[ "$(conv_status $R)" = active ] || fail "restore of R: $(conv_status $R)"
[ "$(listed)" = "$all" ] || fail "ls after restore: $(listed)"
"$CONVLOG" show --json "$S" $R | head -n 1 | grep -q -e '"deleted_at"' -e '"prev_status"' &&
	fail "restore left deleted_at or prev_status"
[ "$(hits quetzal)" = "$A" ] || fail "search after restore"

# ---- archive: active passes through, archived stays, deleted refuses ----
status 0 archive "$S" lc-b $F2
[ ! -s "$tmp/stdout" ] || fail "archive printed something"
[ "$(conv_status lc-b)" = archived ] || fail "archive of active B: $(conv_status lc-b)"
[ "$(conv_status $F2)" = archived ] || fail "archive of completed F2: $(conv_status $F2)"
"$CONVLOG" show --json "$S" lc-b | head -n 1 | grep -q '"archived_at":"' || fail "no archived_at"
[ "$(listed --status archived)" = "$(ids $B $F2)" ] || fail "ls --status archived: $(listed --status archived)"
snap
status 0 archive "$S" lc-b
unchanged "archive of an archived conversation"
# an archived conversation deleted and restored is archived again
status 0 delete "$S" lc-b
status 0 restore "$S" lc-b
[ "$(conv_status lc-b)" = archived ] || fail "delete + restore of archived B: $(conv_status lc-b)"

# ---- all or nothing: unknown ids and refused changes change nothing ----
status 0 delete "$S" tree-fork
snap
status 1 delete "$S" lc-a no-such-conv $R
err "^convlog delete: no conversation has the id or external_id 'no-such-conv'$" "delete of an unknown id"
unchanged "delete with an unknown id"
status 1 archive "$S" lc-a 0190ffff-0000-7000-8000-000000000000 nope
err "'0190ffff-0000-7000-8000-000000000000'" "archive: the first unknown id"
err "'nope'" "archive: the second unknown id"
unchanged "archive with unknown ids"
status 1 restore "$S" no-such-conv
unchanged "restore of an unknown id"
status 1 restore "$S" tree-fork lc-a # F1 is deleted, A is not
err "^convlog restore: conversation $A is not deleted$" "restore of a conversation that is not deleted"
unchanged "restore of a deleted and a non-deleted conversation"
[ "$(conv_status $F1)" = deleted ] || fail "F1 restored by a failed restore"
status 1 archive "$S" lc-a tree-fork # F1 is deleted
err "^convlog archive: conversation $F1 is deleted; restore it first$" "archive of a deleted conversation"
unchanged "archive of a deleted conversation"
status 1 delete "$tmp/missing.store" lc-a
status 0 restore "$S" tree-fork
[ "$(conv_status $F1)" = active ] || fail "restore of F1"

# ---- purge: refused without --yes ----
snap
status 2 purge "$S" lc-a
err "^convlog purge: purging erases conversations for good; give --yes to confirm$" "purge without --yes"
err "^Try 'convlog purge --help'.$" "purge without --yes: hint"
[ ! -s "$tmp/stdout" ] || fail "purge without --yes printed something"
unchanged "purge without --yes"
status 1 purge --yes "$S" lc-a nope
[ ! -s "$tmp/stdout" ] || fail "a failed purge printed something"
unchanged "purge with an unknown id"

# ---- purge of a conversation without forks: gone everywhere ----
[ "$(hits quetzal)" = "$A" ] || fail "search before purge"
status 0 purge --yes "$S" lc-a # not deleted: deleted and purged in one transaction
[ "$(cat "$tmp/stdout")" = "purged $A" ] || fail "purge output: $(cat "$tmp/stdout")"
status 1 show "$S" lc-a
err "^convlog show: no conversation has the id or external_id 'lc-a'$" "show of a purged conversation"
status 1 show "$S" $A
[ -z "$(hits quetzal --deleted)" ] || fail "search finds a purged conversation"
[ -z "$(hits resplendent --deleted)" ] || fail "search finds a purged conversation's words"
[ "$(listed --all)" = "$(ids $B $R $F1 $F2)" ] || fail "ls --all after purge: $(listed --all)"
"$CONVLOG" verify "$S" >"$tmp/verify" || fail "verify after purge: $(cat "$tmp/verify")"
status 1 purge --yes "$S" $A
err "^convlog purge: no conversation has the id or external_id '$A'$" "purge of a purged id"

# ---- purge of a parent: its forks keep their threads ----
thread_norm tree-fork >"$tmp/f1.txt"
thread_norm tree-fork2 >"$tmp/f2.txt"
thread_json_norm tree-fork >"$tmp/f1.jsonl"
thread_json_norm tree-fork2 >"$tmp/f2.jsonl"
"$CONVLOG" thread "$S" tree-fork >"$tmp/f1.full.txt"
"$CONVLOG" thread "$S" tree-fork2 >"$tmp/f2.full.txt"
[ "$(owners tree-fork)" = "1:01 3:01 4:01 5:01 6:02 7:02" ] || fail "F1 owners before purge"
[ "$(hits edited)" = "$R" ] || fail "search for R's own words before purge"
[ "$(hits four)" = "$R" ] || fail "search for words F1 inherits, before purge"
status 0 delete "$S" tree-root # deleted first: the purge does not delete it again
status 0 purge --yes "$S" tree-root
[ "$(cat "$tmp/stdout")" = "purged $R" ] || fail "purge output: $(cat "$tmp/stdout")"
status 1 show "$S" tree-root
thread_norm tree-fork | cmp -s - "$tmp/f1.txt" || fail "thread of F1 changed by the purge of R"
thread_norm tree-fork2 | cmp -s - "$tmp/f2.txt" || fail "thread of F2 changed by the purge of R"
thread_json_norm tree-fork | cmp -s - "$tmp/f1.jsonl" || fail "thread --json of F1 changed"
thread_json_norm tree-fork2 | cmp -s - "$tmp/f2.jsonl" || fail "thread --json of F2 changed"
# the copies of R's messages are F1's own now (convlog_conv_purge)
[ "$(owners tree-fork)" = "1:02 3:02 4:02 5:02 6:02 7:02" ] || fail "F1 owners: $(owners tree-fork)"
[ "$(owners tree-fork2)" = "1:02 3:02 4:02 5:02 6:02 7:03" ] || fail "F2 owners: $(owners tree-fork2)"
# byte for byte, only R's marks changed: gone in F1, "(from F1)" in F2
"$CONVLOG" thread "$S" tree-fork >"$tmp/new.txt"
sed "s/  (from $R)\$//" "$tmp/f1.full.txt" | cmp -s - "$tmp/new.txt" ||
	fail "thread of F1: more than the owner marks of R's messages changed"
"$CONVLOG" thread "$S" tree-fork2 >"$tmp/new.txt"
sed "s/(from $R)\$/(from $F1)/" "$tmp/f2.full.txt" | cmp -s - "$tmp/new.txt" ||
	fail "thread of F2: more than the owner marks of R's messages changed"
"$CONVLOG" show --json "$S" tree-fork | head -n 1 >"$tmp/f1c.jsonl"
grep -q '"parent_id"' "$tmp/f1c.jsonl" && fail "F1 still has a parent: $(cat "$tmp/f1c.jsonl")"
[ -z "$(hits edited --deleted)" ] || fail "search finds R's own words after its purge"
[ "$(hits four)" = "$F1" ] || fail "search for the words F1 copied: $(hits four)"
"$CONVLOG" verify "$S" >"$tmp/verify" || fail "verify after the purge of R: $(cat "$tmp/verify")"
# the store still exports and imports into the same store
"$CONVLOG" export "$S" >"$tmp/a.jsonl"
"$CONVLOG" init "$tmp/b.store"
"$CONVLOG" import "$tmp/b.store" "$tmp/a.jsonl"
"$CONVLOG" export "$tmp/b.store" | cmp -s - "$tmp/a.jsonl" || fail "export/import after purge"

# ---- purge of several at once, a fork before its parent ----
status 0 purge --yes "$S" tree-fork2 $F1 tree-fork
[ "$(cat "$tmp/stdout")" = "$(printf 'purged %s\npurged %s' $F2 $F1)" ] ||
	fail "purge of two: $(cat "$tmp/stdout")"
[ "$(listed --all)" = "$B" ] || fail "ls --all after purging the forks: $(listed --all)"
"$CONVLOG" verify "$S" >"$tmp/verify" || fail "verify after purging the forks: $(cat "$tmp/verify")"

# ---- exit codes and help ----
for cmd in delete restore archive purge; do
	status 0 "$cmd" --help
	grep -q "^usage: convlog $cmd" "$tmp/stdout" || fail "$cmd --help has no usage line"
	status 0 help "$cmd"
	grep -q "^usage: convlog $cmd" "$tmp/stdout" || fail "help $cmd has no usage line"
	status 2 "$cmd" --no-such-flag "$S" lc-b
	err "^convlog $cmd: unknown option '--no-such-flag'" "$cmd: bad flag message"
	status 2 "$cmd"
	err "^convlog $cmd: STORE and CONV are required" "$cmd without operands"
	status 2 "$cmd" "$S"
	err "^convlog $cmd: CONV is required" "$cmd without CONV"
done
"$CONVLOG" purge --help | grep -q -- '--yes is required' || fail "purge --help does not say --yes is required"
status 2 delete --yes "$S" lc-b
status 2 purge --yes "$S"
status 2 purge -y "$S" lc-b
[ "$(conv_status lc-b)" = archived ] || fail "usage errors changed B"
exit 0
