#!/bin/sh
# pg_schema.sh - the sync server's SQL layer (sql/convlog-pg.sql) alone,
# through psql, on a private PostgreSQL server (tests/pg/pg.sh): the file
# loads twice (and again over data); conversation units merge by unsigned
# (hlc, origin) stamps, each on its own; messages by version; a purge wins
# for good; pulls return exactly what changed after a cursor, and the push
# lock holds change ids back until they commit; row-level security keeps
# two user roles apart, search included; pg_stop leaves no server behind.
# Needs no $CONVLOG.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/tests/pg/pg.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-pg_schema.XXXXXX")
bg=""
trap 'if [ -n "$bg" ]; then kill "$bg" 2>/dev/null || :; fi; pg_stop; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

fail() {
	echo "pg_schema.sh: FAIL: $*" >&2
	exit 1
}

pg_start || fail "could not start a PostgreSQL server (sh tools/install-deps.sh installs it)"

# q SQL: runs SQL as the superuser; prints the rows unaligned, '|' between fields
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
# refused WHAT ROLE SQL PATTERN: SQL fails for ROLE, with an error matching PATTERN
refused() {
	if out=$("$PSQL" -X -q -v ON_ERROR_STOP=1 -At -U "$2" -c "$3" 2>&1); then
		fail "$1: accepted (printed '$out')"
	fi
	echo "$out" | grep -q -- "$4" || fail "$1: failed, but not with '$4': $out"
}
# gt WHAT A B: integer A > integer B
gt() {
	[ "$2" -gt "$3" ] 2>/dev/null || fail "$1: expected $2 > $3"
}

load() {
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f "$root/sql/convlog-pg.sql" >"$tmp/load" 2>&1 ||
		fail "loading sql/convlog-pg.sql ($1): $(cat "$tmp/load")"
	[ ! -s "$tmp/load" ] || fail "loading sql/convlog-pg.sql ($1) printed: $(cat "$tmp/load")"
}
load "first"
load "second"

# conversation and message ids (uuid order: the last byte)
C0=00000000-0000-4000-8000-0000000000c0
C1=00000000-0000-4000-8000-0000000000c1
C2=00000000-0000-4000-8000-0000000000c2
C3=00000000-0000-4000-8000-0000000000c3
C9=00000000-0000-4000-8000-0000000000c9
A1=00000000-0000-4000-8000-0000000000a1
A2=00000000-0000-4000-8000-0000000000a2
B1=00000000-0000-4000-8000-0000000000b1
B9=00000000-0000-4000-8000-0000000000b9
N1=00000000-0000-4000-8000-0000000000e1
M0=00000000-0000-4000-8000-0000000000f0
M1=00000000-0000-4000-8000-0000000000f1
M2=00000000-0000-4000-8000-0000000000f2
M3=00000000-0000-4000-8000-0000000000f3
MX=00000000-0000-4000-8000-000000000f0a
MA=00000000-0000-4000-8000-000000000a01
MB=00000000-0000-4000-8000-000000000b01
MN=00000000-0000-4000-8000-000000000e01
U63=9223372036854775808        # 2^63: negative as a signed int64
U64MAX=18446744073709551615    # 2^64 - 1: -1 as a signed int64

# Test helpers, in their own schema.  t.u(base, k1, v1, k2, v2): 18 stamps
# equal to base but unit k1 = v1 and unit k2 = v2.  t.conv and t.msg push
# with fixed values for the fields a test does not name.
q "
CREATE SCHEMA t;
GRANT USAGE ON SCHEMA t TO PUBLIC;
CREATE FUNCTION t.u(base numeric, k1 int DEFAULT -1, v1 numeric DEFAULT NULL,
                    k2 int DEFAULT -1, v2 numeric DEFAULT NULL) RETURNS numeric[]
LANGUAGE sql AS \$\$
	SELECT array_agg(CASE WHEN i = k1 + 1 THEN v1 WHEN i = k2 + 1 THEN v2 ELSE base END ORDER BY i)
	FROM generate_series(1, 18) i
\$\$;
CREATE FUNCTION t.conv(p_id uuid, p_user text, p_title text, p_uh numeric[], p_uo numeric[],
                       p_topic text DEFAULT NULL, p_tags text[] DEFAULT NULL,
                       p_status smallint DEFAULT 1, p_archived_at bigint DEFAULT NULL,
                       p_updated bigint DEFAULT 1000, p_activity bigint DEFAULT 1000)
RETURNS bigint LANGUAGE sql AS \$\$
	SELECT convlog_push_conv(p_id, 1, 1, p_uh, p_uo, 'ext-' || p_id, 'org', p_user, 'dev',
		'sess', NULL, NULL, p_title, p_topic, NULL, p_tags, 0, NULL, NULL, 0, NULL,
		'{}', '{\"k\": 1}', 1000, p_status, NULL, p_archived_at, NULL, p_updated, p_activity)
\$\$;
CREATE FUNCTION t.try(stmt text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	r text;
BEGIN
	EXECUTE stmt INTO r;
	RETURN trim('ok ' || coalesce(r, ''));
EXCEPTION WHEN OTHERS THEN
	RETURN 'error ' || SQLSTATE || ' ' || SQLERRM;
END
\$\$;
CREATE FUNCTION t.msg(p_id uuid, p_conv uuid, bh numeric, bo numeric, vh numeric, vo numeric,
                      p_content text, p_tokens bigint DEFAULT 7)
RETURNS bigint LANGUAGE sql AS \$\$
	SELECT convlog_push_msg(p_id, p_conv, bh, bo, vh, vo, NULL, 'user', NULL, p_content,
		NULL, NULL, p_tokens, -1, -1, 'model', 1::smallint, NULL, 0::smallint, NULL,
		'{}', 1000, NULL)
\$\$;"

# ---------------------------------------------------------------------------
# 1. conversations: last writer wins per unit, stamps compared unsigned
# ---------------------------------------------------------------------------
title() { q "SELECT coalesce(title, '<null>') FROM convlog_conversations WHERE id = '$1'"; }

c=$(q "SELECT t.conv('$C1', 'u1', 'A', t.u(1, 7, 10), t.u(1, 7, 1))")
gt "first push of a conversation returns a change id" "$c" 0
eq "lower hlc loses" 0 "$(q "SELECT t.conv('$C1', 'u1', 'B', t.u(1, 7, 9), t.u(1, 7, 5))")"
eq "title after (9,5) against (10,1)" A "$(title "$C1")"
eq "identical push changes nothing" 0 "$(q "SELECT t.conv('$C1', 'u1', 'A', t.u(1, 7, 10), t.u(1, 7, 1))")"
c2=$(q "SELECT t.conv('$C1', 'u1', 'B', t.u(1, 7, 10), t.u(1, 7, 3))")
gt "same hlc, higher origin wins with a new change id" "$c2" "$c"
eq "title after (10,3) against (10,1)" B "$(title "$C1")"
q "SELECT t.conv('$C1', 'u1', 'C', t.u(1, 7, 10), t.u(1, 7, $U64MAX))" >/dev/null
eq "origin 2^64-1 beats 3 (unsigned)" C "$(title "$C1")"
eq "origin 2^63+1 loses to 2^64-1" 0 "$(q "SELECT t.conv('$C1', 'u1', 'D', t.u(1, 7, 10), t.u(1, 7, 9223372036854775809))")"
eq "title after origin 2^63+1" C "$(title "$C1")"
q "SELECT t.conv('$C1', 'u1', 'E', t.u(1, 7, $U63), t.u(1, 7, 1))" >/dev/null
eq "hlc 2^63 beats hlc 10 (unsigned)" E "$(title "$C1")"
# units are independent: a stale title and a newer topic in one push
q "SELECT t.conv('$C1', 'u1', 'Z', t.u(1, 7, 5, 8, 20), t.u(1), p_topic => 'T')" >/dev/null
eq "stale title, newer topic" "E|T|$U63|20|{}" \
	"$(q "SELECT title, topic, unit_hlc[8], unit_hlc[9], tags FROM convlog_conversations WHERE id = '$C1'")"
# unit 17: status, prev_status, archived_at and deleted_at travel together
q "SELECT t.conv('$C1', 'u1', 'E', t.u(1, 7, $U63, 17, 30), t.u(1), p_status => 6::smallint, p_archived_at => 777)" >/dev/null
eq "status unit won" "6|777" "$(q "SELECT status, archived_at FROM convlog_conversations WHERE id = '$C1'")"
eq "older status loses" 0 "$(q "SELECT t.conv('$C1', 'u1', 'E', t.u(1, 7, $U63, 17, 29), t.u(1), p_status => 7::smallint)")"
eq "status after the older push" "6|777" "$(q "SELECT status, archived_at FROM convlog_conversations WHERE id = '$C1'")"
# tags are a set
q "SELECT t.conv('$C1', 'u1', 'E', t.u(1, 7, $U63, 10, 5), t.u(1), p_tags => '{b,a,b}')" >/dev/null
eq "tags stored as a sorted set" "{a,b}|6" "$(q "SELECT tags, status FROM convlog_conversations WHERE id = '$C1'")"
# updated_at and last_activity_at merge by max, without stamps
S17="t.u(1, 7, $U63, 17, 30), t.u(1), p_status => 6::smallint, p_archived_at => 777"
eq "older updated_at changes nothing" 0 "$(q "SELECT t.conv('$C1', 'u1', 'E', $S17, p_updated => 500, p_activity => 400)")"
gt "newer updated_at is a change" "$(q "SELECT t.conv('$C1', 'u1', 'E', $S17, p_updated => 2000)")" 0
eq "times by max" "2000|1000|E" "$(q "SELECT updated_at, last_activity_at, title FROM convlog_conversations WHERE id = '$C1'")"
# NULL (not set) and '' are different values
q "SELECT t.conv('$C1', 'u1', '', t.u(1, 7, $U63, 17, 30), t.u(1, 7, 2), p_status => 6::smallint, p_archived_at => 777, p_tags => '{a,b}')" >/dev/null
eq "empty title" "''|f" "$(q "SELECT '''' || title || '''', title IS NULL FROM convlog_conversations WHERE id = '$C1'")"
q "SELECT t.conv('$C1', 'u1', NULL, t.u(1, 7, $U63, 17, 30), t.u(1, 7, 3), p_status => 6::smallint, p_archived_at => 777, p_tags => '{a,b}')" >/dev/null
eq "NULL title" "<null>" "$(title "$C1")"
eq "other units untouched" "T|6|777|{a,b}|ext-$C1|u1|{\"k\": 1}" \
	"$(q "SELECT topic, status, archived_at, tags, external_id, user_id, metadata FROM convlog_conversations WHERE id = '$C1'")"
# bad stamps
refused "origin 2^64" postgres "SELECT t.conv('$C9', 'u1', 'x', t.u(1), t.u(1, 3, 18446744073709551616))" "not an unsigned 64-bit stamp"
refused "negative hlc" postgres "SELECT t.conv('$C9', 'u1', 'x', t.u(1, 0, -1), t.u(1))" "not an unsigned 64-bit stamp"
refused "17 stamps" postgres "SELECT t.conv('$C9', 'u1', 'x', (t.u(1))[1:17], t.u(1))" "must be 18 stamps"
refused "a NULL stamp" postgres "SELECT t.conv('$C9', 'u1', 'x', t.u(1, 2, NULL), t.u(1))" "must be 18 stamps"
refused "status 8" postgres "SELECT t.conv('$C9', 'u1', 'x', t.u(1), t.u(1), p_status => 8::smallint)" "check constraint"
# every parameter as an untyped literal, as libpq sends text parameters
UH="{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,$U64MAX}"
UO="{$U64MAX,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}"
c=$(q "SELECT convlog_push_conv('$C0', '$U63', '$U64MAX', '$UH', '$UO',
	'ext0', NULL, 'u1', 'dev0', 'sess0', 'asker', 'answerer', 'Title 0', NULL, 'Be brief.',
	'{\"y \\\"q\\\"\",\"x\",\"x\"}', '4', '$C1', '$M1', '2', '$M2', '{\"main\": 5}', '{\"a\": [1, 2]}',
	'1700000000000', '5', '1', NULL, NULL, '1700000000001', '1700000000002')")
gt "push_conv with text parameters" "$c" 0
eq "stored from text parameters" "$U63|$U64MAX|{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,$U64MAX}|$U64MAX|{x,\"y \\\"q\\\"\"}|2|y \"q\"|4|$C1|$M1|2|$M2|{\"main\": 5}|1700000000000|5|1|<null>|asker" \
	"$(q "SELECT born_hlc, born_origin, unit_hlc, unit_origin[1], tags, cardinality(tags), tags[2], rating,
	             parent_id, fork_msg, depth, tip_msg, cursors, created_at, status, prev_status,
	             coalesce(org_id, '<null>'), initiator_role
	      FROM convlog_conversations WHERE id = '$C0'")"

# ---------------------------------------------------------------------------
# 2. messages: insert, identical re-push, edits by version, order by born
# ---------------------------------------------------------------------------
q "SELECT t.conv('$C2', 'u1', 'two', t.u(1), t.u(1))" >/dev/null
c=$(q "SELECT t.msg('$M1', '$C2', 5, 1, 5, 1, 'hello banana split', -1)")
gt "new message" "$c" 0
eq "token count -1 is unknown" "<null>" "$(q "SELECT coalesce(token_count::text, '<null>') FROM convlog_messages WHERE id = '$M1'")"
max=$(q "SELECT convlog_max_change_id()")
eq "max change id is the message's" "$c" "$max"
eq "identical message re-push" 0 "$(q "SELECT t.msg('$M1', '$C2', 5, 1, 5, 1, 'hello banana split', -1)")"
eq "no new change id" "$max" "$(q "SELECT convlog_max_change_id()")"
c=$(q "SELECT t.msg('$M1', '$C2', 5, 1, 6, 1, 'hello edited banana')")
gt "edit with a higher version" "$c" "$max"
eq "edit stored" "hello edited banana|7|6|$c" \
	"$(q "SELECT content, token_count, ver_hlc, change_id FROM convlog_messages WHERE id = '$M1'")"
eq "lower version ignored" 0 "$(q "SELECT t.msg('$M1', '$C2', 5, 1, 5, 9, 'stale')")"
eq "content after the lower version" "hello edited banana" "$(q "SELECT content FROM convlog_messages WHERE id = '$M1'")"
eq "the conversation carries the message's change id" "$c" "$(q "SELECT change_id FROM convlog_conversations WHERE id = '$C2'")"
q "SELECT t.msg('$M2', '$C2', 3, 1, 3, 1, 'first'), t.msg('$M0', '$C2', 5, 1, 5, 1, 'same born, smaller id'),
          t.msg('$M3', '$C2', 5, $U64MAX, 5, $U64MAX, 'origin 2^64-1')" >/dev/null
eq "seq by born stamp, then id" "f2:1,f0:2,f1:3,f3:4" \
	"$(q "SELECT string_agg(right(id::text, 2) || ':' || seq, ',' ORDER BY seq) FROM convlog_messages_ordered WHERE conv_id = '$C2'")"
refused "message of an unknown conversation" postgres "SELECT t.msg('$MX', '$C9', 1, 1, 1, 1, 'x')" "push the conversation first"
refused "message moved to another conversation" postgres "SELECT t.msg('$M1', '$C1', 5, 1, 9, 1, 'x')" "belongs to conversation"
refused "message status 4" postgres "SELECT convlog_push_msg('$MX', '$C2', 1, 1, 1, 1, NULL, 'user', NULL, 'x', NULL, NULL, -1, -1, -1, NULL, 4::smallint, NULL, 0::smallint, NULL, NULL, 1, NULL)" "check constraint"
c=$(q "SELECT convlog_push_msg('$MX', '$C2', '9', '1', '9', '2', '$M1', 'assistant', 'bot', '',
	'[{\"id\": \"call_1\"}]', NULL, '12', '3400', '250', 'gpt', '3', 'timeout', '-1', 'bad', '{\"m\": true}',
	'1700000000000', '1700000000500')")
gt "push_msg with text parameters" "$c" 0
eq "stored from text parameters" "$M1|assistant|bot||12|3400|250|gpt|3|timeout|-1|bad|{\"m\": true}|1700000000500|2|u1|5" \
	"$(q "SELECT o.parent_id, o.role, o.name, o.content, o.token_count, o.cost, o.latency_ms, o.model,
	             o.status, o.error_message, o.feedback, o.feedback_text, o.metadata, o.edited_at,
	             o.ver_origin, o.user_id, o.seq
	      FROM convlog_messages_ordered o WHERE o.id = '$MX'")"

# ---------------------------------------------------------------------------
# 3. purge: the conversation and its messages go; later pushes are ignored
# ---------------------------------------------------------------------------
before=$(q "SELECT convlog_max_change_id()")
p=$(q "SELECT convlog_push_purge('$C2', 50, 1)")
gt "purge returns a change id" "$p" "$before"
eq "conversation and messages deleted" "0|0" \
	"$(q "SELECT (SELECT count(*) FROM convlog_conversations WHERE id = '$C2'), (SELECT count(*) FROM convlog_messages WHERE conv_id = '$C2')")"
eq "tombstone" "$C2|50|1|u1|$p" "$(q "SELECT conv_id, purge_hlc, purge_origin, user_id, change_id FROM convlog_tombstones")"
eq "conversation push after the purge" -1 "$(q "SELECT t.conv('$C2', 'u1', 'back', t.u(99), t.u(99))")"
eq "message push after the purge" -1 "$(q "SELECT t.msg('$MX', '$C2', 99, 1, 99, 1, 'back')")"
eq "purge again" 0 "$(q "SELECT convlog_push_purge('$C2', 60, 1)")"
eq "still purged" "0|0|50|$p" \
	"$(q "SELECT (SELECT count(*) FROM convlog_conversations WHERE id = '$C2'), (SELECT count(*) FROM convlog_messages WHERE conv_id = '$C2'),
	             (SELECT purge_hlc FROM convlog_tombstones WHERE conv_id = '$C2'), convlog_max_change_id()")"
eq "pull sees the tombstone" "$C2|$p" "$(q "SELECT conv_id, change_id FROM convlog_pull_purges($before)")"
eq "pull sees no conversation" "" "$(q "SELECT id FROM convlog_pull_convs($before)")"
eq "journal" "purge|$C2|u1" "$(q "SELECT kind, conv_id, user_id FROM convlog_changes WHERE change_id = $p")"
p9=$(q "SELECT convlog_push_purge('$C9', 1, 1, 'u1')")
eq "purge of a conversation the server never had" "$C9|u1|$p9" "$(q "SELECT conv_id, user_id, change_id FROM convlog_tombstones WHERE conv_id = '$C9'")"
eq "which then cannot be created" -1 "$(q "SELECT t.conv('$C9', 'u1', 'x', t.u(1), t.u(1))")"
refused "the journal is append-only" postgres "UPDATE convlog_changes SET kind = 'msg'" "append-only"
refused "tombstones are kept" postgres "DELETE FROM convlog_tombstones" "append-only"

# ---------------------------------------------------------------------------
# 4. pull: increasing change ids, exactly what changed after a cursor
# ---------------------------------------------------------------------------
cur=$(q "SELECT convlog_max_change_id()")
eq "nothing after the cursor" "$cur||" \
	"$(q "SELECT convlog_pull_upto($cur, 10), (SELECT string_agg(id::text, ',') FROM convlog_pull_convs($cur)), (SELECT string_agg(id::text, ',') FROM convlog_pull_msgs($cur))")"
a=$(q "SELECT t.conv('$C1', 'u1', 'pulled', t.u(1, 7, $U63, 17, 30), t.u(1, 7, 9), p_status => 6::smallint, p_archived_at => 777, p_tags => '{a,b}')")
b=$(q "SELECT t.conv('$C3', 'u1', 'three', t.u(1), t.u(1))")
m=$(q "SELECT t.msg('$M0', '$C3', 1, 1, 1, 1, 'in three')")
gt "change ids increase (1)" "$a" "$cur"
gt "change ids increase (2)" "$b" "$a"
gt "change ids increase (3)" "$m" "$b"
eq "max change id" "$m" "$(q "SELECT convlog_max_change_id()")"
eq "pull after the cursor" "$C1|pulled|$a,$C3|three|$m" \
	"$(q "SELECT string_agg(id || '|' || title || '|' || change_id, ',' ORDER BY change_id) FROM convlog_pull_convs($cur)")"
eq "messages after the cursor" "$M0|$C3|$m|1" "$(q "SELECT id, conv_id, change_id, seq FROM convlog_pull_msgs($cur)")"
eq "first page of one" "$a" "$(q "SELECT convlog_pull_upto($cur, 1)")"
eq "the page" "$C1|" "$(q "SELECT (SELECT string_agg(id::text, ',') FROM convlog_pull_convs($cur, $a)), (SELECT string_agg(id::text, ',') FROM convlog_pull_msgs($cur, $a))")"
eq "the next page" "$m|$C3|$M0" \
	"$(q "SELECT convlog_pull_upto($a, 1), (SELECT string_agg(id::text, ',') FROM convlog_pull_convs($a, $m)), (SELECT string_agg(id::text, ',') FROM convlog_pull_msgs($a, $m))")"
eq "journal after the cursor" "conv|$a,conv|$b,msg|$m" \
	"$(q "SELECT string_agg(kind || '|' || change_id, ',' ORDER BY change_id) FROM convlog_changes WHERE change_id > $cur")"
eq "a pull in one snapshot" "$m
$C1
$C3
$M0
0" "$("$PSQL" -X -q -v ON_ERROR_STOP=1 -At <<EOF
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT convlog_pull_upto($cur, 500);
SELECT id FROM convlog_pull_convs($cur, $m);
SELECT id FROM convlog_pull_msgs($cur, $m);
SELECT count(*) FROM convlog_pull_purges($cur, $m);
COMMIT;
EOF
)"
# the push lock: a push waits for an uncommitted push, so change ids become
# visible in order
"$PSQL" -X -q -v ON_ERROR_STOP=1 -At >"$tmp/bg.out" 2>&1 <<EOF &
BEGIN;
SELECT t.conv('$C1', 'u1', 'held', t.u(1, 7, $U63, 17, 30), t.u(1, 7, 10), p_status => 6::smallint, p_archived_at => 777, p_tags => '{a,b}');
SELECT pg_sleep(2);
COMMIT;
EOF
bg=$!
i=0
until [ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1 ]; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || fail "the background push never took the push lock: $(cat "$tmp/bg.out")"
	sleep 0.05
done
refused "a push waits for the push lock" postgres "SET lock_timeout = '200ms'; SELECT t.conv('$C3', 'u1', 'waits', t.u(1, 7, 2), t.u(1))" "lock timeout"
eq "the uncommitted change is not visible" "$m|pulled" "$(q "SELECT convlog_max_change_id(), (SELECT title FROM convlog_conversations WHERE id = '$C1')")"
w=$(q "SELECT t.conv('$C3', 'u1', 'waited', t.u(1, 7, 2), t.u(1))")
wait "$bg" || fail "background push: $(cat "$tmp/bg.out")"
bg=""
h=$(head -n 1 "$tmp/bg.out")
gt "the held push got its change id first" "$w" "$h"
eq "both committed" "held|waited|$w" \
	"$(q "SELECT (SELECT title FROM convlog_conversations WHERE id = '$C1'), (SELECT title FROM convlog_conversations WHERE id = '$C3'), convlog_max_change_id()")"

# ---------------------------------------------------------------------------
# 5. row-level security: alice is user u1, bob is user u2
# ---------------------------------------------------------------------------
q "SELECT convlog_grant_user('alice', 'u1'); SELECT convlog_grant_user('bob', 'u2'); SELECT convlog_grant_user('alice', 'u1')" >/dev/null
q "SELECT t.conv('$A1', 'u1', 'alice one', t.u(1), t.u(1)), t.msg('$MA', '$A1', 1, 1, 1, 1, 'apple banana'),
          t.conv('$B1', 'u2', 'bob one', t.u(1), t.u(1)), t.msg('$MB', '$B1', 1, 1, 1, 1, 'banana cherry'),
          t.conv('$N1', NULL, 'nobody', t.u(1), t.u(1)), t.msg('$MN', '$N1', 1, 1, 1, 1, 'banana orphan'),
          convlog_push_purge('$B9', 1, 1, 'u2')" >/dev/null
eq "the admin sees every user" "<null>,u1,u2" \
	"$(q "SELECT string_agg(DISTINCT coalesce(user_id, '<null>'), ',' ORDER BY coalesce(user_id, '<null>')) FROM convlog_conversations")"

# rls ROLE USER OTHER OTHERCONV OTHERMSG OWNCONV OWNMSG NEWID: what ROLE
# (mapped to USER) sees and may do, in one session; OTHER* belong to the
# other user.  Each output line is "check|result"; t.try runs a statement and
# gives "ok VALUE" or "error SQLSTATE MESSAGE".
rls() {
	r=$1 u=$2 o=$3 oc=$4 om=$5 own=$6 ownm=$7 new=$8
	dead=00000000-0000-4000-8000-00000000dead
	rowsec="error 42501 new row violates row-level security policy for table"
	cat >"$tmp/rls.expected" <<EOF
conversations|$u
messages|$u
ordered messages|$u
journal|$u
tombstones|$u
pulls|$u|$u|$u
max change id|$(q "SELECT max(change_id) FROM convlog_changes WHERE user_id = '$u'")
role mapping|$r|$u
the other user's rows by id|0|0
search|$ownm
convlog_search|$ownm|$own
pushes its own conversation|ok
pushes its own message|ok
edits its own conversation|own2
pushes for the other user|$rowsec "convlog_conversations"
pushes without a user|$rowsec "convlog_conversations"
inserts for the other user|$rowsec "convlog_conversations"
pushes the other user's conversation|error 42501 convlog: conversation $oc belongs to another user
pushes into the other user's conversation|error 42501 convlog: conversation $oc belongs to another user
inserts a message into the other user's conversation|error 23503 insert or update on table "convlog_messages" violates foreign key constraint "convlog_messages_conv_user"
purges the other user's conversation|error 42501 convlog: conversation $oc belongs to another user
records a purge for the other user|$rowsec "convlog_tombstones"
journals for the other user|$rowsec "convlog_changes"
updates the other user's conversation|ok 0
deletes the other user's conversation|ok 0
gives its conversation to the other user|$rowsec "convlog_conversations"
pushes its conversation to the other user|$rowsec "convlog_conversations"
grants users|error 42501 permission denied for function convlog_grant_user
EOF
	cat >"$tmp/rls.sql" <<EOF
SELECT 'conversations', string_agg(DISTINCT coalesce(user_id, '<null>'), ',') FROM convlog_conversations;
SELECT 'messages', string_agg(DISTINCT coalesce(user_id, '<null>'), ',') FROM convlog_messages;
SELECT 'ordered messages', string_agg(DISTINCT coalesce(user_id, '<null>'), ',') FROM convlog_messages_ordered;
SELECT 'journal', string_agg(DISTINCT coalesce(user_id, '<null>'), ',') FROM convlog_changes;
SELECT 'tombstones', string_agg(DISTINCT coalesce(user_id, '<null>'), ',') FROM convlog_tombstones;
SELECT 'pulls', (SELECT string_agg(DISTINCT user_id, ',') FROM convlog_pull_convs(0)),
	(SELECT string_agg(DISTINCT user_id, ',') FROM convlog_pull_msgs(0)),
	(SELECT string_agg(DISTINCT user_id, ',') FROM convlog_pull_purges(0));
SELECT 'max change id', convlog_max_change_id();
SELECT 'role mapping', * FROM convlog_role_users;
SELECT 'the other user''s rows by id', (SELECT count(*) FROM convlog_conversations WHERE id = '$oc'),
	(SELECT count(*) FROM convlog_messages WHERE id = '$om');
SELECT 'search', string_agg(id::text, ',') FROM convlog_messages WHERE content_tsvector @@ to_tsquery('simple', 'banana');
SELECT 'convlog_search', msg_id, conv_id FROM convlog_search('banana');
SELECT 'pushes its own conversation', CASE WHEN t.conv('$new', '$u', 'own', t.u(1), t.u(1)) > 0 THEN 'ok' END;
SELECT 'pushes its own message', CASE WHEN t.msg('$new', '$new', 1, 1, 1, 1, 'mine') > 0 THEN 'ok' END;
\o /dev/null
SELECT t.conv('$new', '$u', 'own2', t.u(1, 7, 2), t.u(1));
\o
SELECT 'edits its own conversation', title FROM convlog_conversations WHERE id = '$new';
SELECT 'pushes for the other user', t.try(\$q\$SELECT t.conv('$dead', '$o', 'x', t.u(1), t.u(1))\$q\$);
SELECT 'pushes without a user', t.try(\$q\$SELECT t.conv('$dead', NULL, 'x', t.u(1), t.u(1))\$q\$);
SELECT 'inserts for the other user', t.try(\$q\$INSERT INTO convlog_conversations
	(id, born_hlc, born_origin, unit_hlc, unit_origin, user_id, change_id)
	VALUES ('$dead', 1, 1, t.u(1), t.u(1), '$o', 1)\$q\$);
SELECT 'pushes the other user''s conversation', t.try(\$q\$SELECT t.conv('$oc', '$u', 'x', t.u(9), t.u(9))\$q\$);
SELECT 'pushes into the other user''s conversation', t.try(\$q\$SELECT t.msg('$MX', '$oc', 1, 1, 1, 1, 'x')\$q\$);
SELECT 'inserts a message into the other user''s conversation', t.try(\$q\$INSERT INTO convlog_messages
	(id, conv_id, user_id, born_hlc, born_origin, ver_hlc, ver_origin, role, change_id)
	VALUES ('$MX', '$oc', '$u', 1, 1, 1, 1, 'user', 1)\$q\$);
SELECT 'purges the other user''s conversation', t.try(\$q\$SELECT convlog_push_purge('$oc', 99, 1)\$q\$);
SELECT 'records a purge for the other user', t.try(\$q\$SELECT convlog_push_purge('$dead', 99, 1, '$o')\$q\$);
SELECT 'journals for the other user', t.try(\$q\$INSERT INTO convlog_changes VALUES (1000000, '$oc', '$o', 'conv')\$q\$);
SELECT 'updates the other user''s conversation',
	t.try(\$q\$WITH w AS (UPDATE convlog_conversations SET title = 'x' WHERE id = '$oc' RETURNING 1) SELECT count(*) FROM w\$q\$);
SELECT 'deletes the other user''s conversation',
	t.try(\$q\$WITH w AS (DELETE FROM convlog_conversations WHERE id = '$oc' RETURNING 1) SELECT count(*) FROM w\$q\$);
SELECT 'gives its conversation to the other user', t.try(\$q\$UPDATE convlog_conversations SET user_id = '$o' WHERE id = '$own'\$q\$);
SELECT 'pushes its conversation to the other user', t.try(\$q\$SELECT t.conv('$own', '$o', 'x', t.u(1, 2, 5), t.u(1))\$q\$);
SELECT 'grants users', t.try(\$q\$SELECT convlog_grant_user('$r', '$o')\$q\$);
EOF
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -At -U "$r" -f "$tmp/rls.sql" >"$tmp/rls.out" 2>&1 ||
		fail "$r: psql failed: $(cat "$tmp/rls.out")"
	diff -u "$tmp/rls.expected" "$tmp/rls.out" >"$tmp/rls.diff" ||
		fail "$r: row-level security (expected, got):
$(cat "$tmp/rls.diff")"
}
rls alice u1 u2 "$B1" "$MB" "$A1" "$MA" "$A2"
rls bob u2 u1 "$A1" "$MA" "$B1" "$MB" "$(echo "$A2" | sed 's/a2$/b2/')"
eq "the other users' rows are intact" "bob one|u2|alice one|u1|nobody" \
	"$(q "SELECT (SELECT title || '|' || user_id FROM convlog_conversations WHERE id = '$B1'), (SELECT title || '|' || user_id FROM convlog_conversations WHERE id = '$A1'),
	             (SELECT title FROM convlog_conversations WHERE id = '$N1')")"
eq "the admin searches everyone" "$MA,$MB,$MN" \
	"$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM convlog_messages WHERE content_tsvector @@ to_tsquery('simple', 'banana')")"
# an admin moves a conversation: its messages follow, and the new owner pulls them
cur=$(qas bob "SELECT convlog_max_change_id()")
q "SELECT t.conv('$A1', 'u2', 'alice one', t.u(1, 2, 7), t.u(1))" >/dev/null
eq "moved: the new owner pulls it with its messages" "$A1|$MA|u2" \
	"$(qas bob "SELECT (SELECT string_agg(id::text, ',') FROM convlog_pull_convs($cur)), (SELECT string_agg(id::text, ',') FROM convlog_pull_msgs($cur)),
	             (SELECT user_id FROM convlog_messages WHERE id = '$MA')")"
eq "moved: the old owner no longer sees it" "0" "$(qas alice "SELECT count(*) FROM convlog_messages WHERE id = '$MA'")"

# loading the file again keeps the data and the grants
before=$(q "SELECT (SELECT count(*) FROM convlog_conversations), (SELECT count(*) FROM convlog_messages), convlog_max_change_id()")
load "over data"
eq "data after a reload" "$before" \
	"$(q "SELECT (SELECT count(*) FROM convlog_conversations), (SELECT count(*) FROM convlog_messages), convlog_max_change_id()")"
eq "alice after a reload" "u1" "$(qas alice "SELECT string_agg(DISTINCT user_id, ',') FROM convlog_conversations")"

# ---------------------------------------------------------------------------
# 6. pg_stop leaves no server and no directory
# ---------------------------------------------------------------------------
# running PID: the process exists and is not a zombie (an exited postmaster
# stays a zombie until its parent, init, reaps it, which some container
# inits never do)
running() {
	[ -r "/proc/$1/stat" ] || return 1
	[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1)" != Z ]
}
pid=$PG_PID
dir=$PG_DIR
bindir=$PG_BINDIR
running "$pid" || fail "the server ($pid) is not running before pg_stop"
pg_stop
if running "$pid"; then
	fail "the server ($pid) still runs after pg_stop"
fi
[ ! -e "$dir" ] || fail "pg_stop left $dir"
if "$bindir/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
	fail "pg_ctl status reports a server in $dir"
fi
pg_stop # a second stop is harmless
echo "pg_schema.sh: ok"
