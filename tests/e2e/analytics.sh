#!/bin/sh
# analytics.sh - usage analytics (stats --by) and session summaries on
# tests/data/usage.jsonl, with every figure computed by hand below.
#
# The data (created_at UTC; tok = token_count, cost in micro-USD, lat in ms;
# "-" = unknown):
#   u1  alice acme  s-1  2025-03-01 10:00  user 10 - -; assistant m-a 20 1000 100;
#                                          user 5 - -; assistant m-a 30 2000 300 ERROR
#   u1-fork (of u1 at seq 2; alice acme s-1; 03-04 00:00):
#                                          user 6 - -; assistant m-b 14 300 700
#   u2  bob   acme  s-1  2025-03-01 12:00  user 8 - -; assistant m-b 40 5000 200
#   u3  alice beta  s-2  2025-03-02 09:00  user 4 - -; assistant m-a 16 500 400;
#                                          assistant m-b 12 1500 1000 (at 09:00:05)
#   u4  (no user, org, session) 03-03 00:00  tool - - 50
#   u5  carol acme  s-1  DELETED  03-02 00:00  assistant m-a 100 7 10
# Without --all, u5 is left out: 12 messages, 1 error, 165 tokens, 10300
# micro-USD, latencies 50 100 200 300 400 700 1000 (p50 = 4th = 300, p95 =
# 7th = 1000: nearest rank).  The fork's inherited seqs 1-2 count once, in u1.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-analytics.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/usage.store"

fail() {
	echo "analytics.sh: FAIL: $*" >&2
	exit 1
}

# expect NAME CMD...: runs convlog CMD... and compares stdout with stdin
expect() {
	name=$1
	shift
	cat >"$tmp/want"
	"$CONVLOG" "$@" >"$tmp/got" 2>"$tmp/err" || fail "$name: convlog $* failed: $(cat "$tmp/err")"
	if ! cmp -s "$tmp/want" "$tmp/got"; then
		diff "$tmp/want" "$tmp/got" | head -20 >&2 || true
		fail "$name: convlog $*"
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
"$CONVLOG" import "$S" "$root/tests/data/usage.jsonl"

# ---- every grouping, whole store ----
expect none stats --by none "$S" <<'EOF'
GROUP  MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
(all)        12       1     165  0.010300     300    1000    1000
EOF
# assistant latencies 100 200 300 400 700 1000: p50 = 3rd, p95 = 6th
expect role stats --by role "$S" <<'EOF'
ROLE       MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
assistant         6       1     132  0.010300     300    1000    1000
tool              1       0       0  0.000000      50      50      50
user              5       0      33  0.000000       -       -       -
EOF
expect model stats --by model "$S" <<'EOF'
MODEL   MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
(none)         6       0      33  0.000000      50      50      50
m-a            3       1      66  0.003500     300     400     400
m-b            3       0      66  0.006800     700    1000    1000
EOF
expect org stats --by org "$S" <<'EOF'
ORG     MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
(none)         1       0       0  0.000000      50      50      50
acme           8       1     133  0.008300     200     700     700
beta           3       0      32  0.002000     400    1000    1000
EOF
expect user stats --by user "$S" <<'EOF'
USER    MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
(none)         1       0       0  0.000000      50      50      50
alice          9       1     117  0.005300     400    1000    1000
bob            2       0      48  0.005000     200     200     200
EOF
expect day stats --by day "$S" <<'EOF'
DAY         MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
2025-03-01         6       1     113  0.008000     200     300     300
2025-03-02         3       0      32  0.002000     400    1000    1000
2025-03-03         1       0       0  0.000000      50      50      50
2025-03-04         2       0      20  0.000300     700     700     700
EOF
expect role-json stats --by role --json "$S" <<'EOF'
{"type":"usage","key":"assistant","count":6,"errors":1,"tokens":132,"cost":10300,"latency_p50":300,"latency_p95":1000,"latency_max":1000,"latency_count":6}
{"type":"usage","key":"tool","count":1,"errors":0,"tokens":0,"cost":0,"latency_p50":50,"latency_p95":50,"latency_max":50,"latency_count":1}
{"type":"usage","key":"user","count":5,"errors":0,"tokens":33,"cost":0,"latency_p50":null,"latency_p95":null,"latency_max":null,"latency_count":0}
EOF
expect model-json stats --json --by model "$S" <<'EOF'
{"type":"usage","key":"","count":6,"errors":0,"tokens":33,"cost":0,"latency_p50":50,"latency_p95":50,"latency_max":50,"latency_count":1}
{"type":"usage","key":"m-a","count":3,"errors":1,"tokens":66,"cost":3500,"latency_p50":300,"latency_p95":400,"latency_max":400,"latency_count":3}
{"type":"usage","key":"m-b","count":3,"errors":0,"tokens":66,"cost":6800,"latency_p50":700,"latency_p95":1000,"latency_max":1000,"latency_count":3}
EOF
# --all adds u5: latencies 10 50 100 200 300 400 700 1000 (p50 = 4th = 200)
expect all-json stats --by none --all --json "$S" <<'EOF'
{"type":"usage","key":"","count":13,"errors":1,"tokens":265,"cost":10307,"latency_p50":200,"latency_p95":1000,"latency_max":1000,"latency_count":8}
EOF
expect all-user stats -a --by user "$S" <<'EOF'
USER    MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
(none)         1       0       0  0.000000      50      50      50
alice          9       1     117  0.005300     400    1000    1000
bob            2       0      48  0.005000     200     200     200
carol          1       0     100  0.000007      10      10      10
EOF

# ---- time ranges: [since, until) on each message's created_at ----
# u2 (12:00:00, included) and u3; u4 at 03-03T00:00:00 is excluded
expect range-json stats --by none --json --since 2025-03-01T12:00:00Z --until 2025-03-03T00:00:00Z "$S" <<'EOF'
{"type":"usage","key":"","count":5,"errors":0,"tokens":80,"cost":7000,"latency_p50":400,"latency_p95":1000,"latency_max":1000,"latency_count":3}
EOF
# the same instants written with offsets
"$CONVLOG" stats --by none --json --since 2025-03-01T13:00:00+01:00 \
	--until 2025-03-02T19:00:00.000-05:00 "$S" | cmp -s - "$tmp/want" || fail "offsets in --since/--until"
expect since-day stats --by day --since 2025-03-01T10:01:00Z "$S" <<'EOF'
DAY         MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
2025-03-01         4       1      83  0.007000     200     300     300
2025-03-02         3       0      32  0.002000     400    1000    1000
2025-03-03         1       0       0  0.000000      50      50      50
2025-03-04         2       0      20  0.000300     700     700     700
EOF
expect until-role stats --by role --until 2025-03-01T10:00:01Z "$S" <<'EOF'
ROLE  MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
user         1       0      10  0.000000       -       -       -
EOF
# an empty range: the ungrouped row stays, with zeros and no latency
expect empty-range stats --json --by none --since 2030-01-01T00:00:00Z "$S" <<'EOF'
{"type":"usage","key":"","count":0,"errors":0,"tokens":0,"cost":0,"latency_p50":null,"latency_p95":null,"latency_max":null,"latency_count":0}
EOF
expect empty-range-role stats --by role --until 2025-01-01T00:00:00Z "$S" <<'EOF'
ROLE  MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
EOF

# ---- scopes: user, org, session, conversation ----
expect user-alice stats --by model --user alice "$S" <<'EOF'
MODEL   MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
(none)         4       0      25  0.000000       -       -       -
m-a            3       1      66  0.003500     300     400     400
m-b            2       0      26  0.001800     700    1000    1000
EOF
expect org-acme stats --by user --org acme "$S" <<'EOF'
USER   MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
alice         6       1      85  0.003300     300     700     700
bob           2       0      48  0.005000     200     200     200
EOF
expect org-acme-all stats --by user --org acme --all --json "$S" <<'EOF'
{"type":"usage","key":"alice","count":6,"errors":1,"tokens":85,"cost":3300,"latency_p50":300,"latency_p95":700,"latency_max":700,"latency_count":3}
{"type":"usage","key":"bob","count":2,"errors":0,"tokens":48,"cost":5000,"latency_p50":200,"latency_p95":200,"latency_max":200,"latency_count":1}
{"type":"usage","key":"carol","count":1,"errors":0,"tokens":100,"cost":7,"latency_p50":10,"latency_p95":10,"latency_max":10,"latency_count":1}
EOF
expect session-s1 stats --by none --session s-1 --json "$S" <<'EOF'
{"type":"usage","key":"","count":8,"errors":1,"tokens":133,"cost":8300,"latency_p50":200,"latency_p95":700,"latency_max":700,"latency_count":4}
EOF
expect session-s1-since stats --by day --session s-1 --since 2025-03-01T11:00:00Z "$S" <<'EOF'
DAY         MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
2025-03-01         2       0      48  0.005000     200     200     200
2025-03-04         2       0      20  0.000300     700     700     700
EOF
expect user-org stats --by org --user alice --org beta "$S" <<'EOF'
ORG   MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
beta         3       0      32  0.002000     400    1000    1000
EOF
expect conv-u1 stats --by role --conv u1 "$S" <<'EOF'
ROLE       MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
assistant         2       1      50  0.003000     100     300     300
user              2       0      15  0.000000       -       -       -
EOF
# a fork counts its own messages only; by UUID or by external_id
expect conv-fork stats --by none --json --conv 0190a500-0000-7000-8000-000000000006 "$S" <<'EOF'
{"type":"usage","key":"","count":2,"errors":0,"tokens":20,"cost":300,"latency_p50":700,"latency_p95":700,"latency_max":700,"latency_count":1}
EOF
"$CONVLOG" stats --by none --json --conv u1-fork "$S" | cmp -s - "$tmp/want" || fail "--conv by external_id"
# a deleted conversation counts with --all only
expect conv-deleted stats --by none --json --conv u5 "$S" <<'EOF'
{"type":"usage","key":"","count":0,"errors":0,"tokens":0,"cost":0,"latency_p50":null,"latency_p95":null,"latency_max":null,"latency_count":0}
EOF
expect conv-deleted-all stats --by model --json --conv u5 --all "$S" <<'EOF'
{"type":"usage","key":"m-a","count":1,"errors":0,"tokens":100,"cost":7,"latency_p50":10,"latency_p95":10,"latency_max":10,"latency_count":1}
EOF
expect user-nobody stats --by user --user nobody "$S" <<'EOF'
USER  MESSAGES  ERRORS  TOKENS  COST USD  P50 MS  P95 MS  MAX MS
EOF

# ---- stats without --by: the store statistics as before ----
"$CONVLOG" stats "$S" | grep -E '^(conversations|messages) ' >"$tmp/got"
printf '%-18s %s\n' conversations "6 (1 deleted)" messages 13 | cmp -s - "$tmp/got" ||
	fail "stats without --by: $(cat "$tmp/got")"
"$CONVLOG" stats --json "$S" | grep -q '^{"conversations":6,"deleted_conversations":1,"messages":13,' ||
	fail "stats --json without --by"

# ---- session: summary, then the conversations oldest first ----
expect session-text session "$S" s-1 <<'EOF'
session s-1
  conversations     3
  messages          8
  tokens            133
  cost              0.008300 USD
  first_activity_at 2025-03-01T10:00:00.000Z
  last_activity_at  2025-03-04T00:00:02.000Z

ID                                   CREATED            MSGS STATUS     TITLE
0190a500-0000-7000-8000-000000000001 2025-03-01 10:00      4 completed  alice at acme
0190a500-0000-7000-8000-000000000002 2025-03-01 12:00      2 completed  bob at acme
0190a500-0000-7000-8000-000000000006 2025-03-04 00:00      4 completed  alice's fork of u1 at 2
EOF
"$CONVLOG" session --json "$S" s-1 >"$tmp/s1.jsonl"
[ "$(head -n 1 "$tmp/s1.jsonl")" = '{"type":"session","session_id":"s-1","conversations":3,"messages":8,"token_total":133,"cost_total":8300,"first_activity_at":"2025-03-01T10:00:00.000Z","last_activity_at":"2025-03-04T00:00:02.000Z"}' ] ||
	fail "session --json summary: $(head -n 1 "$tmp/s1.jsonl")"
sed 1d "$tmp/s1.jsonl" >"$tmp/s1.rest"
"$CONVLOG" ls --json --session s-1 --order oldest "$S" | cmp -s - "$tmp/s1.rest" ||
	fail "session --json conversation lines differ from ls --json --order oldest"
[ "$(sed -n 's/^{"type":"conversation","id":"\([^"]*\)".*/\1/p' "$tmp/s1.rest" | cut -c35-)" = "$(printf '01\n02\n06')" ] ||
	fail "session --json: conversations oldest first"
expect session-s2 session --json "$S" s-2 <<'EOF'
{"type":"session","session_id":"s-2","conversations":1,"messages":3,"token_total":32,"cost_total":2000,"first_activity_at":"2025-03-02T09:00:00.000Z","last_activity_at":"2025-03-02T09:00:05.000Z"}
{"type":"conversation","id":"0190a500-0000-7000-8000-000000000003","external_id":"u3","org_id":"beta","user_id":"alice","session_id":"s-2","title":"alice at beta","status":"active","tip_seq":3,"created_at":"2025-03-02T09:00:00.000Z","updated_at":"2025-03-02T09:00:00.000Z","last_activity_at":"2025-03-02T09:00:05.000Z","message_count":3,"token_total":32,"cost_total":2000}
EOF
expect session-unknown session --json "$S" no-such-session <<'EOF'
{"type":"session","session_id":"no-such-session","conversations":0,"messages":0,"token_total":0,"cost_total":0}
EOF

# ---- exit codes ----
status 0 session --help
grep -q "^usage: convlog session" "$tmp/stdout" || fail "session --help"
status 0 stats --help
grep -q -- "--by GROUP" "$tmp/stdout" || fail "stats --help does not describe --by"
status 2 stats --by week "$S"
grep -q "^convlog stats: --by is role, model, org, user, day or none, not 'week'" "$tmp/stderr" ||
	fail "stats --by week: $(cat "$tmp/stderr")"
status 2 stats --by
status 2 stats --by role
status 2 stats --by role --since yesterday "$S"
grep -q "^convlog stats: --since 'yesterday': expected YYYY-MM-DDTHH:MM:SS" "$tmp/stderr" ||
	fail "stats --since yesterday: $(cat "$tmp/stderr")"
status 2 stats --by role --until 2025-03-01 "$S"
status 2 stats --by role --since 2025-03-02T00:00:00Z --until 2025-03-01T00:00:00Z "$S"
status 2 stats --by role --since 2025-03-01T00:00:00Z --until 2025-03-01T00:00:00Z "$S"
status 2 stats --user alice "$S"
grep -q "need --by" "$tmp/stderr" || fail "stats --user without --by: $(cat "$tmp/stderr")"
status 2 stats --all "$S"
status 2 stats --conv u1 --json "$S"
status 2 stats --by role "$S" extra
status 1 stats --by role --conv no-such-conversation "$S"
grep -q "^convlog stats: no conversation has the id or external_id 'no-such-conversation'" \
	"$tmp/stderr" || fail "stats --conv unknown: $(cat "$tmp/stderr")"
status 1 stats --by role "$tmp/missing.store"
status 2 session "$S"
status 2 session "$S" s-1 extra
status 2 session --no-such-flag "$S" s-1
status 1 session "$tmp/missing.store" s-1
exit 0
