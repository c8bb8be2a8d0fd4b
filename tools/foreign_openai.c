/*
 * foreign_openai.c - OpenAI chat-completions JSONL (one {"messages": [...]}
 * per line) to convlog JSONL objects (see foreign_int.h; the mapping is
 * documented in convlog(1), IMPORT FORMATS).
 *
 * The messages form a chain in array order.  The first system message
 * also gives system_prompt and "model" the assistant messages' model.  A
 * line has no ids: they are derived from its bytes.  Times come from
 * "created", else from the import's clock, one ms apart.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foreign_int.h"
#include "jsonl.h"

/*
 * The line has no id: its bytes without surrounding white space (so a
 * missing final newline or CRLF does not matter) give the conversation
 * id, "openai:line:<bytes>", and external_id "openai:<32 hex digits of
 * that hash>".
 */
static int oai_ids(cvt *cx, const json_t *src, const char *raw, size_t len, crec *c)
{
	static const char ws[] = " \t\r\n";
	const char *s[3] = {"openai", "line"};
	size_t n[3] = {6, 4};
	unsigned char h[16];
	char *dump = NULL;
	convlog_uuid id;
	int rc;

	if (!raw) {
		raw = dump = json_dumps(src, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		len = dump ? strlen(dump) : 0;
	}
	while (len && memchr(ws, raw[len - 1], 4))
		len--;
	while (len && memchr(ws, raw[0], 4))
		raw++, len--;
	s[2] = raw;
	n[2] = len;
	rc = !raw || hash_parts(s, n, 3, h);
	free(dump);
	c->external_id = malloc(sizeof("openai:") + 32);
	if (rc || !c->external_id)
		return fail(cx, "out of memory");
	memcpy(c->external_id, "openai:", 7);
	for (int i = 0; i < 16; i++)
		snprintf(c->external_id + 7 + 2 * i, 3, "%02x", h[i]);
	uuid_v8(h, &id);
	convlog_uuid_format(&id, cx->conv_text);
	cx->src_id = cx->conv_text;
	return 0;
}

/* "created" (epoch seconds) or now_ms. */
static int oai_time(cvt *cx, const json_t *src, int64_t now_ms, int64_t *t0)
{
	const json_t *v = json_object_get(src, "created");
	json_int_t s;

	*t0 = now_ms > 0 && now_ms <= MAX_MS ? now_ms : NO_TIME;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return fail(cx, "created is %s, expected an integer (epoch seconds)",
			    jsonl_type_name(v));
	s = json_integer_value(v);
	if (s < 0 || s > MAX_MS / 1000 - 1)
		return fail(cx, "created %lld is out of range (epoch seconds, 1970..9999)",
			    (long long)s);
	if (s)
		*t0 = (int64_t)s * 1000;
	return 0;
}

/* A string, null, or an array of parts whose text parts are joined; an
 * array with other parts is kept in metadata "content". */
static int oai_content(cvt *cx, const json_t *msg, mrec *m)
{
	static const char *const text_keys[] = {"type", "text", NULL};
	const json_t *c = json_object_get(msg, "content"), *p, *text;
	sbuf b = {0};
	bool plain = true;
	size_t i;

	if (json_is_string(c)) {
		sb_join(&b, c);
	} else if (json_is_array(c)) {
		json_array_foreach(c, i, p) {
			const char *type = json_string_value(json_object_get(p, "type"));
			text = json_object_get(p, "text");
			if (type && !strcmp(type, "text") && json_is_string(text)) {
				sb_join(&b, text);
				plain = plain && !has_rest(p, text_keys);
			} else {
				plain = false;
			}
		}
		if (!plain && put_kept(m->meta, "content", (json_t *)c))
			return fail(cx, "out of memory");
	} else if (c && !json_is_null(c)) {
		return fail(cx, "content is %s, expected a string, an array or null",
			    jsonl_type_name(c));
	}
	m->content = sb_take(cx, &b);
	return m->content ? 0 : -1;
}

static const char *const oai_msg_mapped[] = {
	"role", "content", "name", "tool_calls", "tool_call_id", NULL,
};

static int oai_message(cvt *cx, const json_t *v, const char *model, mrec *m)
{
	const json_t *calls = json_object_get(v, "tool_calls");
	char seq[16];

	if (!json_is_object(v))
		return fail(cx, "expected an object, got %s", jsonl_type_name(v));
	snprintf(seq, sizeof(seq), "%u", m->seq);
	if (source_uuid(cx, "msg", cx->conv_text, seq, &m->id) < 0 ||
	    opt_text(cx, v, "role", &m->role) || opt_text(cx, v, "name", &m->name) ||
	    opt_text(cx, v, "tool_call_id", &m->tool_call_id))
		return -1;
	if (!m->role || !*m->role)
		return fail(cx, "role is %s", m->role ? "empty" : "missing");
	if (calls && !json_is_null(calls))
		m->tool_calls = json_incref((json_t *)calls);
	if (!strcmp(m->role, "assistant"))
		m->model = model;
	return oai_content(cx, v, m) || copy_rest(cx, m->meta, v, oai_msg_mapped);
}

/* The first system message's content, when it fits in system_prompt. */
static void oai_system(const mrec *m, json_t **prompt)
{
	size_t n = json_string_length(m->content);

	if (*prompt || strcmp(m->role, "system") || n > CONVLOG_MAX_SYSTEM_PROMPT ||
	    strlen(json_string_value(m->content)) != n)
		return;
	*prompt = json_incref(m->content);
}

static int oai_messages(cvt *cx, const json_t *src, int64_t t0, json_t *arr, json_t **prompt)
{
	const json_t *msgs;
	const char *model;
	size_t i;

	if (opt_field(cx, src, "messages", JSON_ARRAY, &msgs) || opt_text(cx, src, "model", &model))
		return -1;
	if (!msgs || !json_array_size(msgs))
		return fail(cx, "messages is %s", msgs ? "empty" : "missing");
	for (i = 0; i < json_array_size(msgs); i++) {
		mrec m = {.seq = (uint32_t)i + 1, .pseq = (uint32_t)i, .created = t0 + (int64_t)i};
		int rc;

		set_where(cx, "messages[%zu]", i);
		m.meta = new_meta(cx);
		rc = !m.meta || oai_message(cx, json_array_get(msgs, i), model, &m) ||
		     emit_msg(cx, arr, &m);
		if (!rc)
			oai_system(&m, prompt);
		mrec_clear(&m);
		if (rc)
			return -1;
	}
	clear_where(cx);
	return 0;
}

int oai_conv(cvt *cx, const json_t *src, const char *raw, size_t len, int64_t now_ms,
		    json_t *arr)
{
	static const char *const skip[] = {"messages", NULL};
	json_t *prompt = NULL;
	crec c = {0};
	int64_t t0;
	int rc = -1;

	if (oai_ids(cx, src, raw, len, &c) || oai_time(cx, src, now_ms, &t0) ||
	    oai_messages(cx, src, t0, arr, &prompt))
		goto out;
	c.created = t0;
	c.updated = cx->last_msg;
	c.tip = (uint32_t)(json_array_size(arr));
	c.system_prompt = json_string_value(prompt);
	c.meta = new_meta(cx);
	if (!c.meta || copy_rest(cx, c.meta, src, skip))
		goto out;
	rc = emit_conv(cx, &c, arr);
out:
	json_decref(prompt);
	crec_clear(&c);
	return rc;
}
