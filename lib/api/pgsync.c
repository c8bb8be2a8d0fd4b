/*
 * Sync with a PostgreSQL server of record (sql/convlog-pg.sql; format-spec.md
 * §15; README "Sync").
 *
 * The server is a peer with its own replica id (convlog_server_id()).  A
 * push exports this store's feed after the server's ack cursor, decodes the
 * changeset and replays it through the push functions in one server
 * transaction; a pull reads the server's changes after the recv cursor in
 * one REPEATABLE READ snapshot, rebuilds them into a changeset whose source
 * is the server, and applies it like any other.  JSON travels as the text
 * convlog holds (the server keeps it beside its jsonb), content with a NUL
 * byte as bytea, so that values come back byte for byte.
 *
 * libpq stays inside this file: its errors become CONVLOG_EIO with the
 * server's message (CONVLOG_EINVAL when the schema is missing).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "api/sync_int.h"
#include "engine/db.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/uuid.h"

/* ---- libpq ---- */

#define PFX "PostgreSQL sync: " /* starts every message of this file */

typedef struct pgsess {
	PGconn *c;
	uint64_t server; /* peer id: the server's id with the role's name, hashed */
} pgsess;

/* SQLSTATEs of a missing schema: undefined function, table, schema. */
static int schema_missing(const char *state)
{
	return state && (!strcmp(state, "42883") || !strcmp(state, "42P01") ||
			 !strcmp(state, "3F000"));
}

/* Reports a failed statement (r) or connection (r NULL) as `what`. */
static int pg_err(pgsess *s, const PGresult *r, const char *what)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char buf[CVL_ERRMSG_MAX];
	size_t n;

	if (!msg || !*msg)
		msg = PQerrorMessage(s->c);
	/* one line: libpq's "...\n\tIs the server running...?\n" */
	n = 0;
	for (const char *p = msg && *msg ? msg : "no message"; *p && n + 1 < sizeof(buf); p++) {
		int sp = *p == '\n' || *p == '\t' || *p == ' ';
		if (!sp || (n && buf[n - 1] != ' '))
			buf[n++] = (char)(sp ? ' ' : *p);
	}
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = 0;
	if (schema_missing(state))
		return cvl_err(CONVLOG_EINVAL,
			       PFX "%s: %s (load sql/convlog-pg.sql into the database)", what, buf);
	if (state)
		return cvl_err(CONVLOG_EIO, PFX "%s: %s (SQLSTATE %s)", what, buf, state);
	return cvl_err(CONVLOG_EIO, PFX "%s: %s", what, buf);
}

/* Runs `sql` with text parameters (binary where fmt says so); *out holds
 * the result when it has rows (NULL otherwise). */
static int pg_run(pgsess *s, const char *stmt, const char *sql, int n, const char *const *v,
		  const int *len, const int *fmt, PGresult **out, const char *what)
{
	PGresult *r;
	ExecStatusType st;

	if (out)
		*out = NULL;
	if (stmt)
		r = PQexecPrepared(s->c, stmt, n, v, len, fmt, 0);
	else if (n)
		r = PQexecParams(s->c, sql, n, NULL, v, len, fmt, 0);
	else
		r = PQexec(s->c, sql);
	if (!r)
		return cvl_err(CONVLOG_ENOMEM, PFX "%s: out of memory", what);
	st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		int rc = pg_err(s, r, what);
		PQclear(r);
		return rc;
	}
	if (out && st == PGRES_TUPLES_OK)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static int pg_cmd(pgsess *s, const char *sql)
{
	return pg_run(s, NULL, sql, 0, NULL, NULL, NULL, NULL, sql);
}

/* The one value of a one-row, one-column result; NULL when SQL NULL. */
static const char *one_value(const PGresult *r)
{
	if (PQntuples(r) != 1 || PQnfields(r) != 1 || PQgetisnull(r, 0, 0))
		return NULL;
	return PQgetvalue(r, 0, 0);
}

static int parse_u64(const char *t, uint64_t *out)
{
	char *end;

	if (!t || *t < '0' || *t > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(t, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_i64(const char *t, int64_t *out)
{
	char *end;

	if (!t || !*t)
		return -1;
	errno = 0;
	long long v = strtoll(t, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static void pg_close(pgsess *s)
{
	PQfinish(s->c); /* accepts NULL */
	s->c = NULL;
}

/* Connects and reads the server's replica id. */
static int pg_open(const char *url, pgsess *s)
{
	PGresult *r;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!url)
		return cvl_err(CONVLOG_EINVAL, PFX "NULL url");
	s->c = PQconnectdb(url);
	if (!s->c)
		return cvl_err(CONVLOG_ENOMEM, PFX "out of memory connecting");
	if (PQstatus(s->c) != CONNECTION_OK) {
		rc = pg_err(s, NULL, "cannot connect");
		goto fail;
	}
	if (PQsetClientEncoding(s->c, "UTF8")) {
		rc = pg_err(s, NULL, "setting the client encoding to UTF8");
		goto fail;
	}
	/* the peer is the server as seen by this role: what a role pulls
	 * depends on what its row-level security lets it see, so each role
	 * keeps its own cursors */
	if ((rc = pg_run(s, NULL, "SELECT convlog_server_id() || '/' || current_user", 0, NULL, NULL,
			 NULL, &r, "reading the server id")))
		goto fail;
	const char *sid = one_value(r);
	uint64_t server = 0;
	const char *slash = sid ? strchr(sid, '/') : NULL;
	if (slash) {
		char num[32];
		size_t nl = (size_t)(slash - sid);
		if (nl < sizeof(num)) {
			memcpy(num, sid, nl);
			num[nl] = 0;
			if (parse_u64(num, &server))
				server = 0;
		}
	}
	if (server)
		s->server = XXH3_64bits(sid, strlen(sid)) | 1;
	PQclear(r);
	if (!server) {
		rc = cvl_err(CONVLOG_EINVAL,
			     PFX "the server has no replica id (load sql/convlog-pg.sql again)");
		goto fail;
	}
	return 0;
fail:
	pg_close(s);
	return rc;
}

/* ---- parameters ---- */

#define MAXP 32
#define SLOT 48

/* One statement's parameters: text unless fmt[i] is 1; numbers and ids are
 * formatted into their own slot. */
typedef struct params {
	const char *v[MAXP];
	int len[MAXP], fmt[MAXP];
	char slot[MAXP][SLOT];
	int n;
} params;

static void p_str(params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

/* Binary: text and bytea take their bytes as they are (s NULL: SQL NULL). */
static void p_bin(params *p, const char *s, size_t n)
{
	p->v[p->n] = s ? (n ? s : "") : NULL;
	p->len[p->n] = (int)n;
	p->fmt[p->n] = 1;
	p->n++;
}

static void p_u64(params *p, uint64_t v)
{
	snprintf(p->slot[p->n], SLOT, "%" PRIu64, v);
	p_str(p, p->slot[p->n]);
}

static void p_i64(params *p, int64_t v)
{
	snprintf(p->slot[p->n], SLOT, "%" PRId64, v);
	p_str(p, p->slot[p->n]);
}

/* 0 (unset) goes as NULL. */
static void p_i64z(params *p, int64_t v)
{
	if (v)
		p_i64(p, v);
	else
		p_str(p, NULL);
}

/* The nil id goes as NULL. */
static void p_uuid(params *p, const convlog_uuid *id)
{
	if (!id || convlog_uuid_is_nil(id)) {
		p_str(p, NULL);
		return;
	}
	convlog_uuid_format(id, p->slot[p->n]);
	p_str(p, p->slot[p->n]);
}

/* Appends the NUL-terminated `s` in double quotes, escaped for a JSON
 * string (`json`) or an array literal element (only '"' and '\\'). */
static int put_quoted(cvl_buf *b, const char *s, int json)
{
	int rc = cvl_buf_put_u8(b, '"');

	for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
		if (*p == '"' || *p == '\\') {
			if (!(rc = cvl_buf_put_u8(b, '\\')))
				rc = cvl_buf_put_u8(b, *p);
		} else if (json && *p < 0x20) {
			char e[8];
			snprintf(e, sizeof(e), "\\u%04x", *p);
			rc = cvl_buf_append(b, e, 6);
		} else {
			rc = cvl_buf_put_u8(b, *p);
		}
	}
	return rc ? rc : cvl_buf_put_u8(b, '"');
}

/* '{h0,...,h17}' of the hlc (which 0) or origin (which 1) of each unit. */
static int put_units(cvl_buf *b, const cvl_stamp *u, int which)
{
	char num[24];
	int rc = 0;

	b->len = 0;
	for (int i = 0; i < CVL_SYNC_UNITS && !rc; i++) {
		int n = snprintf(num, sizeof(num), "%c%" PRIu64, i ? ',' : '{',
				 which ? u[i].origin : u[i].hlc);
		rc = cvl_buf_append(b, num, (size_t)n);
	}
	return rc ? rc : cvl_buf_append(b, "}", 2);
}

/* ---- push ---- */

#define CONV_SQL                                                                                   \
	"SELECT convlog_push_conv($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "   \
	"$15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)"
#define MSG_SQL                                                                                    \
	"SELECT convlog_push_msg($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "    \
	"$15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
#define PURGE_SQL "SELECT convlog_push_purge($1, $2, $3, $4)"

/* The conversation's text fields, in the order of the push and pull
 * columns (units 0..9). */
static const size_t conv_strs[] = {
	offsetof(convlog_conv, external_id),    offsetof(convlog_conv, org_id),
	offsetof(convlog_conv, user_id),        offsetof(convlog_conv, device_id),
	offsetof(convlog_conv, session_id),     offsetof(convlog_conv, initiator_role),
	offsetof(convlog_conv, responder_role), offsetof(convlog_conv, title),
	offsetof(convlog_conv, topic),          offsetof(convlog_conv, system_prompt),
};
#define N_CONV_STRS (sizeof(conv_strs) / sizeof(conv_strs[0]))

typedef struct pusher {
	pgsess *s;
	cvl_buf uh, uo, tags, cursors;
	char what[96];
} pusher;

static const char *conv_str(const convlog_conv *c, size_t k)
{
	return *(const char *const *)((const char *)c + conv_strs[k]);
}

static int push_conv(pusher *x, const rconv *r)
{
	const convlog_conv *c = r->c;
	char ids[CONVLOG_UUID_STRLEN];
	params p;
	int rc;

	p.n = 0;
	snprintf(x->what, sizeof(x->what), "pushing conversation %s", cvl_uuid_str(&c->id, ids));
	if ((rc = put_units(&x->uh, r->unit, 0)) || (rc = put_units(&x->uo, r->unit, 1)))
		return rc;
	x->tags.len = 0;
	rc = cvl_buf_put_u8(&x->tags, '{');
	for (size_t i = 0; i < c->n_tags && !rc; i++)
		if (!(rc = i ? cvl_buf_put_u8(&x->tags, ',') : 0))
			rc = put_quoted(&x->tags, c->tags[i], 0);
	if (rc || (rc = cvl_buf_append(&x->tags, "}", 2)))
		return rc;
	x->cursors.len = 0;
	rc = cvl_buf_put_u8(&x->cursors, '{');
	for (size_t i = 0; i < c->n_cursors && !rc; i++) {
		char num[32];
		int n = snprintf(num, sizeof(num), ":%" PRId64, c->cursors[i].value);
		if ((i && (rc = cvl_buf_put_u8(&x->cursors, ','))) ||
		    (rc = put_quoted(&x->cursors, c->cursors[i].name, 1)))
			break;
		rc = cvl_buf_append(&x->cursors, num, (size_t)n);
	}
	if (rc || (rc = cvl_buf_append(&x->cursors, "}", 2)))
		return rc;

	p_uuid(&p, &c->id);
	p_u64(&p, r->born.hlc);
	p_u64(&p, r->born.origin);
	p_str(&p, (const char *)x->uh.p);
	p_str(&p, (const char *)x->uo.p);
	for (size_t k = 0; k < N_CONV_STRS; k++)
		p_str(&p, conv_str(c, k));
	p_str(&p, (const char *)x->tags.p);
	p_i64(&p, c->rating);
	p_uuid(&p, &c->parent_id);
	p_uuid(&p, &r->fork);
	p_i64(&p, c->depth);
	p_uuid(&p, &r->tip);
	p_str(&p, c->n_cursors ? (const char *)x->cursors.p : NULL);
	p_str(&p, NULL); /* metadata: as text, last */
	p_i64(&p, c->created_at);
	p_i64(&p, c->status);
	p_i64z(&p, c->prev_status);
	p_i64z(&p, c->archived_at);
	p_i64z(&p, c->deleted_at);
	p_i64z(&p, c->updated_at);
	p_i64z(&p, c->last_activity_at);
	p_str(&p, c->metadata);
	return pg_run(x->s, "cvl_push_conv", NULL, p.n, p.v, p.len, p.fmt, NULL, x->what);
}

static int push_msg(pusher *x, const rmsg *rm)
{
	const convlog_msg *m = rm->m;
	char ids[CONVLOG_UUID_STRLEN];
	char *bare = NULL;
	size_t blen = m->content_len;
	params p;
	int rc;

	snprintf(x->what, sizeof(x->what), "pushing message %s", cvl_uuid_str(&m->id, ids));
	/* text cannot hold NUL: the content without them, and whole as bytea */
	int nul = m->content && m->content_len && memchr(m->content, 0, m->content_len);
	if (nul) {
		if (!(bare = cvl_malloc(m->content_len)))
			return cvl_err(CONVLOG_ENOMEM, PFX "%s: out of memory", x->what);
		blen = 0;
		for (size_t i = 0; i < m->content_len; i++)
			if (m->content[i])
				bare[blen++] = m->content[i];
	}
	p.n = 0;
	p_uuid(&p, &m->id);
	p_uuid(&p, &m->conv_id);
	p_u64(&p, rm->born.hlc);
	p_u64(&p, rm->born.origin);
	p_u64(&p, rm->ver.hlc);
	p_u64(&p, rm->ver.origin);
	p_uuid(&p, &rm->parent);
	p_str(&p, m->role);
	p_str(&p, m->name);
	p_bin(&p, nul ? bare : m->content, blen);
	p_str(&p, NULL); /* tool_calls: as text, below */
	p_str(&p, m->tool_call_id);
	p_i64(&p, m->token_count);
	p_i64(&p, m->cost);
	p_i64(&p, m->latency_ms);
	p_str(&p, m->model);
	p_i64(&p, m->status);
	p_str(&p, m->error_message);
	p_i64(&p, m->feedback);
	p_str(&p, m->feedback_text);
	p_str(&p, NULL); /* metadata: as text, below */
	p_i64(&p, m->created_at);
	p_i64z(&p, m->edited_at);
	p_str(&p, m->tool_calls);
	p_str(&p, m->metadata);
	p_bin(&p, nul ? m->content : NULL, m->content_len);
	rc = pg_run(x->s, "cvl_push_msg", NULL, p.n, p.v, p.len, p.fmt, NULL, x->what);
	cvl_free(bare);
	return rc;
}

/* Tombstones name no owner: a purge of a conversation the server never
 * had is recorded for the role's (first) user. */
static int push_tombs(pusher *x, const rset *cs)
{
	PGresult *r = NULL;
	const char *user;
	int rc;

	if (!cs->ntombs)
		return 0;
	rc = pg_run(x->s, NULL,
		    "SELECT min(user_id) FROM convlog_role_users WHERE role_name = current_user", 0,
		    NULL, NULL, NULL, &r, "reading the role's user");
	if (rc)
		return rc;
	user = one_value(r);
	for (size_t i = 0; i < cs->ntombs && !rc; i++) {
		char ids[CONVLOG_UUID_STRLEN];
		params p;
		p.n = 0;
		p_uuid(&p, &cs->tombs[i].id);
		p_u64(&p, cs->tombs[i].st.hlc);
		p_u64(&p, cs->tombs[i].st.origin);
		p_str(&p, user);
		snprintf(x->what, sizeof(x->what), "pushing the purge of %s",
			 cvl_uuid_str(&cs->tombs[i].id, ids));
		rc = pg_run(x->s, "cvl_push_purge", NULL, p.n, p.v, p.len, p.fmt, NULL, x->what);
	}
	PQclear(r);
	return rc;
}

static int prepare(pgsess *s, const char *name, const char *sql, int n)
{
	PGresult *r = PQprepare(s->c, name, sql, n, NULL);
	int rc = 0;

	if (!r)
		return cvl_err(CONVLOG_ENOMEM, PFX "preparing %s: %s", name,
			       PQerrorMessage(s->c));
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_err(s, r, "preparing the push statements");
	PQclear(r);
	return rc;
}

/* COMMIT, which a transaction that failed would answer with ROLLBACK. */
static int commit(pgsess *s)
{
	PGresult *r = PQexec(s->c, "COMMIT");
	int rc = 0;

	if (!r)
		return cvl_err(CONVLOG_ENOMEM, PFX "COMMIT: out of memory");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_err(s, r, "COMMIT");
	else if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
		rc = cvl_err(CONVLOG_EIO, PFX "the server rolled the push back (%s)",
			     PQcmdStatus(r));
	PQclear(r);
	return rc;
}

/* Sends changeset `cs` in one server transaction. */
static int push_all(pgsess *s, const rset *cs)
{
	pusher x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.s = s;
	cvl_buf_init(&x.uh, 0);
	cvl_buf_init(&x.uo, 0);
	cvl_buf_init(&x.tags, 0);
	cvl_buf_init(&x.cursors, 0);
	if ((rc = prepare(s, "cvl_push_conv", CONV_SQL, 31)) ||
	    (rc = prepare(s, "cvl_push_msg", MSG_SQL, 26)) ||
	    (rc = prepare(s, "cvl_push_purge", PURGE_SQL, 4)) ||
	    (rc = pg_cmd(s, "BEGIN ISOLATION LEVEL READ COMMITTED")))
		goto out;
	rc = push_tombs(&x, cs);
	for (size_t i = 0; i < cs->nconvs && !rc; i++) {
		rc = push_conv(&x, &cs->convs[i]);
		for (size_t j = 0; j < cs->convs[i].nmsgs && !rc; j++)
			rc = push_msg(&x, &cs->convs[i].msgs[j]);
	}
	if (!rc)
		rc = commit(s);
	else
		PQclear(PQexec(s->c, "ROLLBACK")); /* the error is already reported */
out:
	cvl_buf_free(&x.uh);
	cvl_buf_free(&x.uo);
	cvl_buf_free(&x.tags);
	cvl_buf_free(&x.cursors);
	return rc;
}

CONVLOG_API int convlog_sync_push_pg(convlog_db *db, const char *url, convlog_sync_result *res)
{
	convlog_sync_result dummy;
	pgsess s = {0};
	cvl_sync_peer peer;
	void *bytes = NULL;
	size_t len = 0;
	uint64_t upto = 0;
	rset cs;
	int have_cs = 0;
	int rc;

	cvl_err_clear();
	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if ((rc = cvl_db_check_write(db)))
		return rc;
	if (!url)
		return cvl_err(CONVLOG_EINVAL, "sync_push_pg: NULL url");
	if ((rc = pg_open(url, &s)) || (rc = cvl_sync_peer_get(db, s.server, &peer)) ||
	    (rc = convlog_sync_export(db, peer.ack, &bytes, &len, &upto)))
		goto out;
	have_cs = 1;
	if ((rc = cvl_cs_read(&cs, bytes, len, s.server)))
		goto out;
	if ((cs.ntombs || cs.nconvs) && (rc = push_all(&s, &cs)))
		goto out;
	if ((rc = cvl_sync_note_peer(db, s.server, 0, upto)))
		goto out;
	res->source = db->replica_id;
	res->since = peer.ack;
	res->upto = upto;
	res->snapshot = peer.ack == 0;
	res->conversations = (uint32_t)cs.nconvs;
	for (size_t i = 0; i < cs.nconvs; i++)
		res->messages_added += (uint32_t)cs.convs[i].nmsgs;
	res->purged = (uint32_t)cs.ntombs;
	res->cursor_moved = upto > peer.ack;
out:
	if (have_cs)
		cvl_cs_free(&cs);
	convlog_free(bytes);
	pg_close(&s);
	return rc;
}

/* ---- pull ---- */

enum {
	CV_ID, CV_BORN_HLC, CV_BORN_ORIGIN, CV_UNIT_HLC, CV_UNIT_ORIGIN, CV_STRS,
	CV_TAGS = CV_STRS + N_CONV_STRS, CV_RATING, CV_PARENT, CV_FORK, CV_DEPTH, CV_TIP,
	CV_CURSORS, CV_METADATA, CV_CREATED, CV_STATUS, CV_PREV_STATUS, CV_ARCHIVED,
	CV_DELETED, CV_UPDATED, CV_ACTIVITY, CV_NCOLS
};
/* parents before their forks: by depth, then as the server changed them */
#define CONVS_SQL "SELECT id, born_hlc, born_origin, unit_hlc, unit_origin, external_id, " \
	"org_id, user_id, device_id, session_id, initiator_role, responder_role, title, topic, " \
	"system_prompt, array_to_json(tags)::text, rating, parent_id, fork_msg, depth, tip_msg, " \
	"cursors::text, coalesce(metadata_text, metadata::text), created_at, status, " \
	"prev_status, archived_at, deleted_at, updated_at, last_activity_at " \
	"FROM convlog_pull_convs($1, $2) ORDER BY depth, change_id, id"

enum {
	MS_ID, MS_CONV, MS_BORN_HLC, MS_BORN_ORIGIN, MS_VER_HLC, MS_VER_ORIGIN, MS_PARENT,
	MS_ROLE, MS_NAME, MS_CONTENT, MS_TOOL_CALLS, MS_TOOL_CALL_ID, MS_TOKENS, MS_COST,
	MS_LATENCY, MS_MODEL, MS_STATUS, MS_ERROR, MS_FEEDBACK, MS_FEEDBACK_TEXT, MS_METADATA,
	MS_CREATED, MS_EDITED, MS_RAW, MS_NCOLS
};
/* grouped by conversation, each in seq order: (born, id) */
#define MSGS_SQL "SELECT id, conv_id, born_hlc, born_origin, ver_hlc, ver_origin, parent_id, " \
	"role, name, content, coalesce(tool_calls_text, tool_calls::text), tool_call_id, " \
	"token_count, cost, latency_ms, model, status, error_message, feedback, feedback_text, " \
	"coalesce(metadata_text, metadata::text), created_at, edited_at, content_raw " \
	"FROM convlog_pull_msgs($1, $2)"

#define PURGES_SQL "SELECT conv_id, purge_hlc, purge_origin FROM convlog_pull_purges($1, $2)"

/* What the server sent, in one snapshot. */
typedef struct pulled {
	PGresult *convs, *msgs, *purges;
} pulled;

/* A conversation's messages: rows [start, start + n) of the messages. */
typedef struct run {
	convlog_uuid conv;
	int start, n;
} run;

static int run_cmp(const void *a, const void *b)
{
	return cvl_uuid_cmp(&((const run *)a)->conv, &((const run *)b)->conv);
}

static int bad(const PGresult *r, int row, int col)
{
	const char *v = PQgetisnull(r, row, col) ? "NULL" : PQgetvalue(r, row, col);

	return cvl_err(CONVLOG_ECORRUPT, PFX "the server sent a malformed %s in row %d: '%.40s'",
		       PQfname(r, col), row + 1, v);
}

static const char *col_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int col_u64(const PGresult *r, int row, int col, uint64_t *out)
{
	return parse_u64(col_str(r, row, col), out) ? bad(r, row, col) : 0;
}

/* NULL reads as `dflt`. */
static int col_i64(const PGresult *r, int row, int col, int64_t dflt, int64_t *out)
{
	if (PQgetisnull(r, row, col)) {
		*out = dflt;
		return 0;
	}
	return parse_i64(PQgetvalue(r, row, col), out) ? bad(r, row, col) : 0;
}

static int col_int(const PGresult *r, int row, int col, int dflt, int *out)
{
	int64_t v;
	int rc = col_i64(r, row, col, dflt, &v);

	if (!rc && (v < -2147483647 || v > 2147483647))
		return bad(r, row, col);
	*out = (int)v;
	return rc;
}

/* NULL reads as the nil id. */
static int col_uuid(const PGresult *r, int row, int col, convlog_uuid *out)
{
	memset(out, 0, sizeof(*out));
	if (PQgetisnull(r, row, col))
		return 0;
	return convlog_uuid_parse(PQgetvalue(r, row, col), out) ? bad(r, row, col) : 0;
}

static int col_stamp(const PGresult *r, int row, int col, cvl_stamp *st)
{
	int rc = col_u64(r, row, col, &st->hlc);

	return rc ? rc : col_u64(r, row, col + 1, &st->origin);
}

/* An 18-stamp array '{h0,...,h17}' into the hlc (which 0) or origin. */
static int col_units(const PGresult *r, int row, int col, cvl_stamp *u, int which)
{
	const char *t = col_str(r, row, col);
	char *end;

	if (!t || *t++ != '{')
		return bad(r, row, col);
	for (int i = 0; i < CVL_SYNC_UNITS; i++) {
		if (*t < '0' || *t > '9')
			return bad(r, row, col);
		errno = 0;
		unsigned long long v = strtoull(t, &end, 10);
		if (errno || *end != (i + 1 < CVL_SYNC_UNITS ? ',' : '}'))
			return bad(r, row, col);
		if (which)
			u[i].origin = v;
		else
			u[i].hlc = v;
		t = end + 1;
	}
	return *t ? bad(r, row, col) : 0;
}

/* JSON text of a column (NULL: *out NULL). */
static int col_json(const PGresult *r, int row, int col, json_t **out)
{
	json_error_t je;

	*out = NULL;
	if (PQgetisnull(r, row, col))
		return 0;
	*out = json_loadb(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col), 0, &je);
	return *out ? 0 : bad(r, row, col);
}

/* A conversation row's tags and cursors, pointing into the JSON values
 * (which the caller keeps until the conversation is encoded). */
typedef struct conv_json {
	json_t *tags, *cursors;
	const char **tagv;
	convlog_cursor *curv;
} conv_json;

static void conv_json_free(conv_json *j)
{
	json_decref(j->tags);
	json_decref(j->cursors);
	cvl_free(j->tagv);
	cvl_free(j->curv);
	memset(j, 0, sizeof(*j));
}

static int conv_lists(const PGresult *r, int row, convlog_conv *c, conv_json *j)
{
	size_t i, n;
	int rc;

	if ((rc = col_json(r, row, CV_TAGS, &j->tags)) ||
	    (rc = col_json(r, row, CV_CURSORS, &j->cursors)))
		return rc;
	if (j->tags && !json_is_array(j->tags))
		return bad(r, row, CV_TAGS);
	if (j->cursors && !json_is_object(j->cursors))
		return bad(r, row, CV_CURSORS);
	if ((n = json_array_size(j->tags))) {
		if (!(j->tagv = cvl_calloc(n, sizeof(*j->tagv))))
			return cvl_err(CONVLOG_ENOMEM, PFX "out of memory");
		for (i = 0; i < n; i++)
			if (!(j->tagv[i] = json_string_value(json_array_get(j->tags, i))))
				return bad(r, row, CV_TAGS);
		c->tags = j->tagv;
		c->n_tags = n;
	}
	if ((n = json_object_size(j->cursors))) {
		const char *name;
		json_t *v;
		if (!(j->curv = cvl_calloc(n, sizeof(*j->curv))))
			return cvl_err(CONVLOG_ENOMEM, PFX "out of memory");
		i = 0;
		json_object_foreach(j->cursors, name, v) {
			if (!json_is_integer(v))
				return bad(r, row, CV_CURSORS);
			j->curv[i].name = name;
			j->curv[i].value = json_integer_value(v);
			i++;
		}
		c->cursors = j->curv;
		c->n_cursors = n;
	}
	return 0;
}

/* Conversation row `row` into the builder (its messages follow). */
static int build_conv(cvl_cs_builder *w, const PGresult *r, int row)
{
	convlog_conv c;
	cvl_stamp unit[CVL_SYNC_UNITS], born;
	convlog_uuid tip, fork;
	conv_json j = {0};
	int64_t depth;
	int rc;

	convlog_conv_init(&c);
	for (size_t k = 0; k < N_CONV_STRS; k++)
		*(const char **)((char *)&c + conv_strs[k]) = col_str(r, row, CV_STRS + (int)k);
	c.metadata = col_str(r, row, CV_METADATA);
	if ((rc = col_uuid(r, row, CV_ID, &c.id)) || (rc = col_stamp(r, row, CV_BORN_HLC, &born)) ||
	    (rc = col_units(r, row, CV_UNIT_HLC, unit, 0)) ||
	    (rc = col_units(r, row, CV_UNIT_ORIGIN, unit, 1)) ||
	    (rc = col_int(r, row, CV_RATING, 0, &c.rating)) ||
	    (rc = col_uuid(r, row, CV_PARENT, &c.parent_id)) ||
	    (rc = col_uuid(r, row, CV_FORK, &fork)) ||
	    (rc = col_i64(r, row, CV_DEPTH, 0, &depth)) ||
	    (rc = col_uuid(r, row, CV_TIP, &tip)) ||
	    (rc = col_i64(r, row, CV_CREATED, 0, &c.created_at)) ||
	    (rc = col_int(r, row, CV_STATUS, CONVLOG_STATUS_ACTIVE, &c.status)) ||
	    (rc = col_int(r, row, CV_PREV_STATUS, 0, &c.prev_status)) ||
	    (rc = col_i64(r, row, CV_ARCHIVED, 0, &c.archived_at)) ||
	    (rc = col_i64(r, row, CV_DELETED, 0, &c.deleted_at)) ||
	    (rc = col_i64(r, row, CV_UPDATED, 0, &c.updated_at)) ||
	    (rc = col_i64(r, row, CV_ACTIVITY, 0, &c.last_activity_at)) ||
	    (rc = conv_lists(r, row, &c, &j)))
		goto out;
	if (depth < 0 || depth > UINT32_MAX) {
		rc = bad(r, row, CV_DEPTH);
		goto out;
	}
	c.depth = (uint32_t)depth;
	rc = cvl_csb_conv(w, &c, unit, &born, &tip, &fork);
out:
	conv_json_free(&j);
	return rc;
}

/* Message row `row` into the builder. */
static int build_msg(cvl_cs_builder *w, const PGresult *r, int row)
{
	convlog_msg m;
	cvl_stamp born, ver;
	convlog_uuid parent;
	unsigned char *raw = NULL;
	int rc;

	convlog_msg_init(&m);
	m.seq = 0;
	m.parent_seq = 0;
	m.role = col_str(r, row, MS_ROLE);
	m.name = col_str(r, row, MS_NAME);
	m.tool_calls = col_str(r, row, MS_TOOL_CALLS);
	m.tool_call_id = col_str(r, row, MS_TOOL_CALL_ID);
	m.model = col_str(r, row, MS_MODEL);
	m.error_message = col_str(r, row, MS_ERROR);
	m.feedback_text = col_str(r, row, MS_FEEDBACK_TEXT);
	m.metadata = col_str(r, row, MS_METADATA);
	if (!PQgetisnull(r, row, MS_RAW)) {
		size_t n;
		raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, MS_RAW), &n);
		if (!raw)
			return cvl_err(CONVLOG_ENOMEM, PFX "out of memory");
		m.content = (const char *)raw;
		m.content_len = n;
	} else if (!PQgetisnull(r, row, MS_CONTENT)) {
		m.content = PQgetvalue(r, row, MS_CONTENT);
		m.content_len = (size_t)PQgetlength(r, row, MS_CONTENT);
	}
	if ((rc = col_uuid(r, row, MS_ID, &m.id)) || (rc = col_uuid(r, row, MS_CONV, &m.conv_id)) ||
	    (rc = col_stamp(r, row, MS_BORN_HLC, &born)) ||
	    (rc = col_stamp(r, row, MS_VER_HLC, &ver)) ||
	    (rc = col_uuid(r, row, MS_PARENT, &parent)) ||
	    (rc = col_i64(r, row, MS_TOKENS, -1, &m.token_count)) ||
	    (rc = col_i64(r, row, MS_COST, -1, &m.cost)) ||
	    (rc = col_i64(r, row, MS_LATENCY, -1, &m.latency_ms)) ||
	    (rc = col_int(r, row, MS_STATUS, CONVLOG_MSG_COMPLETED, &m.status)) ||
	    (rc = col_int(r, row, MS_FEEDBACK, 0, &m.feedback)) ||
	    (rc = col_i64(r, row, MS_CREATED, 0, &m.created_at)) ||
	    (rc = col_i64(r, row, MS_EDITED, 0, &m.edited_at)))
		goto out;
	rc = cvl_csb_msg(w, &m, &born, &ver, &parent);
out:
	PQfreemem(raw); /* accepts NULL */
	return rc;
}

/* The message rows of each conversation, sorted by conversation id. */
static int msg_runs(const PGresult *r, run **out, size_t *nout)
{
	int rows = PQntuples(r);
	run *v = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	if (!rows)
		return 0;
	if (!(v = cvl_calloc((size_t)rows, sizeof(*v))))
		return cvl_err(CONVLOG_ENOMEM, PFX "out of memory");
	for (int i = 0; i < rows; i++) {
		convlog_uuid id;
		if ((rc = col_uuid(r, i, MS_CONV, &id))) {
			cvl_free(v);
			return rc;
		}
		if (n && !cvl_uuid_cmp(&v[n - 1].conv, &id)) {
			v[n - 1].n++;
			continue;
		}
		v[n++] = (run){id, i, 1};
	}
	qsort(v, n, sizeof(*v), run_cmp);
	for (size_t i = 1; i < n; i++)
		if (!cvl_uuid_cmp(&v[i - 1].conv, &v[i].conv)) {
			cvl_free(v);
			return cvl_err(CONVLOG_ECORRUPT,
				       PFX "the server sent a conversation's messages apart");
		}
	*out = v;
	*nout = n;
	return 0;
}

/* Builds the changeset of what was pulled: tombstones, then each
 * conversation followed by its messages. */
static int build(const pulled *pl, uint64_t server, uint64_t since, uint64_t upto, void **out,
		 size_t *len)
{
	cvl_cs_builder w;
	run *runs = NULL;
	size_t nruns = 0;
	int rc;

	cvl_csb_init(&w, server, since, upto);
	if ((rc = msg_runs(pl->msgs, &runs, &nruns)))
		goto out;
	for (int i = 0; i < PQntuples(pl->purges) && !rc; i++) {
		convlog_uuid id;
		cvl_stamp st;
		if ((rc = col_uuid(pl->purges, i, 0, &id)) ||
		    (rc = col_stamp(pl->purges, i, 1, &st)))
			break;
		rc = cvl_csb_tomb(&w, &id, &st);
	}
	for (int i = 0; i < PQntuples(pl->convs) && !rc; i++) {
		run key = {{{0}}, 0, 0}, *found;
		if ((rc = col_uuid(pl->convs, i, CV_ID, &key.conv)) ||
		    (rc = build_conv(&w, pl->convs, i)))
			break;
		found = nruns ? bsearch(&key, runs, nruns, sizeof(*runs), run_cmp) : NULL;
		for (int k = 0; found && k < found->n && !rc; k++)
			rc = build_msg(&w, pl->msgs, found->start + k);
	}
	if (!rc)
		rc = cvl_csb_seal(&w, out, len); /* frees w */
out:
	if (rc)
		cvl_csb_free(&w);
	cvl_free(runs);
	return rc;
}

static void pulled_free(pulled *pl)
{
	PQclear(pl->convs);
	PQclear(pl->msgs);
	PQclear(pl->purges);
	memset(pl, 0, sizeof(*pl));
}

/* Reads the server's changes after `cursor` in one snapshot; *upto is
 * `cursor` when there are none. */
static int fetch(pgsess *s, uint64_t cursor, pulled *pl, uint64_t *upto)
{
	char cur[24], up[24];
	const char *v[2] = {cur, up};
	PGresult *r;
	int rc;

	memset(pl, 0, sizeof(*pl));
	*upto = cursor;
	snprintf(cur, sizeof(cur), "%" PRIu64, cursor);
	if ((rc = pg_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")))
		return rc;
	if ((rc = pg_run(s, NULL, "SELECT convlog_pull_upto($1, NULL)", 1, v, NULL, NULL, &r,
			 "reading the server's changes")))
		goto out;
	rc = parse_u64(one_value(r), upto);
	PQclear(r);
	if (rc) {
		rc = cvl_err(CONVLOG_ECORRUPT, PFX "convlog_pull_upto gave no number");
		goto out;
	}
	if (*upto <= cursor) {
		*upto = cursor;
		goto out;
	}
	snprintf(up, sizeof(up), "%" PRIu64, *upto);
	if ((rc = pg_run(s, NULL, PURGES_SQL, 2, v, NULL, NULL, &pl->purges, "pulling purges")) ||
	    (rc = pg_run(s, NULL, CONVS_SQL, 2, v, NULL, NULL, &pl->convs, "pulling convs")) ||
	    (rc = pg_run(s, NULL, MSGS_SQL, 2, v, NULL, NULL, &pl->msgs, "pulling messages")))
		goto out;
	if (PQnfields(pl->convs) != CV_NCOLS || PQnfields(pl->msgs) != MS_NCOLS ||
	    PQnfields(pl->purges) != 3)
		rc = cvl_err(CONVLOG_ECORRUPT, PFX "the pull queries gave unexpected columns");
out:
	if (rc) {
		PQclear(PQexec(s->c, "ROLLBACK"));
		pulled_free(pl);
		return rc;
	}
	return pg_cmd(s, "COMMIT");
}

CONVLOG_API int convlog_sync_pull_pg(convlog_db *db, const char *url, convlog_sync_result *res)
{
	convlog_sync_result dummy;
	pgsess s = {0};
	cvl_sync_peer peer;
	pulled pl = {0};
	uint64_t upto;
	void *bytes = NULL;
	size_t len = 0;
	int rc;

	cvl_err_clear();
	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if ((rc = cvl_db_check_write(db)))
		return rc;
	if (!url)
		return cvl_err(CONVLOG_EINVAL, "sync_pull_pg: NULL url");
	if ((rc = pg_open(url, &s)) || (rc = cvl_sync_peer_get(db, s.server, &peer)) ||
	    (rc = fetch(&s, peer.recv, &pl, &upto)))
		goto out;
	pg_close(&s);
	if (upto <= peer.recv) {
		res->source = s.server;
		res->since = res->upto = peer.recv;
		goto out;
	}
	rc = build(&pl, s.server, peer.recv, upto, &bytes, &len);
	pulled_free(&pl);
	if (!rc)
		rc = convlog_sync_apply(db, bytes, len, res);
out:
	convlog_free(bytes);
	pulled_free(&pl);
	pg_close(&s);
	return rc;
}
