#!/usr/bin/env python3
"""gen-export.py - writes a large synthetic ChatGPT conversations.json to
stdout, for measuring 'convlog import' on big exports (rate, peak RSS).

usage: bench/gen-export.py [MEGABYTES] [SEED] > conversations.json

Each conversation has 6-30 turns in a mapping tree with a null-message
root, a hidden system message, one edited question (a branch) in every
fourth conversation, float create_times and long assistant turns; the
output is streamed, so the generator itself needs little memory.
"""
import json
import random
import sys
import uuid

WORDS = ("the of and to in is that for it as with was on be by at this are from "
         "or an which have not but had they his her she we you all there their "
         "storage engine conversation message index compaction segment frame "
         "durable commit replica cursor latency throughput memory branch fork "
         "question answer model token cost lisbon zebra quokka kernel python "
         "数据 存储 会话 검색 データ").split()


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def node(mid, parent, role, content, t, rng, hidden=False):
    meta = {"model_slug": "gpt-4o"} if role == "assistant" else {}
    if hidden:
        meta["is_visually_hidden_from_conversation"] = True
    return {"id": mid, "message": {
        "id": mid, "author": {"role": role, "name": None, "metadata": {}},
        "create_time": t, "update_time": None,
        "content": {"content_type": "text", "parts": [content]},
        "status": "finished_successfully", "end_turn": role == "assistant",
        "weight": 1.0, "metadata": meta, "recipient": "all", "channel": None},
        "parent": parent, "children": []}


def conversation(rng, i):
    t0 = 1.6e9 + rng.random() * 1e8
    root = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    mapping = {root: {"id": root, "message": None, "parent": None, "children": []}}
    sysid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    mapping[sysid] = node(sysid, root, "system", "", t0, rng, hidden=True)
    mapping[root]["children"].append(sysid)
    parent, t = sysid, t0
    for j in range(rng.randint(3, 15)):
        for role, n in (("user", rng.randint(5, 40)), ("assistant", rng.randint(60, 400))):
            mid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            t += rng.random() * 30
            mapping[mid] = node(mid, parent, role, text(rng, n), t, rng)
            mapping[parent]["children"].append(mid)
            if role == "user" and j == 1 and i % 4 == 0:
                alt = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                mapping[alt] = node(alt, parent, "user", "edited: " + text(rng, n), t + 1, rng)
                mapping[parent]["children"].append(alt)
            parent = mid
    return {"title": text(rng, 4), "create_time": t0, "update_time": t,
            "mapping": mapping, "moderation_results": [], "current_node": parent,
            "plugin_ids": None, "conversation_id": root, "conversation_template_id": None,
            "gizmo_id": None, "is_archived": False, "safe_urls": [], "default_model_slug": "gpt-4o",
            "id": root}


def main():
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 100
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    out, written, i = sys.stdout, 0, 0
    out.write("[")
    while written < mb * 1e6:
        s = json.dumps(conversation(rng, i), ensure_ascii=False)
        out.write(("," if i else "") + s)
        written += len(s.encode())
        i += 1
    out.write("]\n")


if __name__ == "__main__":
    main()
