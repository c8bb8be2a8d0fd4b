/*
 * foreign_chatgpt.c - ChatGPT conversations.json to convlog JSONL objects
 * (see foreign_int.h; the mapping is documented in convlog(1), IMPORT
 * FORMATS).
 *
 * A conversation's "mapping" holds its nodes by id; each names its parent
 * and lists its children, and most carry a message.  The nodes make the
 * tree (children missing from a "children" list, and extra roots, ordered
 * by create_time), message.content becomes the content by its
 * content_type, and current_node gives tip_seq.
 */
#include <stdbool.h>
#include <string.h>

#include "foreign_int.h"
#include "jsonl.h"

typedef struct gpt_type {
	const char *name;
	const char *keys[3]; /* string fields joined into content, in order */
	bool parts;          /* the string elements of "parts" instead */
} gpt_type;

static const gpt_type gpt_types[] = {
	{"text", {NULL}, true},
	{"multimodal_text", {NULL}, true},
	{"code", {"text"}, false},
	{"execution_output", {"text"}, false},
	{"tether_browsing_display", {"result", "summary"}, false},
	{"tether_quote", {"title", "url", "text"}, false},
	{"system_error", {"name", "text"}, false},
	{"user_editable_context", {"user_profile", "user_instructions"}, false},
	{"model_editable_context", {"model_set_context"}, false},
};

static const gpt_type *gpt_type_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(gpt_types) / sizeof(gpt_types[0]); i++)
		if (!strcmp(gpt_types[i].name, name))
			return &gpt_types[i];
	return NULL;
}

/* Text parts joined; parts that are not strings keep the whole array in
 * metadata "parts". */
static int gpt_parts(cvt *cx, const json_t *content, sbuf *b, json_t *meta)
{
	const json_t *parts, *p;
	bool other = false;
	size_t i;

	if (opt_field(cx, content, "parts", JSON_ARRAY, &parts))
		return -1;
	json_array_foreach(parts, i, p) {
		if (json_is_string(p))
			sb_join(b, p);
		else
			other = true;
	}
	if (other && put_kept(meta, "parts", (json_t *)parts))
		return fail(cx, "out of memory");
	return 0;
}

/* The non-empty string fields `keys`, joined. */
static int gpt_keys(cvt *cx, const json_t *content, const gpt_type *ty, sbuf *b)
{
	const json_t *v;

	for (int i = 0; i < 3 && ty->keys[i]; i++) {
		if (opt_field(cx, content, ty->keys[i], JSON_STRING, &v))
			return -1;
		if (v && json_string_length(v))
			sb_join(b, v);
	}
	return 0;
}

/* Every string inside v (an unknown content type), depth first. */
static void all_strings(const json_t *v, sbuf *b)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_string(v) && json_string_length(v)) {
		sb_join(b, v);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			all_strings(x, b);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			all_strings(x, b);
	}
}

/*
 * message.content by content_type into m->content.  The whole content
 * object goes to metadata "content" when it holds more than the content
 * shows (always for an unknown type).  *sys_error: a system_error.
 */
static int gpt_content(cvt *cx, const json_t *msg, mrec *m, bool *sys_error)
{
	const json_t *content;
	const char *ctype = NULL, *skip[5] = {"content_type", NULL};
	const gpt_type *ty;
	sbuf b = {0};
	bool keep = false;
	int rc = 0;

	if (opt_field(cx, msg, "content", JSON_OBJECT, &content) ||
	    (content && opt_text(cx, content, "content_type", &ctype)))
		return -1;
	if (!content)
		return (m->content = json_string("")) ? 0 : fail(cx, "out of memory");
	ty = gpt_type_find(ctype);
	if (ctype && put_str(m->meta, "content_type", ctype))
		return fail(cx, "out of memory");
	*sys_error = ty && !strcmp(ty->name, "system_error");
	if (!ty) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)content, k, v) {
			if (strcmp(k, "content_type"))
				all_strings(v, &b);
		}
		keep = true;
	} else if (ty->parts) {
		skip[1] = "parts";
		rc = gpt_parts(cx, content, &b, m->meta);
	} else {
		memcpy(&skip[1], ty->keys, sizeof(ty->keys));
		rc = gpt_keys(cx, content, ty, &b);
	}
	keep = keep || has_rest(content, skip);
	if (!rc && keep && put_kept(m->meta, "content", (json_t *)content))
		rc = fail(cx, "out of memory");
	if (rc) {
		sb_free(&b);
		return -1;
	}
	if (*sys_error && opt_text(cx, content, "text", &m->error_message))
		return -1;
	m->content = sb_take(cx, &b);
	return m->content ? 0 : -1;
}

/* author.role -> role, author.name (a string) -> name, the rest kept. */
static int gpt_author(cvt *cx, const json_t *msg, mrec *m)
{
	const json_t *author, *name;
	const char *skip[3] = {"role", NULL};

	if (opt_field(cx, msg, "author", JSON_OBJECT, &author))
		return -1;
	if (!author)
		return fail(cx, "the message has no author");
	if (opt_text(cx, author, "role", &m->role))
		return -1;
	if (!m->role || !*m->role)
		return fail(cx, "author.role is %s", m->role ? "empty" : "missing");
	name = json_object_get(author, "name");
	if (json_is_string(name)) {
		skip[1] = "name";
		if (opt_text(cx, author, "name", &m->name))
			return -1;
	}
	return keep_rest(cx, m->meta, "author", author, skip);
}

/* message.metadata: model_slug -> model, the rest kept as "metadata". */
static int gpt_msg_meta(cvt *cx, const json_t *msg, mrec *m, bool *hidden)
{
	const json_t *md;
	const char *skip[2] = {NULL};

	if (opt_field(cx, msg, "metadata", JSON_OBJECT, &md))
		return -1;
	if (!md)
		return 0;
	*hidden = json_is_true(json_object_get(md, "is_visually_hidden_from_conversation"));
	if (json_is_string(json_object_get(md, "model_slug"))) {
		skip[0] = "model_slug";
		if (opt_text(cx, md, "model_slug", &m->model))
			return -1;
	}
	return keep_rest(cx, m->meta, "metadata", md, skip);
}

/*
 * finished_successfully -> completed, in_progress -> pending, a
 * system_error -> error; any other status is completed.  The source
 * status is kept unless it maps back exactly.
 */
static int gpt_status(cvt *cx, const json_t *msg, bool sys_error, mrec *m)
{
	const char *s;
	bool exact;

	if (opt_text(cx, msg, "status", &s))
		return -1;
	m->status = sys_error ? "error" : s && !strcmp(s, "in_progress") ? "pending" : "completed";
	exact = !sys_error && s && (!strcmp(s, "finished_successfully") ||
				     !strcmp(s, "in_progress"));
	if (s && !exact && put_str(m->meta, "status", s))
		return fail(cx, "out of memory");
	return 0;
}

static const char *const gpt_msg_mapped[] = {
	"id", "author", "create_time", "content", "status", "metadata", NULL,
};
static const char *const gpt_node_mapped[] = {"id", "message", "parent", "children", NULL};

static int gpt_message(cvt *cx, const tnode *nd, int64_t fallback, mrec *m)
{
	const json_t *msg = nd->msg;
	const char *mid;
	bool sys_error = false, hidden = false;
	int derived;

	if (opt_text(cx, msg, "id", &mid))
		return -1;
	if (!mid)
		mid = nd->id;
	derived = source_uuid(cx, "msg", cx->src_id, mid, &m->id);
	if (derived < 0 || (derived && put_str(m->meta, "source_id", mid)) ||
	    (strcmp(mid, nd->id) && put_str(m->meta, "node_id", nd->id)))
		return fail(cx, "out of memory");
	m->created = nd->time ? nd->time : fallback;
	if (gpt_author(cx, msg, m) || gpt_content(cx, msg, m, &sys_error) ||
	    gpt_msg_meta(cx, msg, m, &hidden) || gpt_status(cx, msg, sys_error, m))
		return -1;
	/* the empty system message every conversation starts with is hidden too */
	hidden = hidden || (!strcmp(m->role, "system") && !json_string_length(m->content));
	if (hidden && json_object_set_new(m->meta, "hidden", json_true()))
		return fail(cx, "out of memory");
	return copy_rest(cx, m->meta, msg, gpt_msg_mapped) ||
	       copy_rest(cx, m->meta, nd->src, gpt_node_mapped);
}

static int gpt_node(cvt *cx, const char *key, const json_t *v, tnode *nd)
{
	const char *id;

	set_where(cx, "mapping node \"%.80s\"", key);
	if (!json_is_object(v))
		return fail(cx, "expected an object, got %s", jsonl_type_name(v));
	if (opt_text(cx, v, "id", &id))
		return -1;
	if (id && strcmp(id, key))
		return fail(cx, "id \"%.80s\" differs from the node's key", id);
	nd->id = key;
	nd->src = v;
	if (opt_text(cx, v, "parent", &nd->parent_id) ||
	    opt_field(cx, v, "children", JSON_ARRAY, &nd->children) ||
	    opt_field(cx, v, "message", JSON_OBJECT, &nd->msg))
		return -1;
	return nd->msg ? secs_to_ms(cx, nd->msg, "create_time", &nd->time) : 0;
}

static int gpt_tree(cvt *cx, const json_t *src, tree *t)
{
	const json_t *mapping;
	const char *key;
	json_t *v;
	size_t i = 0;

	if (opt_field(cx, src, "mapping", JSON_OBJECT, &mapping))
		return -1;
	if (!mapping || !json_object_size(mapping))
		return fail(cx, "the mapping is %s", mapping ? "empty" : "missing");
	if (tree_alloc(cx, t, json_object_size(mapping)))
		return -1;
	json_object_foreach((json_t *)mapping, key, v) {
		if (gpt_node(cx, key, v, &t->n[i++]))
			return -1;
	}
	clear_where(cx);
	return tree_build(cx, t);
}

/* id (else conversation_id) -> id and external_id. */
static int gpt_ids(cvt *cx, const json_t *src, crec *c)
{
	const char *id, *cid;

	if (opt_text(cx, src, "id", &id) || opt_text(cx, src, "conversation_id", &cid))
		return -1;
	if (!id && !cid)
		return fail(cx, "the conversation has no id or conversation_id");
	return conv_ids(cx, id ? id : cid, &c->external_id);
}

static int gpt_conv_fields(cvt *cx, const json_t *src, const tree *t, crec *c)
{
	const json_t *arch = json_object_get(src, "is_archived");
	const char *skip[] = {"id", "title", "create_time", "update_time", "mapping",
			      "current_node", "is_archived", "conversation_id", NULL};
	const char *id, *cid;

	if (arch && !json_is_null(arch) && !json_is_boolean(arch))
		return fail(cx, "is_archived is %s, expected a boolean", jsonl_type_name(arch));
	if (opt_text(cx, src, "title", &c->title) ||
	    secs_to_ms(cx, src, "create_time", &c->created) ||
	    secs_to_ms(cx, src, "update_time", &c->updated) ||
	    opt_text(cx, src, "id", &id) || opt_text(cx, src, "conversation_id", &cid))
		return -1;
	if (id && cid && strcmp(id, cid))
		skip[7] = NULL; /* a conversation_id unlike id is kept */
	if (!c->created)
		c->created = tree_first_time(t);
	if (!c->created)
		c->created = NO_TIME;
	if (json_is_true(arch)) {
		c->status = "archived";
		c->archived = c->updated ? c->updated : c->created;
	}
	c->meta = new_meta(cx);
	return !c->meta || copy_rest(cx, c->meta, src, skip);
}

/* current_node (else the last leaf) -> tip_seq: its nearest message. */
static int gpt_tip(cvt *cx, const json_t *src, const tree *t, crec *c)
{
	return tree_tip(cx, src, t, "current_node", tree_last_leaf(t), &c->tip);
}

int gpt_conv(cvt *cx, const json_t *src, json_t *arr)
{
	tree t = {.what = "mapping node", .in = "the mapping", .by_time = true};
	crec c = {0};
	int rc = -1;

	if (gpt_ids(cx, src, &c) || gpt_tree(cx, src, &t) || gpt_conv_fields(cx, src, &t, &c) ||
	    tree_messages(cx, &t, c.created, gpt_message, arr) || gpt_tip(cx, src, &t, &c))
		goto out;
	rc = emit_conv(cx, &c, arr);
out:
	tree_free(&t);
	crec_clear(&c);
	return rc;
}
