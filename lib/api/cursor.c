/* Named resume points of a conversation (client/server stanza ids...). */
#include <string.h>

#include "engine/db.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/uuid.h"

/* Rewrites the cursor map with `name` set to value (or removed). */
static int cursor_in(convlog_db *db, convlog_txn *t, const convlog_uuid *conv, const char *name,
		     int64_t value, int remove)
{
	cvl_cstate *cs;
	convlog_conv f;
	convlog_cursor *v;
	char s[CONVLOG_UUID_STRLEN];
	size_t n = 0;
	int rc = cvl_actx_conv(&t->a, conv, &cs), found = 0;

	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(rc, "conversation %s does not exist", cvl_uuid_str(conv, s));
	if (rc)
		return rc;
	v = cvl_malloc((cs->cur->n_cursors + 1) * sizeof(*v));
	if (!v)
		return cvl_err(CONVLOG_ENOMEM, "out of memory setting a cursor");
	for (size_t i = 0; i < cs->cur->n_cursors; i++) {
		convlog_cursor c = cs->cur->cursors[i];
		if (!strcmp(c.name, name)) {
			found = 1;
			if (remove)
				continue;
			c.value = value;
		}
		v[n++] = c;
	}
	if (!found && remove) {
		cvl_free(v);
		return 0;
	}
	if (!found)
		v[n++] = (convlog_cursor){name, value};
	convlog_conv_init(&f);
	f.cursors = v;
	f.n_cursors = n;
	/* the patch copies what it needs before v goes */
	rc = convlog_conv_patch(db, t, conv, &f, CONVLOG_CONV_CURSORS);
	cvl_free(v);
	return rc;
}

static int cursor_api(convlog_db *db, convlog_txn *txn, const convlog_uuid *conv,
		      const char *name, int64_t value, int remove)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!conv || !name)
		return cvl_err(CONVLOG_EINVAL, "cursor: NULL argument");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, cursor_in(db, t, conv, name, value, remove));
}

CONVLOG_API int convlog_conv_set_cursor(convlog_db *db, convlog_txn *txn, const convlog_uuid *conv,
					const char *name, int64_t value)
{
	return cursor_api(db, txn, conv, name, value, 0);
}

CONVLOG_API int convlog_conv_clear_cursor(convlog_db *db, convlog_txn *txn,
					  const convlog_uuid *conv, const char *name)
{
	return cursor_api(db, txn, conv, name, 0, 1);
}

CONVLOG_API int convlog_conv_get_cursor(convlog_db *db, const convlog_uuid *conv,
					const char *name, int64_t *value)
{
	convlog_conv *c;
	int rc;

	cvl_err_clear();
	if (!name || !value)
		return cvl_err(CONVLOG_EINVAL, "conv_get_cursor: NULL argument");
	if ((rc = convlog_conv_get(db, conv, &c)))
		return rc;
	rc = cvl_err(CONVLOG_ENOTFOUND, "conversation has no cursor '%.64s'", name);
	for (size_t i = 0; i < c->n_cursors; i++) {
		if (!strcmp(c->cursors[i].name, name)) {
			*value = c->cursors[i].value;
			rc = 0;
			cvl_err_clear();
			break;
		}
	}
	convlog_conv_free(c);
	return rc;
}
