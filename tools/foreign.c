/*
 * foreign.c - ChatGPT, Claude.ai and OpenAI chat-completions exports to
 * convlog JSONL objects (see foreign.h; the mapping is documented in
 * convlog(1), IMPORT FORMATS).  This file has the entry points and what
 * the formats share (foreign_int.h); each format is converted in its own
 * file: foreign_chatgpt.c, foreign_claude.c, foreign_openai.c.
 *
 * A conversion checks the source conversation, puts its messages in a tree
 * (tree_*) and numbers them by a depth-first pre-order walk, so a parent
 * always has a smaller seq and edited or regenerated turns become siblings.
 * Each message is then converted by its format's function into an `mrec`
 * and written as a JSON object with the keys in the order of convlog(1).
 *
 * Rules shared by the formats:
 *  - a source id that is a UUID is the convlog id; any other id gives a
 *    version 8 UUID made of the XXH3-128 hash of
 *    "<format>:conv:<id>" or "<format>:msg:<conversation id>:<id>", so a
 *    second import of the same export names the same records;
 *  - source fields without a convlog field of their own go to metadata
 *    under their own names; values null, {} and [] carry nothing and are
 *    not kept, and a name already taken gets the prefix "x_";
 *  - a time the source lacks is the parent message's, else the
 *    conversation's; 1970-01-01T00:00:00.001Z when there is none at all
 *    (0 means "not set" in the JSONL format).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "foreign_int.h"
#include "jsonl.h"
#include "util.h"

/* ====================================================================== */
/* Errors and source fields                                               */
/* ====================================================================== */

static const char *kind_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	default: return "a string";
	}
}

/* Sets err to "WHERE: message" and returns -1. */
int fail(cvt *cx, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cx->where[0])
		snprintf(cx->err, cx->errlen, "%s: %s", cx->where, msg);
	else
		snprintf(cx->err, cx->errlen, "%s", msg);
	return -1;
}

void set_where(cvt *cx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cx->where, sizeof(cx->where), fmt, ap);
	va_end(ap);
}

void clear_where(cvt *cx)
{
	cx->where[0] = 0;
}

/*
 * Field `key` of `o` when it has type `t`: absent or null give NULL, any
 * other type is an error.
 */
int opt_field(cvt *cx, const json_t *o, const char *key, json_type t, const json_t **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_typeof(v) != t)
		return fail(cx, "%s is %s, expected %s", key, jsonl_type_name(v), kind_name(t));
	*out = v;
	return 0;
}

/* A string field bound for a convlog text field, which cannot hold U+0000. */
int opt_text(cvt *cx, const json_t *o, const char *key, const char **out)
{
	const json_t *v;

	*out = NULL;
	if (opt_field(cx, o, key, JSON_STRING, &v))
		return -1;
	if (!v)
		return 0;
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(cx, "%s contains U+0000", key);
	*out = json_string_value(v);
	return 0;
}

static bool is_blank(const json_t *v)
{
	return json_is_null(v) || (json_is_object(v) && !json_object_size(v)) ||
	       (json_is_array(v) && !json_array_size(v));
}

static bool in_list(const char *k, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(*list, k))
			return true;
	return false;
}

/* Whether `src` has a key outside `skip` with a value that is not blank. */
bool has_rest(const json_t *src, const char *const *skip)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v) {
		if (!in_list(k, skip) && !is_blank(v))
			return true;
	}
	return false;
}

/* Sets dst[k] = v (shared), as "x_<k>" when dst already has k. */
int put_kept(json_t *dst, const char *k, json_t *v)
{
	char alt[256];

	if (!json_object_get(dst, k))
		return json_object_set(dst, k, v);
	snprintf(alt, sizeof(alt), "x_%s", k);
	return json_object_set(dst, alt, v);
}

/* Copies the non-blank keys of `src` outside `skip` into `dst`. */
int copy_rest(cvt *cx, json_t *dst, const json_t *src, const char *const *skip)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v) {
		if (in_list(k, skip) || is_blank(v))
			continue;
		if (put_kept(dst, k, v))
			return fail(cx, "out of memory");
	}
	return 0;
}

/* dst[key] = the non-blank keys of `src` outside `skip`, if there are any. */
int keep_rest(cvt *cx, json_t *dst, const char *key, const json_t *src,
		     const char *const *skip)
{
	json_t *rest;

	if (!src || !has_rest(src, skip))
		return 0;
	rest = json_object();
	if (!rest || copy_rest(cx, rest, src, skip) || put_kept(dst, key, rest)) {
		json_decref(rest);
		return fail(cx, "out of memory");
	}
	json_decref(rest);
	return 0;
}

int put_str(json_t *o, const char *k, const char *v)
{
	return v ? json_object_set_new(o, k, json_string(v)) : 0;
}

/* ====================================================================== */
/* Times                                                                  */
/* ====================================================================== */

/*
 * Epoch seconds (ChatGPT's create_time) to ms, 0 when null.  Rounded to
 * whole microseconds first so that 1714567890.123 does not become
 * ...122.999 and then ...122.
 */
int secs_to_ms(cvt *cx, const json_t *o, const char *key, int64_t *ms)
{
	const json_t *v = json_object_get(o, key);
	double t;

	*ms = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return fail(cx, "%s is %s, expected a number or null", key, jsonl_type_name(v));
	t = json_number_value(v);
	if (!(t >= 0 && t * 1000 <= (double)MAX_MS))
		return fail(cx, "%s %.17g is out of range (epoch seconds, 1970..9999)", key, t);
	*ms = (int64_t)llround(t * 1e6) / 1000;
	return 0;
}

/* ISO 8601 with fraction and Z or +hh:mm (Claude.ai) to ms, 0 when null. */
int iso_to_ms(cvt *cx, const json_t *o, const char *key, int64_t *ms)
{
	const char *s, *why;

	*ms = 0;
	if (opt_text(cx, o, key, &s))
		return -1;
	if (!s)
		return 0;
	if (tool_time_parse(s, ms, &why))
		return fail(cx, "%s '%.40s' is not an ISO 8601 time: %s", key, s, why);
	if (*ms <= 0 || *ms > MAX_MS)
		return fail(cx, "%s '%.40s' is out of range (1970..9999)", key, s);
	return 0;
}

/* ====================================================================== */
/* Ids                                                                    */
/* ====================================================================== */

/* XXH3-128 of the k strings joined with ':', in canonical byte order. */
int hash_parts(const char *const *s, const size_t *n, int k, unsigned char out[16])
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;

	if (!st)
		return -1;
	XXH3_128bits_reset(st);
	for (int i = 0; i < k; i++) {
		if (i)
			XXH3_128bits_update(st, ":", 1);
		XXH3_128bits_update(st, s[i], n[i]);
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	memcpy(out, c.digest, 16);
	return 0;
}

/* The hash as an RFC 9562 version 8 UUID. */
void uuid_v8(const unsigned char h[16], convlog_uuid *id)
{
	memcpy(id->bytes, h, 16);
	id->bytes[6] = (unsigned char)((id->bytes[6] & 0x0f) | 0x80);
	id->bytes[8] = (unsigned char)((id->bytes[8] & 0x3f) | 0x80);
}

/*
 * The convlog id of source id `sid`: itself when it is a UUID other than
 * nil, else the v8 UUID of "<format>:<kind>:[<scope>:]<sid>".
 * Returns 0 when sid was used as is, 1 when derived, -1 on error.
 */
int source_uuid(cvt *cx, const char *kind, const char *scope, const char *sid,
		       convlog_uuid *out)
{
	const char *s[4] = {cx->name, kind};
	size_t n[4];
	unsigned char h[16];
	int k = 2;

	if (!convlog_uuid_parse(sid, out) && !convlog_uuid_is_nil(out))
		return 0;
	if (scope)
		s[k++] = scope;
	s[k++] = sid;
	for (int i = 0; i < k; i++)
		n[i] = strlen(s[i]);
	if (hash_parts(s, n, k, h))
		return fail(cx, "out of memory");
	uuid_v8(h, out);
	return 1;
}

/* The conversation's id from its source id; external_id "<format>:<sid>". */
int conv_ids(cvt *cx, const char *sid, char **external_id)
{
	convlog_uuid id;
	size_t n = strlen(cx->name) + strlen(sid) + 2;

	cx->src_id = sid;
	if (source_uuid(cx, "conv", NULL, sid, &id) < 0)
		return -1;
	convlog_uuid_format(&id, cx->conv_text);
	*external_id = malloc(n);
	if (!*external_id)
		return fail(cx, "out of memory");
	snprintf(*external_id, n, "%s:%s", cx->name, sid);
	return 0;
}

/* ====================================================================== */
/* Content buffer                                                         */
/* ====================================================================== */

void sb_add(sbuf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	b->want += n;
	if (!n || b->oom || b->want > CONTENT_MAX)
		return;
	if (b->len + n > b->cap) {
		for (cap = b->cap ? b->cap : 256; cap < b->len + n; cap *= 2)
			;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Appends a JSON string as one piece, after "\n" unless it is the first. */
void sb_join(sbuf *b, const json_t *str)
{
	if (b->parts++)
		sb_add(b, "\n", 1);
	sb_add(b, json_string_value(str), json_string_length(str));
}

bool sb_equals(const sbuf *b, const json_t *str)
{
	return b->want == b->len && b->len == json_string_length(str) &&
	       (!b->len || !memcmp(b->p, json_string_value(str), b->len));
}

void sb_free(sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* The content as a new JSON string, NULL with err set; frees b. */
json_t *sb_take(cvt *cx, sbuf *b)
{
	json_t *s = NULL;

	if (b->want > CONTENT_MAX)
		fail(cx, "content is %.1f MiB, over the %u MiB limit", b->want / 1048576.0,
		     CONTENT_MAX >> 20);
	else if (b->oom || !(s = json_stringn(b->p ? b->p : "", b->len)))
		fail(cx, "out of memory");
	sb_free(b);
	return s;
}

/* ====================================================================== */
/* Output records                                                         */
/* ====================================================================== */

void mrec_clear(mrec *m)
{
	json_decref(m->content);
	json_decref(m->tool_calls);
	json_decref(m->meta);
	memset(m, 0, sizeof(*m));
}

void crec_clear(crec *c)
{
	free(c->external_id);
	json_decref(c->meta);
	memset(c, 0, sizeof(*c));
}

/* A new metadata object {"source": FORMAT}. */
json_t *new_meta(cvt *cx)
{
	json_t *o = json_object();

	if (!o || put_str(o, "source", cx->name)) {
		json_decref(o);
		fail(cx, "out of memory");
		return NULL;
	}
	return o;
}

static json_t *msg_json(const cvt *cx, const mrec *m)
{
	char id[CONVLOG_UUID_STRLEN];
	json_t *o = json_object();

	convlog_uuid_format(&m->id, id);
	if (!o || put_str(o, "type", "message") || put_str(o, "id", id) ||
	    put_str(o, "conversation_id", cx->conv_text) ||
	    json_object_set_new(o, "seq", json_integer(m->seq)) ||
	    json_object_set_new(o, "parent_seq", json_integer(m->pseq)) ||
	    put_str(o, "role", m->role) || put_str(o, "name", m->name) ||
	    json_object_set(o, "content", m->content) ||
	    (m->tool_calls && json_object_set(o, "tool_calls", m->tool_calls)) ||
	    put_str(o, "tool_call_id", m->tool_call_id) || put_str(o, "model", m->model) ||
	    put_str(o, "status", m->status ? m->status : "completed") ||
	    put_str(o, "error_message", m->error_message) ||
	    json_object_set(o, "metadata", m->meta) ||
	    jsonl_set_time(o, "created_at", m->created)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Appends message m to arr; a message id used twice is an error. */
int emit_msg(cvt *cx, json_t *arr, const mrec *m)
{
	char id[CONVLOG_UUID_STRLEN];
	const json_t *prev;

	convlog_uuid_format(&m->id, id);
	prev = json_object_get(cx->ids, id);
	if (prev)
		return fail(cx, "message id %s is already the id of %s", id,
			    json_string_value(prev));
	if (json_object_set_new(cx->ids, id, json_string(cx->where[0] ? cx->where : "another")) ||
	    json_array_append_new(arr, msg_json(cx, m)))
		return fail(cx, "out of memory");
	if (m->created > cx->last_msg)
		cx->last_msg = m->created;
	return 0;
}

/*
 * Puts the conversation object first in arr.  last_activity_at is the
 * later of updated_at and the latest message, as the library would make
 * it: a stored value that differed from the file's would make every
 * re-import look like a change.
 */
int emit_conv(cvt *cx, const crec *c, json_t *arr)
{
	int64_t updated = c->updated ? c->updated : c->created;
	int64_t act = cx->last_msg > updated ? cx->last_msg : updated;
	json_t *o = json_object();

	clear_where(cx);
	if (!o || put_str(o, "type", "conversation") || put_str(o, "id", cx->conv_text) ||
	    put_str(o, "external_id", c->external_id) || put_str(o, "user_id", c->user_id) ||
	    put_str(o, "title", c->title) || put_str(o, "topic", c->topic) ||
	    put_str(o, "system_prompt", c->system_prompt) ||
	    put_str(o, "status", c->status ? c->status : "active") ||
	    (c->tip && json_object_set_new(o, "tip_seq", json_integer(c->tip))) ||
	    json_object_set(o, "metadata", c->meta) ||
	    jsonl_set_time(o, "created_at", c->created) ||
	    jsonl_set_time(o, "updated_at", updated) ||
	    jsonl_set_time(o, "last_activity_at", act) ||
	    jsonl_set_time(o, "archived_at", c->archived)) {
		json_decref(o);
		return fail(cx, "out of memory");
	}
	if (json_array_insert_new(arr, 0, o))
		return fail(cx, "out of memory");
	return 0;
}

/* ====================================================================== */
/* Message trees (ChatGPT mapping, Claude.ai parent_message_uuid)         */
/* ====================================================================== */

int tree_alloc(cvt *cx, tree *t, size_t len)
{
	size_t n = len ? len : 1;

	t->len = len;
	t->n = calloc(n, sizeof(*t->n));
	t->kids = calloc(n, sizeof(*t->kids));
	t->roots = calloc(n, sizeof(*t->roots));
	t->order = calloc(n, sizeof(*t->order));
	t->index = json_object();
	if (!t->n || !t->kids || !t->roots || !t->order || !t->index)
		return fail(cx, "out of memory");
	return 0;
}

void tree_free(tree *t)
{
	free(t->n);
	free(t->kids);
	free(t->roots);
	free(t->order);
	json_decref(t->index);
}

size_t tree_find(const tree *t, const char *id)
{
	const json_t *v = json_object_get(t->index, id);

	return v ? (size_t)json_integer_value(v) : NONE;
}

static void where_node(cvt *cx, const tree *t, size_t i)
{
	set_where(cx, "%s \"%.80s\"", t->what, t->n[i].id);
}

static int tree_index(cvt *cx, tree *t)
{
	for (size_t i = 0; i < t->len; i++) {
		if (json_object_get(t->index, t->n[i].id)) {
			where_node(cx, t, i);
			return fail(cx, "the id is used twice");
		}
		if (json_object_set_new(t->index, t->n[i].id, json_integer((json_int_t)i)))
			return fail(cx, "out of memory");
	}
	return 0;
}

/* Resolves parents and sizes each node's list of children. */
static int tree_link(cvt *cx, tree *t)
{
	size_t i, at = 0;

	for (i = 0; i < t->len; i++) {
		tnode *nd = &t->n[i];
		nd->parent = NONE;
		if (!nd->parent_id)
			continue;
		nd->parent = tree_find(t, nd->parent_id);
		if (nd->parent == NONE) {
			where_node(cx, t, i);
			return fail(cx, "parent \"%.80s\" is not in %s", nd->parent_id, t->in);
		}
		t->n[nd->parent].nkids++;
	}
	for (i = 0; i < t->len; i++) {
		t->n[i].kid0 = at;
		at += t->n[i].nkids;
		t->n[i].nkids = 0;
	}
	return 0;
}

static void add_kid(tree *t, size_t p, size_t k)
{
	t->kids[t->n[p].kid0 + t->n[p].nkids++] = k;
}

/* Node p's "children" in their order; each must name p as its parent. */
static int place_listed(cvt *cx, tree *t, size_t p)
{
	const json_t *c;
	size_t i, k;

	json_array_foreach(t->n[p].children, i, c) {
		if (!json_is_string(c))
			return fail(cx, "children[%zu] is %s, expected a string", i,
				    jsonl_type_name(c));
		k = tree_find(t, json_string_value(c));
		if (k == NONE)
			return fail(cx, "child \"%.80s\" is not in %s", json_string_value(c), t->in);
		if (t->n[k].parent != p)
			return fail(cx, "lists child \"%.80s\", whose parent is %s%.80s%s",
				    t->n[k].id, t->n[k].parent_id ? "\"" : "",
				    t->n[k].parent_id ? t->n[k].parent_id : "null",
				    t->n[k].parent_id ? "\"" : "");
		if (t->n[k].listed)
			return fail(cx, "lists child \"%.80s\" twice", t->n[k].id);
		t->n[k].listed = true;
		add_kid(t, p, k);
	}
	return 0;
}

typedef struct tkey {
	int64_t time;
	size_t i;
} tkey;

static int tkey_cmp(const void *a, const void *b)
{
	const tkey *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Orders each node's children: its "children" list first, then children
 * missing from it (and roots) by time when by_time, else in source order.
 */
static int tree_place(cvt *cx, tree *t)
{
	tkey *ord;

	for (size_t i = 0; i < t->len; i++) {
		where_node(cx, t, i);
		if (t->n[i].children && place_listed(cx, t, i))
			return -1;
	}
	clear_where(cx);
	ord = calloc(t->len ? t->len : 1, sizeof(*ord));
	if (!ord)
		return fail(cx, "out of memory");
	for (size_t i = 0; i < t->len; i++)
		ord[i] = (tkey){t->n[i].time, i};
	if (t->by_time)
		qsort(ord, t->len, sizeof(*ord), tkey_cmp);
	for (size_t k = 0; k < t->len; k++) {
		tnode *nd = &t->n[ord[k].i];
		if (nd->parent == NONE)
			t->roots[t->nroots++] = ord[k].i;
		else if (!nd->listed)
			add_kid(t, nd->parent, ord[k].i);
	}
	free(ord);
	return 0;
}

/* Numbers the messages by a depth-first pre-order walk from the roots. */
static int tree_walk(cvt *cx, tree *t)
{
	size_t *stack = calloc(t->len ? t->len : 1, sizeof(*stack));
	size_t sp = 0;

	if (!stack)
		return fail(cx, "out of memory");
	for (size_t r = t->nroots; r-- > 0;)
		stack[sp++] = t->roots[r];
	while (sp) {
		tnode *nd = &t->n[stack[--sp]];
		nd->seen = true;
		nd->eff = nd->parent == NONE ? 0 : t->n[nd->parent].eff;
		if (nd->msg) {
			nd->pseq = nd->eff;
			nd->seq = nd->eff = ++t->nmsg;
			t->order[nd->seq - 1] = (size_t)(nd - t->n);
		}
		for (size_t k = nd->nkids; k-- > 0;)
			stack[sp++] = t->kids[nd->kid0 + k];
	}
	free(stack);
	for (size_t i = 0; i < t->len; i++) {
		if (!t->n[i].seen) {
			where_node(cx, t, i);
			return fail(cx, "not reachable from a root: its parents form a cycle");
		}
	}
	return 0;
}

int tree_build(cvt *cx, tree *t)
{
	return tree_index(cx, t) || tree_link(cx, t) || tree_place(cx, t) || tree_walk(cx, t)
		       ? -1 : 0;
}

/* The leaf reached from the last root along the last children. */
int tree_tip(cvt *cx, const json_t *src, const tree *t, const char *key, uint32_t dflt,
	     uint32_t *tip)
{
	const char *id;
	size_t i;

	if (opt_text(cx, src, key, &id))
		return -1;
	if (!id) {
		*tip = dflt;
		return 0;
	}
	if ((i = tree_find(t, id)) == NONE)
		return fail(cx, "%s \"%.80s\" is not in %s", key, id, t->in);
	*tip = t->n[i].eff;
	return 0;
}

uint32_t tree_last_leaf(const tree *t)
{
	size_t i;

	if (!t->nroots)
		return 0;
	i = t->roots[t->nroots - 1];
	while (t->n[i].nkids)
		i = t->kids[t->n[i].kid0 + t->n[i].nkids - 1];
	return t->n[i].eff;
}

int64_t tree_first_time(const tree *t)
{
	int64_t first = 0;

	for (size_t i = 0; i < t->len; i++)
		if (t->n[i].msg && t->n[i].time && (!first || t->n[i].time < first))
			first = t->n[i].time;
	return first;
}

/* Converts the messages in seq order; a missing time falls back to the
 * parent message's, else to the conversation's. */
int tree_messages(cvt *cx, tree *t, int64_t conv_created, msg_fn fn, json_t *arr)
{
	for (uint32_t s = 1; s <= t->nmsg; s++) {
		tnode *nd = &t->n[t->order[s - 1]];
		int64_t fb = nd->pseq ? t->n[t->order[nd->pseq - 1]].created : conv_created;
		mrec m = {.seq = s, .pseq = nd->pseq};
		int rc;

		where_node(cx, t, t->order[s - 1]);
		m.meta = new_meta(cx);
		rc = !m.meta || fn(cx, nd, fb, &m) || emit_msg(cx, arr, &m);
		nd->created = m.created;
		mrec_clear(&m);
		if (rc)
			return -1;
	}
	clear_where(cx);
	return 0;
}

/* ====================================================================== */
/* Entry points                                                           */
/* ====================================================================== */

static const char *const names[] = {"auto", "convlog", "chatgpt", "claude", "openai"};

const char *foreign_name(foreign_format f)
{
	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "auto";
}

int foreign_parse_name(const char *s, foreign_format *out)
{
	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*out = (foreign_format)i;
			return 0;
		}
	}
	return -1;
}

/*
 * A convlog line by its "type"; an export by "mapping" (ChatGPT) or
 * "chat_messages" (Claude.ai), also one per line; an OpenAI line by its
 * "messages" array.
 */
foreign_format foreign_detect(const json_t *first, int in_array)
{
	const char *type = jsonl_type(first);

	if (!json_is_object(first))
		return FOREIGN_AUTO;
	if (!in_array && type && (!strcmp(type, "conversation") || !strcmp(type, "message")))
		return FOREIGN_CONVLOG;
	if (json_is_object(json_object_get(first, "mapping")))
		return FOREIGN_CHATGPT;
	if (json_is_array(json_object_get(first, "chat_messages")))
		return FOREIGN_CLAUDE;
	if (!in_array && json_is_array(json_object_get(first, "messages")))
		return FOREIGN_OPENAI;
	return FOREIGN_AUTO;
}

int foreign_convert(foreign_format fmt, const json_t *src, long index, const char *raw,
		    size_t raw_len, int64_t now_ms, json_t **out, char *err, size_t errlen)
{
	cvt cx = {.fmt = fmt, .name = foreign_name(fmt), .err = err, .errlen = errlen};
	json_t *arr = json_array();
	int rc = -1;

	*out = NULL;
	if (errlen)
		err[0] = 0;
	cx.ids = json_object();
	if (!arr || !cx.ids)
		fail(&cx, "out of memory");
	else if (!json_is_object(src))
		fail(&cx, "expected a JSON object, got %s", src ? jsonl_type_name(src) : "nothing");
	else if (fmt == FOREIGN_CHATGPT)
		rc = gpt_conv(&cx, src, arr);
	else if (fmt == FOREIGN_CLAUDE)
		rc = claude_conv(&cx, src, arr);
	else if (fmt == FOREIGN_OPENAI)
		rc = oai_conv(&cx, src, raw, raw_len, now_ms, arr);
	else
		fail(&cx, "the %s format is not converted", foreign_name(fmt));
	if (!rc) {
		*out = arr;
		arr = NULL;
	}
	json_decref(arr);
	json_decref(cx.ids);
	return rc ? -1 : 0;
}

/* Copies at most max bytes of s, not cutting a UTF-8 sequence, control
 * characters as spaces; "..." marks a cut.  dst has max + 4 bytes. */
static void clip(char *dst, const char *s, size_t max)
{
	size_t n = strlen(s);
	bool cut = n > max;

	if (cut) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	memcpy(dst + n, cut ? "..." : "", cut ? 4 : 1);
}

/* Drops a UTF-8 sequence that snprintf cut at the end of s. */
static void trim_partial(char *s)
{
	size_t n = strlen(s), i = n;
	unsigned char c;

	while (i && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (!i)
		return;
	c = (unsigned char)s[i - 1];
	if (c >= 0xC0 && n - (i - 1) < (c >= 0xF0 ? 4u : c >= 0xE0 ? 3u : 2u))
		s[i - 1] = 0;
}

void foreign_describe(foreign_format fmt, const json_t *src, char *out, size_t n)
{
	const char *id, *title = NULL;
	char cid[84], ctitle[64];
	int len;

	if (!n)
		return;
	if (fmt == FOREIGN_CLAUDE) {
		id = json_string_value(json_object_get(src, "uuid"));
		title = json_string_value(json_object_get(src, "name"));
	} else {
		id = json_string_value(json_object_get(src, "id"));
		if (!id && fmt == FOREIGN_CHATGPT)
			id = json_string_value(json_object_get(src, "conversation_id"));
		if (fmt == FOREIGN_CHATGPT)
			title = json_string_value(json_object_get(src, "title"));
	}
	clip(cid, id ? id : "(no id)", sizeof(cid) - 4);
	if (title && *title) {
		clip(ctitle, title, sizeof(ctitle) - 4);
		len = snprintf(out, n, "%s (\"%s\")", cid, ctitle);
	} else {
		len = snprintf(out, n, "%s", cid);
	}
	if (len >= 0 && (size_t)len >= n)
		trim_partial(out);
}
