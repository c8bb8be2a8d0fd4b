#!/bin/sh
# sync_pg.sh - convlog sync push/pull through a private PostgreSQL server
# (tests/pg/pg.sh, sql/convlog-pg.sql).  Three stores of user u1 (role
# alice) fill from one push; then, offline, two of them append to the same
# conversation, one purges a conversation, one archives one and one forks
# one; after two rounds of push and pull every store exports byte for byte
# the same (JSON key order, numbers, NULs and escapes included), the
# server holds as many conversations and messages as the export and the
# tombstone of the purged one.  Row-level security: a store of user u2
# (role bob) syncs only u2's conversations, alice's stores never see them,
# and bob's push of a u1 conversation fails whole, changing nothing.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/tests/pg/pg.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-sync_pg.XXXXXX")
trap 'pg_stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

fail() {
	echo "sync_pg.sh: FAIL: $*" >&2
	exit 1
}

# q SQL: runs SQL as the superuser; prints the rows unaligned
q() {
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -At -c "$1" 2>"$tmp/err" ||
		fail "psql failed on: $1: $(cat "$tmp/err")"
}
# qas ROLE SQL: the same as ROLE
qas() {
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -At -U "$1" -c "$2" 2>"$tmp/err" ||
		fail "psql as $1 failed on: $2: $(cat "$tmp/err")"
}
# eq WHAT EXPECTED ACTUAL
eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
# sync VERB URL STORE: convlog sync push|pull, which must succeed
sync() {
	"$CONVLOG" sync "$1" --pg "$2" "$3" >"$tmp/out" 2>&1 ||
		fail "sync $1 of $(basename "$3") failed: $(cat "$tmp/out")"
}
# same WHAT FILE1 FILE2: byte-identical files
same() {
	cmp -s "$2" "$3" || fail "$1: $(basename "$2") and $(basename "$3") differ:
$(diff "$2" "$3" | head -n 20)"
}
# lines PATTERN FILE: how many lines of FILE match PATTERN
lines() {
	grep -c -- "$1" "$2" || :
}

pg_start || fail "could not start a PostgreSQL server (sh tools/install-deps.sh installs it)"
"$PSQL" -X -q -v ON_ERROR_STOP=1 -f "$root/sql/convlog-pg.sql" >"$tmp/load" 2>&1 ||
	fail "loading sql/convlog-pg.sql: $(cat "$tmp/load")"
q "SELECT convlog_grant_user('alice', 'u1'); SELECT convlog_grant_user('bob', 'u2')" >/dev/null
ALICE="postgresql:///$PGDATABASE?host=$PGHOST&port=$PGPORT&user=alice"
BOB="postgresql:///$PGDATABASE?host=$PGHOST&port=$PGPORT&user=bob"

A=$tmp/A.store B=$tmp/B.store C=$tmp/C.store D=$tmp/D.store
for s in "$A" "$B" "$C" "$D"; do
	"$CONVLOG" init "$s" >/dev/null
done

# ---------------------------------------------------------------------------
# 1. one push, two pulls: three equal stores
# ---------------------------------------------------------------------------
# ids: conversations ...c1-c4, messages ...a<conv><n>
c() { echo "01900000-0000-7000-8000-0000000000c$1"; }
m() { echo "01900000-0000-7000-8000-000000000$1"; }
C1=$(c 1) C2=$(c 2) C3=$(c 3) C4=$(c 4)
# Values that must come back byte for byte: JSON key order and number forms
# (which jsonb would rewrite), \u0000 in JSON (which jsonb cannot hold), a
# NUL in content (which text cannot hold), tags and cursor names that need
# quoting, non-ASCII text, NULL against "".
cat >"$tmp/u1.jsonl" <<EOF
{"type":"conversation","id":"$C1","external_id":"trip-1","org_id":"acme","user_id":"u1","device_id":"phone","session_id":"s1","title":"Trip to Zürich","topic":"","system_prompt":"Be brief.","tags":["b \"q\"","a,b","{x}","back\\\\slash"],"rating":4,"tip_seq":3,"cursors":{"server":7,"client \"c\"":-3},"metadata":{"zeta":1,"alpha":{"b":2,"a":[1.5e300,0.1,-0.0,1e2]},"nul":"x\u0000y","big":9007199254740993},"created_at":"2025-01-01T00:00:00.000Z"}
{"type":"message","id":"$(m a11)","conversation_id":"$C1","seq":1,"parent_seq":0,"role":"user","content":"Find me a train to Zürich, not a flight.","created_at":"2025-01-01T00:00:01.000Z"}
{"type":"message","id":"$(m a12)","conversation_id":"$C1","seq":2,"parent_seq":1,"role":"assistant","name":"planner","content":"","tool_calls":[{"id":"call_1","function":{"name":"search","arguments":"{\"to\":\"ZRH\"}"}}],"token_count":12,"cost":340,"latency_ms":250,"model":"gpt-x","metadata":{"z":true,"a":null},"created_at":"2025-01-01T00:00:02.000Z"}
{"type":"message","id":"$(m a13)","conversation_id":"$C1","seq":3,"parent_seq":2,"role":"tool","tool_call_id":"call_1","content":"bytes\u0000with\u0000NULs","status":"error","error_message":"timeout","feedback":-1,"feedback_text":"slow","created_at":"2025-01-01T00:00:03.000Z"}
{"type":"conversation","id":"$C2","user_id":"u1","title":"Doomed","created_at":"2025-01-02T00:00:00.000Z"}
{"type":"message","id":"$(m a21)","conversation_id":"$C2","seq":1,"parent_seq":0,"role":"user","content":"forget me","created_at":"2025-01-02T00:00:01.000Z"}
{"type":"message","id":"$(m a22)","conversation_id":"$C2","seq":2,"parent_seq":1,"role":"assistant","content":"ok","created_at":"2025-01-02T00:00:02.000Z"}
{"type":"conversation","id":"$C3","user_id":"u1","title":"Archive me","created_at":"2025-01-03T00:00:00.000Z"}
{"type":"message","id":"$(m a31)","conversation_id":"$C3","seq":1,"parent_seq":0,"role":"user","content":"old news","created_at":"2025-01-03T00:00:01.000Z"}
{"type":"conversation","id":"$C4","user_id":"u1","title":"Fork base","tip_seq":3,"created_at":"2025-01-04T00:00:00.000Z"}
{"type":"message","id":"$(m a41)","conversation_id":"$C4","seq":1,"parent_seq":0,"role":"user","content":"one","created_at":"2025-01-04T00:00:01.000Z"}
{"type":"message","id":"$(m a42)","conversation_id":"$C4","seq":2,"parent_seq":1,"role":"assistant","content":"two","created_at":"2025-01-04T00:00:02.000Z"}
{"type":"message","id":"$(m a43)","conversation_id":"$C4","seq":3,"parent_seq":2,"role":"user","content":"three","created_at":"2025-01-04T00:00:03.000Z"}
EOF
"$CONVLOG" import "$A" "$tmp/u1.jsonl" || fail "import into A"
"$CONVLOG" export "$A" >"$tmp/A0.jsonl"
sync push "$ALICE" "$A"
grep -q "4 conversations, 9 messages, 0 purges" "$tmp/out" || fail "first push: $(cat "$tmp/out")"
sync pull "$ALICE" "$B"
grep -q "4 conversations (4 new, 0 changed), 9 messages added" "$tmp/out" || fail "first pull: $(cat "$tmp/out")"
sync pull "$ALICE" "$C"
# (byte for byte, updated_at included: import stores it as given, below the
# last message's created_at, and a pull reproduces it)
for s in B C; do
	"$CONVLOG" export "$tmp/$s.store" >"$tmp/${s}0.jsonl"
	same "after one push and a pull" "$tmp/A0.jsonl" "$tmp/${s}0.jsonl"
done
eq "the server keeps the JSON text" '{"zeta":1,"alpha":{"b":2,"a":[1.5e300,0.1,-0.0,100.0]},"nul":"x\u0000y","big":9007199254740993}|t' \
	"$(q "SELECT metadata_text, metadata ? 'zeta' FROM convlog_conversations WHERE id = '$C1'")"
eq "the server keeps content with NULs" "byteswithNULs|t" \
	"$(q "SELECT content, content_raw = convert_to('bytes', 'UTF8') || '\\x00'::bytea || convert_to('with', 'UTF8') || '\\x00'::bytea || convert_to('NULs', 'UTF8') FROM convlog_messages WHERE id = '$(m a13)'")"
sync pull "$ALICE" "$B"
grep -q ": 0 conversations" "$tmp/out" || fail "a pull with nothing new: $(cat "$tmp/out")"

# ---------------------------------------------------------------------------
# 2. offline edits, then two rounds of push and pull
# ---------------------------------------------------------------------------
# appends: the conversation line as the store has it, then the new turns
append() { # STORE CONV LINES...
	st=$1 cv=$2
	shift 2
	{
		"$CONVLOG" export "$st" | grep "^{\"type\":\"conversation\",\"id\":\"$cv\""
		for l in "$@"; do
			echo "$l"
		done
	} >"$tmp/append.jsonl"
	"$CONVLOG" import "$st" "$tmp/append.jsonl" || fail "append to $(basename "$st")"
}
msg() { # ID SEQ PARENT CONTENT TIME
	echo "{\"type\":\"message\",\"id\":\"$(m "$1")\",\"conversation_id\":\"$C1\",\"seq\":$2,\"parent_seq\":$3,\"role\":\"user\",\"content\":\"$4\",\"created_at\":\"2025-01-05T00:00:0$5.000Z\"}"
}
append "$A" "$C1" "$(msg 0a4 4 3 "from A" 1)"
append "$B" "$C1" "$(msg 0b4 4 3 "from B" 2)" "$(msg 0b5 5 4 "B again" 3)"
"$CONVLOG" delete "$C" "$C2" >/dev/null
"$CONVLOG" purge --yes "$C" "$C2" >/dev/null
"$CONVLOG" archive "$B" "$C3" >/dev/null
# B edits a turn: import supersedes a message whose fields differ (with
# an updated_at not below the edit's time, which apply would raise it to)
"$CONVLOG" export "$B" | grep -e "^{\"type\":\"conversation\",\"id\":\"$C4\"" -e "\"id\":\"$(m a43)\"" |
	sed -e 's/"content":"three"/"content":"three, edited","edited_at":"2025-01-07T00:00:00.000Z"/' \
		-e 's/"updated_at":"[^"]*"/"updated_at":"2025-01-07T00:00:00.000Z"/' >"$tmp/edit.jsonl"
"$CONVLOG" import "$B" "$tmp/edit.jsonl" || fail "edit in B"
# C purges a conversation the server never had: the tombstone is u1's
C5=$(c 5)
printf '%s\n' "{\"type\":\"conversation\",\"id\":\"$C5\",\"user_id\":\"u1\",\"created_at\":\"2025-01-06T00:00:00.000Z\"}" >"$tmp/c5.jsonl"
"$CONVLOG" import "$C" "$tmp/c5.jsonl" || fail "import into C"
"$CONVLOG" delete "$C" "$C5" >/dev/null
"$CONVLOG" purge --yes "$C" "$C5" >/dev/null
FORK=$("$CONVLOG" fork --at 2 --title "Forked" "$A" "$C4")

for _ in 1 2; do
	for s in A B C; do
		sync push "$ALICE" "$tmp/$s.store"
		sync pull "$ALICE" "$tmp/$s.store"
	done
done
for s in A B C; do
	"$CONVLOG" export "$tmp/$s.store" >"$tmp/$s.jsonl"
	"$CONVLOG" verify "$tmp/$s.store" >"$tmp/verify" || fail "verify $s: $(cat "$tmp/verify")"
done
same "after two rounds" "$tmp/A.jsonl" "$tmp/B.jsonl"
same "after two rounds" "$tmp/A.jsonl" "$tmp/C.jsonl"
E=$tmp/A.jsonl
eq "conversations after the merge" 4 "$(lines '"type":"conversation"' "$E")"
eq "the purged conversation is gone" 0 "$(lines "$C2" "$E")"
eq "both devices' turns, one numbering" 6 "$(lines "\"conversation_id\":\"$C1\"" "$E")"
# seqof SUFFIX: the seq of message ...SUFFIX of C1 in the merged export
seqof() {
	grep -o "\"id\":\"$(m "$1")\",\"conversation_id\":\"$C1\",\"seq\":[0-9]*" "$E" | sed 's/.*://'
}
eq "the appended turns take seqs 4-6" "4 5 6" \
	"$(printf '%s\n' "$(seqof 0a4)" "$(seqof 0b4)" "$(seqof 0b5)" | sort -n | tr '\n' ' ' | sed 's/ $//')"
[ "$(seqof 0b4)" -lt "$(seqof 0b5)" ] || fail "B's turns out of order: $(seqof 0b4), $(seqof 0b5)"
eq "the archive" 1 "$(lines "\"id\":\"$C3\".*\"status\":\"archived\"" "$E")"
eq "the fork" 1 "$(lines "\"id\":\"$FORK\".*\"parent_id\":\"$C4\",\"fork_seq\":2,\"depth\":1" "$E")"
grep "\"id\":\"$C1\"" "$tmp/A0.jsonl" | grep -o '"metadata":{[^}]*}[^}]*}' >"$tmp/meta0"
grep "\"id\":\"$C1\"" "$E" | grep -o '"metadata":{[^}]*}[^}]*}' >"$tmp/meta1"
same "metadata after the merge" "$tmp/meta0" "$tmp/meta1"
grep -q 'bytes\\u0000with\\u0000NULs' "$E" || fail "content with NULs lost"

# the server: as many conversations and messages as the export, and the tombstone
eq "server conversations" "$(lines '"type":"conversation"' "$E")" \
	"$(q "SELECT count(*) FROM convlog_conversations WHERE user_id = 'u1'")"
eq "server messages" "$(lines '"type":"message"' "$E")" \
	"$(q "SELECT count(*) FROM convlog_messages WHERE user_id = 'u1'")"
eq "server tombstones" "$C2|u1 $C5|u1" \
	"$(q "SELECT string_agg(conv_id || '|' || user_id, ' ' ORDER BY conv_id) FROM convlog_tombstones")"
eq "the edit" 1 "$(lines "\"id\":\"$(m a43)\".*\"content\":\"three, edited\".*\"edited_at\"" "$E")"
eq "the edit on the server" "three, edited" "$(q "SELECT content FROM convlog_messages WHERE id = '$(m a43)'")"
# converged: a third round changes nothing on the server, nor any export
max=$(q "SELECT convlog_max_change_id()")
for s in A B C; do
	sync push "$ALICE" "$tmp/$s.store"
	sync pull "$ALICE" "$tmp/$s.store"
	"$CONVLOG" export "$tmp/$s.store" >"$tmp/$s.3.jsonl"
	same "after a third round" "$E" "$tmp/$s.3.jsonl"
done
eq "the server's last change after a third round" "$max" "$(q "SELECT convlog_max_change_id()")"

# ---------------------------------------------------------------------------
# 3. row-level security: bob (u2) and alice (u1) share the server
# ---------------------------------------------------------------------------
cat >"$tmp/u2.jsonl" <<EOF
{"type":"conversation","id":"$(c 9)","user_id":"u2","title":"Bob's","created_at":"2025-02-01T00:00:00.000Z"}
{"type":"message","id":"$(m b91)","conversation_id":"$(c 9)","seq":1,"parent_seq":0,"role":"user","content":"mine","created_at":"2025-02-01T00:00:01.000Z"}
EOF
"$CONVLOG" import "$D" "$tmp/u2.jsonl" || fail "import into D"
sync push "$BOB" "$D"
sync pull "$ALICE" "$A"
grep -q ": 0 conversations" "$tmp/out" || fail "alice pulled bob's changes: $(cat "$tmp/out")"
"$CONVLOG" export "$A" >"$tmp/A2.jsonl"
same "alice's store after bob's push" "$E" "$tmp/A2.jsonl"
sync pull "$BOB" "$D"
"$CONVLOG" export "$D" >"$tmp/D.jsonl"
eq "bob's store" "1|0" "$(lines '"type":"conversation"' "$tmp/D.jsonl")|$(lines '"user_id":"u1"' "$tmp/D.jsonl")"
eq "bob sees u2 only" "u2|u2|1" \
	"$(qas bob "SELECT (SELECT string_agg(DISTINCT user_id, ',') FROM convlog_conversations), (SELECT string_agg(DISTINCT user_id, ',') FROM convlog_messages), (SELECT count(*) FROM convlog_conversations)")"
# bob pushes a conversation of u1: refused, nothing changes
cat >"$tmp/steal.jsonl" <<EOF
{"type":"conversation","id":"$(c 8)","user_id":"u1","title":"Not bob's","created_at":"2025-02-02T00:00:00.000Z"}
{"type":"message","id":"$(m b81)","conversation_id":"$(c 8)","seq":1,"parent_seq":0,"role":"user","content":"x","created_at":"2025-02-02T00:00:01.000Z"}
EOF
"$CONVLOG" import "$D" "$tmp/steal.jsonl" || fail "import into D"
"$CONVLOG" sync status --json "$D" >"$tmp/status0"
before=$(q "SELECT (SELECT count(*) FROM convlog_conversations), (SELECT count(*) FROM convlog_messages), convlog_max_change_id()")
if "$CONVLOG" sync push --pg "$BOB" "$D" >"$tmp/out" 2>&1; then
	fail "bob's push of a u1 conversation succeeded: $(cat "$tmp/out")"
fi
grep -q "row-level security" "$tmp/out" || fail "bob's push failed, but not on row-level security: $(cat "$tmp/out")"
eq "the server after the refused push" "$before" \
	"$(q "SELECT (SELECT count(*) FROM convlog_conversations), (SELECT count(*) FROM convlog_messages), convlog_max_change_id()")"
"$CONVLOG" sync status --json "$D" >"$tmp/status1"
same "bob's cursors after the refused push" "$tmp/status0" "$tmp/status1"

# reloading the schema keeps the server's id: nothing to pull again
sid=$(q "SELECT convlog_server_id()")
"$PSQL" -X -q -v ON_ERROR_STOP=1 -f "$root/sql/convlog-pg.sql" >"$tmp/load" 2>&1 ||
	fail "reloading sql/convlog-pg.sql: $(cat "$tmp/load")"
eq "the server id after a reload" "$sid" "$(q "SELECT convlog_server_id()")"
sync pull "$ALICE" "$B"
grep -q ": 0 conversations" "$tmp/out" || fail "a pull after a reload: $(cat "$tmp/out")"

# the counts as JSON
"$CONVLOG" sync pull --json --pg "$ALICE" "$A" >"$tmp/out" || fail "pull --json: $(cat "$tmp/out")"
grep -q '^{"source":"[0-9a-f]\{16\}","since":[0-9]*,"upto":[0-9]*,"conversations":0,.*"cursor_moved":false}$' "$tmp/out" ||
	fail "pull --json printed: $(cat "$tmp/out")"
"$CONVLOG" sync push --json --pg "$ALICE" "$A" >"$tmp/out" || fail "push --json: $(cat "$tmp/out")"
grep -q '^{"since":[0-9]*,"upto":[0-9]*,"conversations":0,"messages":0,"purged":0}$' "$tmp/out" ||
	fail "push --json printed: $(cat "$tmp/out")"

# cursors are kept per role: a store that has pulled as alice (who cannot
# see u2's rows) and then pulls as the admin gets bob's conversation too
ADMIN="postgresql:///convlog?host=$PGHOST&port=$PGPORT&user=postgres"
sync pull "$ADMIN" "$A"
grep -q "(1 new, 0 changed), 1 messages added" "$tmp/out" ||
	fail "the admin's first pull into alice's store: $(cat "$tmp/out")"
eq "peers of alice's store (one per role)" 2 \
	"$("$CONVLOG" sync status "$A" | grep -c '^peer ')"

# a database without the schema; a server that is not there
if "$CONVLOG" sync pull --pg "postgresql:///postgres?host=$PGHOST&port=$PGPORT&user=postgres" "$A" >"$tmp/out" 2>&1; then
	fail "a pull from a database without the schema succeeded"
fi
grep -q "load sql/convlog-pg.sql" "$tmp/out" || fail "a pull without the schema: $(cat "$tmp/out")"
if "$CONVLOG" sync pull --pg "postgresql:///nothere?host=$tmp&port=1" "$A" >"$tmp/out" 2>&1; then
	fail "a pull from no server succeeded"
fi
grep -q "cannot connect" "$tmp/out" || fail "a pull from no server: $(cat "$tmp/out")"

pg_stop
echo "sync_pg.sh: ok"
