/*
 * foreign_int.h - what the export converters share (private to
 * tools/foreign*.c; the interface is foreign.h).
 *
 * foreign.c holds the shared parts: errors, source field getters,
 * metadata, times, ids, the content buffer, the output records and the
 * message tree.  foreign_chatgpt.c, foreign_claude.c and foreign_openai.c
 * each convert one format, called by foreign_convert().
 */
#ifndef CONVLOG_TOOL_FOREIGN_INT_H
#define CONVLOG_TOOL_FOREIGN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "convlog.h"
#include "foreign.h"
#include "util.h"

#define NONE ((size_t)-1)
#define CONTENT_MAX CONVLOG_DEFAULT_MAX_CONTENT
/* 9999-12-31T23:59:59.999Z: the last time with four year digits. */
#define MAX_MS 253402300799999LL
#define NO_TIME 1

/* One conversion, from foreign_convert() down. */
typedef struct cvt {
	foreign_format fmt;
	const char *name;      /* foreign_name(fmt): the prefix of derived ids */
	const char *src_id;    /* the source conversation id */
	char conv_text[CONVLOG_UUID_STRLEN];
	json_t *ids;           /* message id -> where it was used */
	int64_t last_msg;      /* latest message created_at */
	char where[128];       /* the node being converted, for errors */
	char *err;
	size_t errlen;
} cvt;

/* --- Errors: every function taking a cvt returns 0, or -1 with err set. */

int fail(cvt *cx, const char *fmt, ...) TOOL_PRINTF(2, 3);
void set_where(cvt *cx, const char *fmt, ...) TOOL_PRINTF(2, 3);
void clear_where(cvt *cx);

/* --- Source fields and metadata. */

int opt_field(cvt *cx, const json_t *o, const char *key, json_type t, const json_t **out);
int opt_text(cvt *cx, const json_t *o, const char *key, const char **out);
bool has_rest(const json_t *src, const char *const *skip);
int put_kept(json_t *dst, const char *k, json_t *v);
int copy_rest(cvt *cx, json_t *dst, const json_t *src, const char *const *skip);
int keep_rest(cvt *cx, json_t *dst, const char *key, const json_t *src,
	      const char *const *skip);
int put_str(json_t *o, const char *k, const char *v);

/* --- Times: ms since the epoch, 0 when the field is absent or null. */

int secs_to_ms(cvt *cx, const json_t *o, const char *key, int64_t *ms);
int iso_to_ms(cvt *cx, const json_t *o, const char *key, int64_t *ms);

/* --- Ids. */

int hash_parts(const char *const *s, const size_t *n, int k, unsigned char out[16]);
void uuid_v8(const unsigned char h[16], convlog_uuid *id);
int source_uuid(cvt *cx, const char *kind, const char *scope, const char *sid,
		convlog_uuid *out);
int conv_ids(cvt *cx, const char *sid, char **external_id);

/* --- Content buffer: message content being joined, capped at CONTENT_MAX
 * bytes. */

typedef struct sbuf {
	char *p;
	size_t len, cap;
	size_t want;   /* bytes appended, kept or not: the size reported */
	size_t parts;  /* pieces joined */
	bool oom;
} sbuf;

void sb_add(sbuf *b, const char *s, size_t n);
void sb_join(sbuf *b, const json_t *str);
bool sb_equals(const sbuf *b, const json_t *str);
void sb_free(sbuf *b);
json_t *sb_take(cvt *cx, sbuf *b);

/* --- Output records, written as JSON objects by emit_msg()/emit_conv(). */

typedef struct mrec {
	convlog_uuid id;
	uint32_t seq, pseq;
	const char *role, *name, *model, *tool_call_id, *status, *error_message;
	json_t *content;      /* string */
	json_t *tool_calls;   /* NULL when none */
	json_t *meta;         /* object */
	int64_t created;
} mrec;

typedef struct crec {
	char *external_id;
	const char *user_id, *title, *topic, *system_prompt, *status;
	uint32_t tip;
	json_t *meta;
	int64_t created, updated, archived;
} crec;

void mrec_clear(mrec *m);
void crec_clear(crec *c);
json_t *new_meta(cvt *cx);
int emit_msg(cvt *cx, json_t *arr, const mrec *m);
int emit_conv(cvt *cx, const crec *c, json_t *arr);

/* --- Message trees (ChatGPT mapping, Claude.ai parent_message_uuid). */

typedef struct tnode {
	const char *id;          /* mapping key or message uuid */
	const char *parent_id;   /* NULL: a root */
	const json_t *children;  /* ChatGPT's "children", NULL for Claude */
	const json_t *src;       /* the mapping node / the message */
	const json_t *msg;       /* the message, NULL when the node is none */
	int64_t time;            /* source time (0: none): orders unlisted kids */
	int64_t created;         /* the message's created_at, once converted */
	size_t parent;
	size_t kid0, nkids;      /* its children: tree.kids[kid0 .. kid0+nkids) */
	uint32_t seq, pseq;      /* own seq (0: not a message) and parent_seq */
	uint32_t eff;            /* own seq, or the nearest message ancestor's */
	bool listed;             /* in its parent's "children" */
	bool seen;               /* reached from a root */
} tnode;

typedef struct tree {
	tnode *n;
	size_t len;
	size_t *kids;
	size_t *roots, nroots;
	size_t *order;           /* order[seq - 1]: the node of message seq */
	uint32_t nmsg;
	json_t *index;           /* id -> node number */
	const char *what;        /* "mapping node", "chat message" */
	const char *in;          /* "the mapping", "the conversation" */
	bool by_time;            /* unlisted children by time, else in order */
} tree;

/* Converts one message of the tree into m (m->seq, pseq, meta are set). */
typedef int (*msg_fn)(cvt *cx, const tnode *nd, int64_t fallback, mrec *m);

int tree_alloc(cvt *cx, tree *t, size_t len);
void tree_free(tree *t);
size_t tree_find(const tree *t, const char *id);
int tree_build(cvt *cx, tree *t);
uint32_t tree_last_leaf(const tree *t);
/* The seq of the node that field `key` of src names (its nearest message),
 * or `dflt` when the field is absent; fails when it names no node. */
int tree_tip(cvt *cx, const json_t *src, const tree *t, const char *key, uint32_t dflt,
	     uint32_t *tip);
int64_t tree_first_time(const tree *t);
int tree_messages(cvt *cx, tree *t, int64_t conv_created, msg_fn fn, json_t *arr);

/* --- The formats: each appends the conversation's objects to arr. */

int gpt_conv(cvt *cx, const json_t *src, json_t *arr);
int claude_conv(cvt *cx, const json_t *src, json_t *arr);
int oai_conv(cvt *cx, const json_t *src, const char *raw, size_t len, int64_t now_ms,
	     json_t *arr);

#endif
