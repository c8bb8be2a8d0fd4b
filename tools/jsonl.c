/* jsonl.c - conversation/message <-> JSON objects (see jsonl.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "util.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* ====================================================================== */
/* Output                                                                 */
/* ====================================================================== */

/* Each setter returns 0 or -1; NULL/zero values are skipped. */
static int set_str(json_t *o, const char *k, const char *v)
{
	return v ? json_object_set_new(o, k, json_string(v)) : 0;
}

static int set_int(json_t *o, const char *k, long long v)
{
	return json_object_set_new(o, k, json_integer(v));
}

static int set_nz(json_t *o, const char *k, long long v)
{
	return v ? set_int(o, k, v) : 0;
}

int jsonl_set_time(json_t *o, const char *k, int64_t ms)
{
	char t[TOOL_TIME_STRLEN];

	if (!ms)
		return 0;
	tool_time_format(ms, t);
	return json_object_set_new(o, k, json_string(t));
}

static int set_uuid(json_t *o, const char *k, const convlog_uuid *id)
{
	char s[CONVLOG_UUID_STRLEN];

	return json_object_set_new(o, k, json_string(tool_uuid_str(id, s)));
}

/* Embeds stored JSON text as a value. */
static int set_json(json_t *o, const char *k, const char *text)
{
	json_error_t e;
	json_t *v;

	if (!text)
		return 0;
	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	return v ? json_object_set_new(o, k, v) : -1;
}

static int conv_strings(json_t *o, const convlog_conv *c)
{
	return set_str(o, "external_id", c->external_id) || set_str(o, "org_id", c->org_id) ||
	       set_str(o, "user_id", c->user_id) || set_str(o, "device_id", c->device_id) ||
	       set_str(o, "session_id", c->session_id) ||
	       set_str(o, "initiator_role", c->initiator_role) ||
	       set_str(o, "responder_role", c->responder_role) || set_str(o, "title", c->title) ||
	       set_str(o, "topic", c->topic) || set_str(o, "system_prompt", c->system_prompt)
		       ? -1 : 0;
}

static int conv_status(json_t *o, const convlog_conv *c)
{
	const char *st = convlog_status_name(c->status);

	if (!st || set_str(o, "status", st))
		return -1;
	if (c->status == CONVLOG_STATUS_DELETED && c->prev_status)
		return set_str(o, "prev_status", convlog_status_name(c->prev_status));
	return 0;
}

static int conv_sets(json_t *o, const convlog_conv *c)
{
	json_t *a;

	if (c->n_tags) {
		a = json_array();
		if (json_object_set_new(o, "tags", a))
			return -1;
		for (size_t i = 0; i < c->n_tags; i++)
			if (json_array_append_new(a, json_string(c->tags[i])))
				return -1;
	}
	if (set_nz(o, "rating", c->rating))
		return -1;
	if (!convlog_uuid_is_nil(&c->parent_id) && set_uuid(o, "parent_id", &c->parent_id))
		return -1;
	if (set_nz(o, "fork_seq", c->fork_seq) || set_nz(o, "depth", c->depth) ||
	    set_nz(o, "tip_seq", c->tip_seq))
		return -1;
	if (c->n_cursors) {
		a = json_object();
		if (json_object_set_new(o, "cursors", a))
			return -1;
		for (size_t i = 0; i < c->n_cursors; i++)
			if (set_int(a, c->cursors[i].name, c->cursors[i].value))
				return -1;
	}
	return 0;
}

json_t *jsonl_conv_json(const convlog_conv *c)
{
	json_t *o = json_object();

	if (!o || set_str(o, "type", "conversation") || set_uuid(o, "id", &c->id) ||
	    conv_strings(o, c) || conv_status(o, c) || conv_sets(o, c) ||
	    set_json(o, "metadata", c->metadata) ||
	    jsonl_set_time(o, "created_at", c->created_at) ||
	    jsonl_set_time(o, "updated_at", c->updated_at) ||
	    jsonl_set_time(o, "last_activity_at", c->last_activity_at) ||
	    jsonl_set_time(o, "archived_at", c->archived_at) ||
	    jsonl_set_time(o, "deleted_at", c->deleted_at) ||
	    set_int(o, "message_count", (long long)c->message_count) ||
	    set_int(o, "token_total", c->token_total) || set_int(o, "cost_total", c->cost_total)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int set_usage(json_t *o, const char *k, int64_t v)
{
	return v >= 0 ? set_int(o, k, v) : 0;
}

static int msg_tail(json_t *o, const convlog_msg *m)
{
	const char *st = convlog_msg_status_name(m->status);

	return set_usage(o, "token_count", m->token_count) || set_usage(o, "cost", m->cost) ||
	       set_usage(o, "latency_ms", m->latency_ms) || set_str(o, "model", m->model) ||
	       !st || set_str(o, "status", st) ||
	       set_str(o, "error_message", m->error_message) ||
	       set_nz(o, "feedback", m->feedback) ||
	       set_str(o, "feedback_text", m->feedback_text) ||
	       set_json(o, "metadata", m->metadata) ||
	       jsonl_set_time(o, "created_at", m->created_at) ||
	       jsonl_set_time(o, "edited_at", m->edited_at)
		       ? -1 : 0;
}

json_t *jsonl_msg_json(const convlog_msg *m)
{
	json_t *o = json_object();
	json_t *content = json_stringn(m->content ? m->content : "", m->content_len);

	if (!o || set_str(o, "type", "message") || set_uuid(o, "id", &m->id) ||
	    set_uuid(o, "conversation_id", &m->conv_id) || set_int(o, "seq", m->seq) ||
	    set_int(o, "parent_seq", m->parent_seq) || set_str(o, "role", m->role) ||
	    set_str(o, "name", m->name) || json_object_set_new(o, "content", content) ||
	    set_json(o, "tool_calls", m->tool_calls) ||
	    set_str(o, "tool_call_id", m->tool_call_id) || msg_tail(o, m)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int has_real(const json_t *v)
{
	const char *k;
	const json_t *x;
	size_t i;

	if (json_is_real(v))
		return 1;
	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			if (has_real(x))
				return 1;
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			if (has_real(x))
				return 1;
	}
	return 0;
}

/*
 * jansson writes reals with 17 significant digits (1.1 becomes
 * 1.1000000000000001).  Use the smallest precision, 15..17, at which the
 * whole line reads back as exactly the same values: lossless and
 * deterministic, and 1.1 stays 1.1.
 */
static size_t real_flags(const json_t *obj)
{
	json_error_t e;

	if (!has_real(obj))
		return 0;
	for (int p = 15; p < 17; p++) {
		char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(p));
		json_t *back = s ? json_loads(s, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e) : NULL;
		int same = back && json_equal((json_t *)obj, back);
		json_decref(back);
		free(s);
		if (same)
			return JSON_REAL_PRECISION(p);
	}
	return JSON_REAL_PRECISION(17);
}

int jsonl_print(FILE *f, const json_t *obj)
{
	if (json_dumpf(obj, f, JSON_COMPACT | JSON_PRESERVE_ORDER | real_flags(obj)) != 0)
		return -1;
	return fputc('\n', f) == EOF ? -1 : 0;
}

int jsonl_print_conv(FILE *f, const convlog_conv *c)
{
	json_t *o = jsonl_conv_json(c);
	int rc = o ? jsonl_print(f, o) : -1;

	json_decref(o);
	return rc;
}

int jsonl_print_msg(FILE *f, const convlog_msg *m)
{
	json_t *o = jsonl_msg_json(m);
	int rc = o ? jsonl_print(f, o) : -1;

	json_decref(o);
	return rc;
}

char *jsonl_reformat(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	char *out;

	if (!v)
		return NULL;
	out = json_dumps(v, DUMP_FLAGS | real_flags(v));
	json_decref(v);
	return out;
}

const char *jsonl_type(const json_t *obj)
{
	return json_string_value(json_object_get(obj, "type"));
}

/* The library's canonical form: compact, key order kept, the shortest
 * real precision that reads back exactly. */
char *jsonl_dump_value(const json_t *v)
{
	return json_dumps(v, DUMP_FLAGS | real_flags(v));
}

/* ====================================================================== */
/* Input                                                                  */
/* ====================================================================== */

enum kind {
	K_TYPE,     /* "type": must equal the record type */
	K_STR,      /* text without U+0000 -> const char * */
	K_TIME,     /* RFC 3339 -> int64 ms */
	K_UUID,     /* canonical UUID -> convlog_uuid */
	K_SEQ,      /* 0..CONVLOG_MAX_SEQ -> uint32 */
	K_SEQ1,     /* 1..CONVLOG_MAX_SEQ -> uint32 */
	K_U32,      /* 0..UINT32_MAX -> uint32 */
	K_USAGE,    /* integer >= -1 -> int64 */
	K_RATING,   /* 0..5 -> int */
	K_FEEDBACK, /* -1..1 -> int */
	K_CSTATUS,  /* conversation status name -> int */
	K_MSTATUS,  /* message status name -> int */
	K_TAGS,
	K_CURSORS,
	K_OBJECT,   /* JSON object -> owned text at off2, pointer at off */
	K_ANY,      /* any JSON value, same storage as K_OBJECT */
	K_CONTENT,
	K_DERIVED,  /* integer, ignored */
};

typedef struct field {
	const char *key;
	enum kind kind;
	size_t off;  /* into the jsonl_*_in wrapper */
	size_t off2; /* K_OBJECT/K_ANY: owned text pointer */
	int required;
} field;

#define CF(name, k) {#name, k, offsetof(jsonl_conv_in, c.name), 0, 0}
static const field conv_fields[] = {
	{"type", K_TYPE, 0, 0, 1},
	{"id", K_UUID, offsetof(jsonl_conv_in, c.id), 0, 1},
	CF(external_id, K_STR), CF(org_id, K_STR), CF(user_id, K_STR), CF(device_id, K_STR),
	CF(session_id, K_STR), CF(initiator_role, K_STR), CF(responder_role, K_STR),
	CF(title, K_STR), CF(topic, K_STR), CF(system_prompt, K_STR),
	CF(status, K_CSTATUS), CF(prev_status, K_CSTATUS), CF(tags, K_TAGS),
	CF(rating, K_RATING), CF(parent_id, K_UUID), CF(fork_seq, K_SEQ), CF(depth, K_U32),
	CF(tip_seq, K_SEQ), CF(cursors, K_CURSORS),
	{"metadata", K_OBJECT, offsetof(jsonl_conv_in, c.metadata),
	 offsetof(jsonl_conv_in, metadata), 0},
	{"created_at", K_TIME, offsetof(jsonl_conv_in, c.created_at), 0, 1},
	CF(updated_at, K_TIME), CF(last_activity_at, K_TIME), CF(archived_at, K_TIME),
	CF(deleted_at, K_TIME), CF(message_count, K_DERIVED), CF(token_total, K_DERIVED),
	CF(cost_total, K_DERIVED),
};
#undef CF

#define MF(name, k) {#name, k, offsetof(jsonl_msg_in, m.name), 0, 0}
static const field msg_fields[] = {
	{"type", K_TYPE, 0, 0, 1},
	{"id", K_UUID, offsetof(jsonl_msg_in, m.id), 0, 1},
	{"conversation_id", K_UUID, offsetof(jsonl_msg_in, m.conv_id), 0, 1},
	{"seq", K_SEQ1, offsetof(jsonl_msg_in, m.seq), 0, 1},
	MF(parent_seq, K_SEQ),
	{"role", K_STR, offsetof(jsonl_msg_in, m.role), 0, 1},
	MF(name, K_STR), MF(content, K_CONTENT),
	{"tool_calls", K_ANY, offsetof(jsonl_msg_in, m.tool_calls),
	 offsetof(jsonl_msg_in, tool_calls), 0},
	MF(tool_call_id, K_STR), MF(token_count, K_USAGE), MF(cost, K_USAGE),
	MF(latency_ms, K_USAGE), MF(model, K_STR), MF(status, K_MSTATUS),
	MF(error_message, K_STR), MF(feedback, K_FEEDBACK), MF(feedback_text, K_STR),
	{"metadata", K_OBJECT, offsetof(jsonl_msg_in, m.metadata),
	 offsetof(jsonl_msg_in, metadata), 0},
	{"created_at", K_TIME, offsetof(jsonl_msg_in, m.created_at), 0, 1},
	MF(edited_at, K_TIME),
};
#undef MF

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct pctx {
	void *rec;          /* the jsonl_*_in wrapper */
	const char *type;   /* "conversation" / "message" */
	const char *key;
	char *err;
	size_t errlen;
} pctx;

const char *jsonl_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static int bad(pctx *p, const char *fmt, ...) TOOL_PRINTF(2, 3);

static int bad(pctx *p, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "field '%s': %s", p->key, what);
	return -1;
}

static int want(pctx *p, const json_t *v, const char *expected)
{
	return bad(p, "expected %s, got %s", expected, jsonl_type_name(v));
}

static void *slot(pctx *p, size_t off)
{
	return (char *)p->rec + off;
}

static int get_text(pctx *p, const json_t *v, const char **out)
{
	if (!json_is_string(v))
		return want(p, v, "a string");
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(p, "%s", "contains U+0000, which only content may hold");
	*out = json_string_value(v);
	return 0;
}

static int get_int(pctx *p, const json_t *v, long long lo, long long hi, long long *out)
{
	char range[80];

	snprintf(range, sizeof(range), "an integer %lld..%lld", lo, hi);
	if (!json_is_integer(v))
		return want(p, v, range);
	*out = json_integer_value(v);
	if (*out < lo || *out > hi)
		return bad(p, "%lld is out of range (%s)", *out, range + 3);
	return 0;
}

static int do_time(pctx *p, const json_t *v, size_t off)
{
	const char *s, *why;
	int64_t ms;

	if (get_text(p, v, &s))
		return -1;
	if (tool_time_parse(s, &ms, &why))
		return bad(p, "'%.40s' is not an RFC 3339 time: %s", s, why);
	if (ms == 0)
		return bad(p, "%s", "the epoch (0) means 'not set'; omit the field instead");
	*(int64_t *)slot(p, off) = ms;
	return 0;
}

static int do_uuid(pctx *p, const json_t *v, size_t off)
{
	const char *s;
	convlog_uuid *id = slot(p, off);

	if (get_text(p, v, &s))
		return -1;
	if (convlog_uuid_parse(s, id) != 0)
		return bad(p, "'%.60s' is not a UUID (8-4-4-4-12 hex digits)", s);
	if (convlog_uuid_is_nil(id))
		return bad(p, "%s", "the nil UUID is not allowed");
	return 0;
}

static int do_status(pctx *p, const json_t *v, size_t off, int conv)
{
	const char *s;

	if (get_text(p, v, &s))
		return -1;
	if (conv && convlog_status_parse(s, slot(p, off)))
		return bad(p, "unknown conversation status '%.60s'", s);
	if (!conv && convlog_msg_status_parse(s, slot(p, off)))
		return bad(p, "unknown message status '%.60s' (completed, pending, error)", s);
	return 0;
}

static int do_tags(pctx *p, const json_t *v)
{
	jsonl_conv_in *in = p->rec;
	size_t i, n = json_array_size(v);
	const json_t *t;

	if (!json_is_array(v))
		return want(p, v, "an array of strings");
	free(in->tags);
	in->tags = calloc(n ? n : 1, sizeof(*in->tags));
	if (!in->tags)
		return bad(p, "%s", "out of memory");
	json_array_foreach(v, i, t) {
		if (get_text(p, t, &in->tags[i]))
			return -1;
	}
	in->c.tags = in->tags;
	in->c.n_tags = n;
	return 0;
}

static int do_cursors(pctx *p, const json_t *v)
{
	jsonl_conv_in *in = p->rec;
	const char *name;
	const json_t *val;
	size_t i = 0, n = json_object_size(v);

	if (!json_is_object(v))
		return want(p, v, "an object of integers");
	free(in->cursors);
	in->cursors = calloc(n ? n : 1, sizeof(*in->cursors));
	if (!in->cursors)
		return bad(p, "%s", "out of memory");
	json_object_foreach((json_t *)v, name, val) {
		if (!json_is_integer(val))
			return bad(p, "cursor '%.60s' is not an integer", name);
		in->cursors[i].name = name;
		in->cursors[i].value = json_integer_value(val);
		i++;
	}
	in->c.cursors = in->cursors;
	in->c.n_cursors = n;
	return 0;
}

static int do_json(pctx *p, const json_t *v, const field *f)
{
	char **owned = slot(p, f->off2);

	if (f->kind == K_OBJECT && !json_is_object(v))
		return want(p, v, "a JSON object");
	free(*owned);
	*owned = jsonl_dump_value(v);
	if (!*owned)
		return bad(p, "%s", "cannot serialise the value");
	*(const char **)slot(p, f->off) = *owned;
	return 0;
}

static int do_content(pctx *p, const json_t *v)
{
	jsonl_msg_in *in = p->rec;

	if (!json_is_string(v))
		return want(p, v, "a string");
	in->m.content = json_string_value(v);
	in->m.content_len = json_string_length(v);
	return 0;
}

static int do_number(pctx *p, const json_t *v, const field *f)
{
	long long x;

	switch (f->kind) {
	case K_SEQ:
	case K_SEQ1:
		if (get_int(p, v, f->kind == K_SEQ1, CONVLOG_MAX_SEQ, &x))
			return -1;
		*(uint32_t *)slot(p, f->off) = (uint32_t)x;
		return 0;
	case K_U32:
		if (get_int(p, v, 0, UINT32_MAX, &x))
			return -1;
		*(uint32_t *)slot(p, f->off) = (uint32_t)x;
		return 0;
	case K_USAGE:
		if (get_int(p, v, -1, INT64_MAX, &x))
			return -1;
		*(int64_t *)slot(p, f->off) = x;
		return 0;
	case K_RATING:
	case K_FEEDBACK:
		if (get_int(p, v, f->kind == K_RATING ? 0 : -1, f->kind == K_RATING ? 5 : 1, &x))
			return -1;
		*(int *)slot(p, f->off) = (int)x;
		return 0;
	default: /* K_DERIVED */
		return get_int(p, v, INT64_MIN, INT64_MAX, &x);
	}
}

static int one_field(pctx *p, const field *f, const json_t *v)
{
	const char *s;

	switch (f->kind) {
	case K_TYPE:
		if (get_text(p, v, &s))
			return -1;
		return strcmp(s, p->type) ? bad(p, "expected \"%s\"", p->type) : 0;
	case K_STR:
		return get_text(p, v, (const char **)slot(p, f->off));
	case K_TIME: return do_time(p, v, f->off);
	case K_UUID: return do_uuid(p, v, f->off);
	case K_CSTATUS: return do_status(p, v, f->off, 1);
	case K_MSTATUS: return do_status(p, v, f->off, 0);
	case K_TAGS: return do_tags(p, v);
	case K_CURSORS: return do_cursors(p, v);
	case K_OBJECT:
	case K_ANY: return do_json(p, v, f);
	case K_CONTENT: return do_content(p, v);
	default: return do_number(p, v, f);
	}
}

static size_t field_index(const field *tab, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n && strcmp(tab[i].key, key) != 0; i++)
		;
	return i;
}

/* Walks every key of obj against the field table; *seen gets a bit per
 * table entry present. */
static int walk(const json_t *obj, const field *tab, size_t n, pctx *p, uint64_t *seen)
{
	const char *key;
	const json_t *v;

	*seen = 0;
	if (!json_is_object(obj)) {
		snprintf(p->err, p->errlen, "expected a JSON object, got %s", jsonl_type_name(obj));
		return -1;
	}
	json_object_foreach((json_t *)obj, key, v) {
		size_t i = field_index(tab, n, key);
		if (i == n) {
			snprintf(p->err, p->errlen, "unknown field '%.60s' in a %s line", key, p->type);
			return -1;
		}
		p->key = key;
		if (one_field(p, &tab[i], v))
			return -1;
		*seen |= 1ull << i;
	}
	for (size_t i = 0; i < n; i++) {
		if (tab[i].required && !(*seen & (1ull << i))) {
			snprintf(p->err, p->errlen, "required field '%s' is missing", tab[i].key);
			return -1;
		}
	}
	return 0;
}

int jsonl_conv_parse(const json_t *obj, jsonl_conv_in *out, char *err, size_t errlen)
{
	pctx p = {out, "conversation", NULL, err, errlen};
	uint64_t seen;

	memset(out, 0, sizeof(*out));
	convlog_conv_init(&out->c);
	out->c.status = CONVLOG_STATUS_ACTIVE;
	if (walk(obj, conv_fields, NFIELDS(conv_fields), &p, &seen))
		return -1;
	if (out->c.status != CONVLOG_STATUS_DELETED && (out->c.prev_status || out->c.deleted_at)) {
		snprintf(err, errlen, "prev_status and deleted_at are only valid with status \"deleted\"");
		return -1;
	}
	return 0;
}

void jsonl_conv_clear(jsonl_conv_in *in)
{
	free(in->tags);
	free(in->cursors);
	free(in->metadata);
	memset(in, 0, sizeof(*in));
}

int jsonl_msg_parse(const json_t *obj, jsonl_msg_in *out, char *err, size_t errlen)
{
	pctx p = {out, "message", NULL, err, errlen};
	uint64_t seen;

	memset(out, 0, sizeof(*out));
	convlog_msg_init(&out->m);
	out->m.status = CONVLOG_MSG_COMPLETED;
	out->m.parent_seq = 0;
	if (walk(obj, msg_fields, NFIELDS(msg_fields), &p, &seen))
		return -1;
	out->has_parent_seq = (seen & (1ull << field_index(msg_fields, NFIELDS(msg_fields),
							   "parent_seq"))) != 0;
	if (!out->has_parent_seq)
		out->m.parent_seq = out->m.seq - 1;
	if (out->m.parent_seq >= out->m.seq) {
		snprintf(err, errlen, "field 'parent_seq': %u does not name an earlier message",
			 out->m.parent_seq);
		return -1;
	}
	return 0;
}

void jsonl_msg_clear(jsonl_msg_in *in)
{
	free(in->tool_calls);
	free(in->metadata);
	memset(in, 0, sizeof(*in));
}
