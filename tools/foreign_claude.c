/*
 * foreign_claude.c - Claude.ai conversations.json to convlog JSONL objects
 * (see foreign_int.h; the mapping is documented in convlog(1), IMPORT
 * FORMATS).
 *
 * A conversation's chat_messages form a tree by parent_message_uuid when
 * any message has one, else a chain in array order.  Text blocks become
 * the content, followed by the attachments' extracted_content; tool_use
 * blocks become tool_calls, and current_leaf_message_uuid gives tip_seq.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "foreign_int.h"
#include "jsonl.h"

/* Claude.ai's parent_message_uuid of a first message. */
#define CLAUDE_ROOT "00000000-0000-4000-8000-000000000000"

/* A tool_use block as an OpenAI-style call: {"id", "type": "function",
 * "function": {"name", "arguments": the input as compact JSON text}}. */
static int claude_call(cvt *cx, const json_t *blk, json_t **calls)
{
	const char *id, *name;
	const json_t *input = json_object_get(blk, "input");
	char *args;
	json_t *call;

	if (opt_text(cx, blk, "id", &id) || opt_text(cx, blk, "name", &name))
		return -1;
	args = input ? jsonl_dump_value(input) : strdup("{}");
	call = args ? json_pack("{s:s*, s:s, s:{s:s, s:s}}", "id", id, "type", "function",
				"function", "name", name ? name : "", "arguments", args)
		    : NULL;
	free(args);
	if (!*calls)
		*calls = json_array();
	if (!call || json_array_append_new(*calls, call))
		return fail(cx, "out of memory");
	return 0;
}

/*
 * The text blocks of content[] joined into b; tool_use blocks into calls.
 * *plain stays true when the blocks hold nothing but their text.
 */
static int claude_blocks(cvt *cx, const json_t *blocks, sbuf *b, json_t **calls, bool *plain)
{
	static const char *const text_keys[] = {"type", "text", "citations", NULL};
	const json_t *blk, *text;
	const char *type;
	size_t i;

	json_array_foreach(blocks, i, blk) {
		if (!json_is_object(blk))
			return fail(cx, "content[%zu] is %s, expected an object", i,
				    jsonl_type_name(blk));
		if (opt_text(cx, blk, "type", &type))
			return -1;
		if (type && !strcmp(type, "text")) {
			if (opt_field(cx, blk, "text", JSON_STRING, &text))
				return -1;
			if (text)
				sb_join(b, text);
			*plain = *plain && !has_rest(blk, text_keys);
			continue;
		}
		*plain = false;
		if (type && !strcmp(type, "tool_use") && claude_call(cx, blk, calls))
			return -1;
	}
	return 0;
}

/*
 * content: the text blocks joined when they hold any text, else the
 * "text" field (which in newer exports also holds placeholders such as
 * "This block is not supported on your current device yet." for tool
 * use).  A "text" field unlike the content is kept in metadata "text", a
 * content[] with more than text blocks in metadata "content".
 */
static int claude_text(cvt *cx, const json_t *msg, mrec *m, sbuf *b)
{
	const json_t *text, *blocks;
	bool plain = true;

	if (opt_field(cx, msg, "text", JSON_STRING, &text) ||
	    opt_field(cx, msg, "content", JSON_ARRAY, &blocks))
		return -1;
	if (blocks && claude_blocks(cx, blocks, b, &m->tool_calls, &plain))
		return -1;
	if (!b->want) {
		sb_free(b);
		if (text)
			sb_join(b, text);
	} else if (text && json_string_length(text) && !sb_equals(b, text) &&
		   put_kept(m->meta, "text", (json_t *)text)) {
		return fail(cx, "out of memory");
	}
	if (blocks && !plain && put_kept(m->meta, "content", (json_t *)blocks))
		return fail(cx, "out of memory");
	return 0;
}

/* Appends each attachment's extracted_content after "[attachment: NAME]"
 * so that it is searchable; the attachments stay in metadata too. */
static int claude_attachments(cvt *cx, const json_t *msg, sbuf *b)
{
	static const char head[] = "[attachment: ";
	const json_t *atts, *a, *ext;
	const char *name;
	size_t i;

	if (opt_field(cx, msg, "attachments", JSON_ARRAY, &atts))
		return -1;
	json_array_foreach(atts, i, a) {
		if (!json_is_object(a))
			return fail(cx, "attachments[%zu] is %s, expected an object", i,
				    jsonl_type_name(a));
		if (opt_text(cx, a, "file_name", &name) ||
		    opt_field(cx, a, "extracted_content", JSON_STRING, &ext))
			return -1;
		if (!ext || !json_string_length(ext))
			continue;
		if (b->want)
			sb_add(b, "\n\n", 2);
		sb_add(b, head, sizeof(head) - 1);
		sb_add(b, name ? name : "", name ? strlen(name) : 0);
		sb_add(b, "]\n", 2);
		sb_add(b, json_string_value(ext), json_string_length(ext));
	}
	return 0;
}

static const char *const claude_msg_mapped[] = {
	"uuid", "text", "content", "sender", "created_at", "parent_message_uuid", NULL,
};

static int claude_message(cvt *cx, const tnode *nd, int64_t fallback, mrec *m)
{
	const json_t *msg = nd->msg;
	sbuf b = {0};
	int derived = source_uuid(cx, "msg", cx->src_id, nd->id, &m->id);

	if (derived < 0 || (derived && put_str(m->meta, "source_id", nd->id)))
		return fail(cx, "out of memory");
	if (opt_text(cx, msg, "sender", &m->role))
		return -1;
	if (!m->role || !*m->role)
		return fail(cx, "sender is %s", m->role ? "empty" : "missing");
	if (!strcmp(m->role, "human"))
		m->role = "user";
	m->created = nd->time ? nd->time : fallback;
	if (claude_text(cx, msg, m, &b) || claude_attachments(cx, msg, &b)) {
		sb_free(&b);
		return -1;
	}
	m->content = sb_take(cx, &b);
	return !m->content || copy_rest(cx, m->meta, msg, claude_msg_mapped);
}

static int claude_node(cvt *cx, const json_t *msgs, size_t i, bool branched, tnode *nd)
{
	const json_t *v = json_array_get(msgs, i);
	const char *parent;

	set_where(cx, "chat_messages[%zu]", i);
	if (!json_is_object(v))
		return fail(cx, "expected an object, got %s", jsonl_type_name(v));
	if (opt_text(cx, v, "uuid", &nd->id))
		return -1;
	if (!nd->id)
		return fail(cx, "the message has no uuid");
	set_where(cx, "chat message \"%.80s\"", nd->id);
	nd->src = nd->msg = v;
	if (opt_text(cx, v, "parent_message_uuid", &parent))
		return -1;
	if (!branched)
		nd->parent_id = i ? nd[-1].id : NULL;
	else if (parent && strcasecmp(parent, CLAUDE_ROOT))
		nd->parent_id = parent;
	return iso_to_ms(cx, v, "created_at", &nd->time);
}

/* A tree from parent_message_uuid when any message has one, else a chain
 * in array order. */
static int claude_tree(cvt *cx, const json_t *src, tree *t)
{
	const json_t *msgs;
	bool branched = false;
	size_t i;

	if (opt_field(cx, src, "chat_messages", JSON_ARRAY, &msgs) ||
	    tree_alloc(cx, t, json_array_size(msgs)))
		return -1;
	for (i = 0; i < t->len; i++)
		branched = branched ||
			   json_is_string(json_object_get(json_array_get(msgs, i),
							  "parent_message_uuid"));
	for (i = 0; i < t->len; i++)
		if (claude_node(cx, msgs, i, branched, &t->n[i]))
			return -1;
	clear_where(cx);
	return tree_build(cx, t);
}

/*
 * uuid, name -> title, summary -> topic (when not empty), account.uuid ->
 * user_id, created_at, updated_at; everything else -> metadata.
 */
static int claude_conv_fields(cvt *cx, const json_t *src, const tree *t, crec *c)
{
	const char *skip[] = {"uuid", "name", "summary", "created_at", "updated_at",
			      "chat_messages", "current_leaf_message_uuid", "account", NULL};
	static const char *const account_mapped[] = {"uuid", NULL};
	const json_t *acct;

	if (opt_text(cx, src, "name", &c->title) || opt_text(cx, src, "summary", &c->topic) ||
	    iso_to_ms(cx, src, "created_at", &c->created) ||
	    iso_to_ms(cx, src, "updated_at", &c->updated) ||
	    opt_field(cx, src, "account", JSON_OBJECT, &acct) ||
	    (acct && opt_text(cx, acct, "uuid", &c->user_id)))
		return -1;
	if (c->topic && !*c->topic)
		c->topic = NULL;
	if (acct && has_rest(acct, account_mapped))
		skip[7] = NULL; /* more than the uuid: keep the whole account */
	if (!c->created)
		c->created = tree_first_time(t);
	if (!c->created)
		c->created = NO_TIME;
	c->meta = new_meta(cx);
	return !c->meta || copy_rest(cx, c->meta, src, skip);
}

/* current_leaf_message_uuid, else the last message of the array. */
static int claude_tip(cvt *cx, const json_t *src, const tree *t, crec *c)
{
	return tree_tip(cx, src, t, "current_leaf_message_uuid",
			t->len ? t->n[t->len - 1].eff : 0, &c->tip);
}

int claude_conv(cvt *cx, const json_t *src, json_t *arr)
{
	tree t = {.what = "chat message", .in = "the conversation"};
	crec c = {0};
	const char *uuid;
	int rc = -1;

	if (opt_text(cx, src, "uuid", &uuid))
		goto out;
	if (!uuid) {
		fail(cx, "the conversation has no uuid");
		goto out;
	}
	if (conv_ids(cx, uuid, &c.external_id) || claude_tree(cx, src, &t) ||
	    claude_conv_fields(cx, src, &t, &c) ||
	    tree_messages(cx, &t, c.created, claude_message, arr) || claude_tip(cx, src, &t, &c))
		goto out;
	rc = emit_conv(cx, &c, arr);
out:
	tree_free(&t);
	crec_clear(&c);
	return rc;
}
