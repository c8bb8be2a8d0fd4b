#!/bin/sh
# search.sh - `convlog search` on the sample conversations: queries and
# their hits, filters, JSON and paging, malformed queries, a reader beside
# an edit, and verify's check of the text index.
set -eu

: "${CONVLOG:?CONVLOG must name the convlog binary}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/convlog-search.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
S="$tmp/s.store"

fail() {
	echo "search.sh: FAIL: $*" >&2
	exit 1
}

# hits QUERY [OPTS...]: number of hits of a query (all pages of 1000)
hits() {
	q=$1
	shift
	"$CONVLOG" search --json -n 1000 "$@" "$S" "$q" >"$tmp/out" 2>"$tmp/err" ||
		fail "search '$q' failed: $(cat "$tmp/err")"
	grep -c '"type":"hit"' "$tmp/out" || true
}

eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

"$CONVLOG" init "$S" >/dev/null
"$CONVLOG" import "$S" "$root/tools/sample/demo.jsonl" >/dev/null

# the sample's Wi-Fi conversation: "router" occurs in 4 of its messages
eq "$(hits router)" 4 "router"
eq "$(hits '"the router"')" 3 "phrase"
eq "$(hits 'rout*')" 4 "prefix"
eq "$(hits 'router -evening')" 1 "negation"
eq "$(hits 'router role:user')" 1 "role filter"
eq "$(hits 'router OR lisbon' --group)" 2 "grouped OR"
eq "$(hits 'lisbon before:2025-01-01')" 0 "before"
eq "$(hits 'Lisbon after:2025-10-18')" "$(hits lisbon)" "after"
eq "$(hits LISBON)" "$(hits lisbon)" "case folding"
eq "$(hits 'dict.fromkeys')" 1 "identifier"
eq "$(hits fromkeys)" 1 "identifier part"
eq "$(hits 'zzzunknownzzz')" 0 "no match"

# the best "router" hit, text form: snippet marked
"$CONVLOG" search -n 1 "$S" '"router lights"' >"$tmp/out"
grep -q '\[router\] \[lights\]' "$tmp/out" || fail "snippet marks: $(cat "$tmp/out")"
grep -q '^more: ' "$tmp/out" && fail "one hit has no next page"

# paging: pages of 2 concatenate to the single page of 100
"$CONVLOG" search --json -n 100 "$S" the | grep '"type":"hit"' | sed 's/"score":[^,]*,//' >"$tmp/all"
: >"$tmp/paged"
after=""
while :; do
	if [ -n "$after" ]; then
		"$CONVLOG" search --json -n 7 --after "$after" "$S" the >"$tmp/page"
	else
		"$CONVLOG" search --json -n 7 "$S" the >"$tmp/page"
	fi
	grep '"type":"hit"' "$tmp/page" | sed 's/"score":[^,]*,//' >>"$tmp/paged"
	after=$(sed -n 's/.*"type":"page".*"next":"\([^"]*\)".*/\1/p' "$tmp/page")
	[ -n "$after" ] || break
done
cmp -s "$tmp/all" "$tmp/paged" || fail "paged hits differ from one page"

# malformed queries: exit 2, position shown
set +e
"$CONVLOG" search "$S" 'router (lights' >/dev/null 2>"$tmp/err"
st=$?
set -e
eq "$st" 2 "malformed query exit status"
grep -q "unbalanced '(' at 7" "$tmp/err" || fail "error position: $(cat "$tmp/err")"
grep -q '^         \^' "$tmp/err" || fail "caret: $(cat "$tmp/err")"
set +e
"$CONVLOG" search "$S" 'colour:red router' >/dev/null 2>&1
st=$?
set -e
eq "$st" 2 "unknown filter exit status"

# the index survives reopen and verify checks it
"$CONVLOG" verify "$S" >"$tmp/out" || fail "verify: $(cat "$tmp/out")"

# reindex: same results; with stemming, inflections match
before=$(hits router)
"$CONVLOG" reindex "$S" >"$tmp/out" || fail "reindex: $(cat "$tmp/out")"
grep -q '^reindexed 115 messages in .*: 1 index segment' "$tmp/out" || fail "reindex output: $(cat "$tmp/out")"
eq "$(hits router)" "$before" "router after reindex"
nostem=$(hits drop)
"$CONVLOG" reindex --stemming english "$S" >/dev/null
[ "$(hits drop)" -gt "$nostem" ] || fail "drop with stemming: $(hits drop), without $nostem"
set +e
"$CONVLOG" reindex --stemming klingon "$S" >/dev/null 2>"$tmp/err"
st=$?
set -e
eq "$st" 2 "unknown language exit status"
grep -q "klingon" "$tmp/err" || fail "unknown language message: $(cat "$tmp/err")"
"$CONVLOG" verify "$S" >"$tmp/out" || fail "verify after reindex: $(cat "$tmp/out")"
echo "search.sh: ok"
