#!/bin/sh
# Regenerates the seed corpora in tests/fuzz/seeds/ from the test data,
# with the convlog tool built in build/ (`make` first).  Needs python3 and
# the zstd command.  The seeds are checked in; run this only when a
# format changes.
#   block      each block of the segments of stores imported from
#              tests/data/*.jsonl (and one with a zstd frame)
#   segment    those segments after their header
#   iseg       their index segments
#   changeset  `convlog sync export` of those stores: the payloads
#              (decompressed), and the whole files for changeset_raw
#   import     tests/data/exports/* and tests/data/*.jsonl with a selector
#   query      queries from tests/unit/test_query.c and the docs
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cl=$top/build/convlog
seeds=$top/tests/fuzz/seeds
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# a store whose one long message compresses: a zstd frame
python3 - "$tmp/long.jsonl" <<'PY'
import sys
c = '{"type":"conversation","id":"0190dddd-0000-7000-8000-00000000000d","title":"long","created_at":"2025-02-01T09:00:00.000Z"}\n'
m = '{"type":"message","id":"0190dddd-0000-7000-8000-0000000000d1","conversation_id":"0190dddd-0000-7000-8000-00000000000d","seq":1,"parent_seq":0,"role":"user","content":"%s","created_at":"2025-02-01T09:00:01.000Z"}\n' % ("the quick brown fox jumps over the lazy dog " * 200)
open(sys.argv[1], "w").write(c + m)
PY
for t in block segment iseg changeset changeset_raw import query; do
	rm -rf "$seeds/$t"
	mkdir -p "$seeds/$t"
done
for f in good tree usage edge long; do
	src=$top/tests/data/$f.jsonl
	[ -f "$src" ] || src=$tmp/$f.jsonl
	"$cl" init "$tmp/$f" >/dev/null
	"$cl" import --no-progress "$tmp/$f" "$src" >/dev/null
	"$cl" sync export -o "$tmp/$f.cs" "$tmp/$f" 2>/dev/null
	cp "$tmp/$f.cs" "$seeds/changeset_raw/$f"
	python3 - "$f" "$tmp" "$seeds" <<'PY'
import glob, subprocess, sys
f, tmp, seeds = sys.argv[1:]
seg = open(glob.glob(f"{tmp}/{f}/segments/*.seg")[0], "rb").read()
open(f"{seeds}/segment/{f}", "wb").write(b"\x00" + seg[64:])
off, i = 64, 0
while off + 48 <= len(seg):
    n = 48 + int.from_bytes(seg[off + 12:off + 16], "little")
    open(f"{seeds}/block/{f}-{i}", "wb").write(bytes([i % 2]) + seg[off:off + n])
    off, i = off + n, i + 1
for k, p in enumerate(sorted(glob.glob(f"{tmp}/{f}/index/*.idx"))):
    open(f"{seeds}/iseg/{f}-{k}", "wb").write(b"\x01" + open(p, "rb").read())
cs = open(f"{tmp}/{f}.cs", "rb").read()
pl = cs[64:-8]
if cs[44] == 1:
    pl = subprocess.run(["zstd", "-d", "-c"], input=pl, capture_output=True, check=True).stdout
open(f"{seeds}/changeset/{f}", "wb").write(b"\x00" + pl)
PY
done

# import: selector byte (% 5: auto chatgpt claude openai convlog; 0x80:
# the whole command) then the file
sel() { printf "\\$(printf %03o "$1")"; }
n=0
for spec in 0:exports/chatgpt.json 1:exports/chatgpt.json 2:exports/claude.json \
	3:exports/openai.jsonl 0:exports/openai_bad.jsonl 1:exports/chatgpt_cycle.json \
	1:exports/chatgpt_missing_parent.json 2:exports/claude_bad_time.json \
	4:good.jsonl 4:tree.jsonl 4:edge.jsonl 0:bad_utf8.jsonl \
	128:exports/chatgpt_dup_id.json 130:exports/claude.json 128:exports/openai.jsonl \
	132:tree.jsonl 128:bad_truncated.jsonl; do
	n=$((n + 1))
	{ sel "${spec%%:*}"; cat "$top/tests/data/${spec#*:}"; } >"$seeds/import/$n"
done

n=0
while IFS= read -r q; do
	n=$((n + 1))
	printf '%s' "$q" >"$seeds/query/$n"
done <<'Q'
hello
"flight to new york" OR book*
(a OR -b) c NOT role:system
c (role:user OR role:assistant) tag:x model:"gpt 4"
after:2025-02-01 before:2025-02-01T10:00:00.123+01:00 weather
-"a b" NOT NOT a user:u1 session:s1 conv:0190aaaa-0000-7000-8000-00000000000a x
a (b (c (d (e f) OR g) h) -i) AND j
日本語 café naïve*
a OR
see http://example.com
Q
echo "seeds written to $seeds"
