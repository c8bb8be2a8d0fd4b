/* Scoped handles: one user's (or one org's) view of a store. */
#include <string.h>

#include "engine/db.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/text.h"

/* An id of the scope: non-empty valid UTF-8 within the field's limit. */
static int check_id(const char *what, const char *v)
{
	size_t n;

	if (!v)
		return 0;
	n = strlen(v);
	if (n == 0)
		return cvl_err(CONVLOG_EINVAL, "scope_open: %s is empty", what);
	if (n > CONVLOG_MAX_SHORT_TEXT)
		return cvl_err(CONVLOG_ETOOBIG, "scope_open: %s is longer than %u bytes", what,
			       CONVLOG_MAX_SHORT_TEXT);
	size_t bad;
	if (cvl_utf8_check(v, n, &bad))
		return cvl_err(CONVLOG_EUTF8, "scope_open: %s is not valid UTF-8", what);
	return 0;
}

void cvl_scope_free(cvl_scoped *h)
{
	h->magic = 0;
	cvl_free(h->scope.org_id);
	cvl_free(h->scope.user_id);
	cvl_free(h);
}

CONVLOG_API int convlog_scope_open(convlog_db *db, const char *org_id, const char *user_id,
				   convlog_db **out)
{
	cvl_scoped *h;
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "scope_open: out is NULL");
	*out = NULL;
	if ((rc = cvl_db_check(db)))
		return rc == CONVLOG_ESCOPE
			       ? cvl_err(CONVLOG_ESCOPE, "scope_open: the handle is scoped already")
			       : rc;
	if (!org_id && !user_id)
		return cvl_err(CONVLOG_EINVAL, "scope_open: give an org_id, a user_id or both");
	if ((rc = check_id("org_id", org_id)) || (rc = check_id("user_id", user_id)))
		return rc;
	if (!(h = cvl_calloc(1, sizeof(*h))) ||
	    (org_id && !(h->scope.org_id = cvl_strdup(org_id))) ||
	    (user_id && !(h->scope.user_id = cvl_strdup(user_id)))) {
		if (h)
			cvl_scope_free(h);
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a scoped handle");
	}
	h->magic = CVL_SCOPE_MAGIC;
	h->base = db;
	*out = (convlog_db *)(void *)h;
	return 0;
}
