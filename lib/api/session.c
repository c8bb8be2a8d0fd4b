/* Session summaries from the conversations' aggregates (ix_session). */
#include <string.h>

#include "engine/db.h"
#include "util/err.h"

/* Adds c to the summary; a fork counts only its own messages (its seqs
 * 1..fork_seq are its parent's and counted there). */
static void add_conv(convlog_session_summary *out, const convlog_conv *c)
{
	if (!out->conversations || c->created_at < out->first_activity_at)
		out->first_activity_at = c->created_at;
	if (!out->conversations || c->last_activity_at > out->last_activity_at)
		out->last_activity_at = c->last_activity_at;
	out->conversations++;
	out->messages += cvl_conv_own_messages(c);
	out->token_total += c->token_total;
	out->cost_total += c->cost_total;
}

/* Walks the session's index entries; `sid` is the session id, `pfx` its
 * key component. */
static int walk(cvl_view *v, const cvl_scope *scope, const char *sid, const uint8_t *pfx,
		size_t plen, convlog_session_summary *out)
{
	convlog_conv *c = NULL;
	convlog_uuid id;
	cvl_vcur cur;
	int rc;

	if ((rc = cvl_vcur_open(v, CVL_T_IX_SESSION, &cur)))
		return rc;
	for (rc = cvl_vcur_seek(&cur, pfx, plen); rc == 0; rc = cvl_vcur_next(&cur)) {
		if (cur.klen != plen + 24 || memcmp(cur.key, pfx, plen) != 0)
			break;
		memcpy(id.bytes, cur.key + plen + 8, 16);
		rc = cvl_conv_load(v, &id, &c);
		if (rc == CONVLOG_ENOTFOUND)
			rc = cvl_err(CONVLOG_ECORRUPT,
				     "index ix_session names a conversation that does not exist");
		if (rc)
			goto out;
		/* long session ids are hashed in keys: confirm on the record */
		if (c->status != CONVLOG_STATUS_DELETED && c->session_id &&
		    strcmp(c->session_id, sid) == 0 && cvl_scope_covers(scope, c))
			add_conv(out, c);
		convlog_conv_free(c);
		c = NULL;
	}
	if (rc == CONVLOG_DONE)
		rc = 0;
out:
	convlog_conv_free(c);
	cvl_vcur_close(&cur);
	return rc;
}

CONVLOG_API int convlog_session_get_summary(convlog_db *db, const char *session_id,
					    convlog_session_summary *out)
{
	uint8_t pfx[CVL_KEY_MAX];
	size_t plen;
	cvl_view v;
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "session_get_summary: out is NULL");
	if (out->version != CONVLOG_SESSION_VERSION)
		return cvl_err(CONVLOG_EINVAL,
			       "session_get_summary: set out->version to CONVLOG_SESSION_VERSION");
	if (!session_id)
		return cvl_err(CONVLOG_EINVAL, "session_get_summary: session_id is NULL");
	const cvl_scope *scope;
	if ((rc = cvl_db_enter(&db, &scope)))
		return rc;
	memset((char *)out + sizeof(out->version), 0, sizeof(*out) - sizeof(out->version));
	plen = cvl_key_text(pfx, session_id, strlen(session_id));
	if ((rc = cvl_db_snapshot(db, &v)))
		return rc;
	rc = walk(&v, scope, session_id, pfx, plen, out);
	cvl_view_release(&v);
	if (rc)
		memset((char *)out + sizeof(out->version), 0, sizeof(*out) - sizeof(out->version));
	return rc;
}
