#include <string.h>

#include "convlog.h"
#include "model/check.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/text.h"

int cvl_check_text(const char *who, const char *what, const char *s, size_t n, size_t max)
{
	size_t bad;

	if (n > max)
		return cvl_err(CONVLOG_ETOOBIG, "%s: %s is %zu bytes, the limit is %zu", who, what,
			       n, max);
	if (n && !s)
		return cvl_err(CONVLOG_EINVAL, "%s: %s is NULL with a non-zero length", who, what);
	if (n && cvl_utf8_check(s, n, &bad) != 0)
		return cvl_err(CONVLOG_EUTF8, "%s: %s is not valid UTF-8 at byte %zu", who, what,
			       bad);
	return 0;
}

int cvl_check_str(const char *who, const char *what, const char *s, size_t max, int nonempty)
{
	size_t n;

	if (!s)
		return 0;
	n = strnlen(s, max + 1);
	if (nonempty && n == 0)
		return cvl_err(CONVLOG_EINVAL, "%s: %s is empty", who, what);
	if (n > max)
		return cvl_err(CONVLOG_ETOOBIG, "%s: %s is longer than %zu bytes", who, what, max);
	return cvl_check_text(who, what, s, n, max);
}

void *cvl_prep_keep(cvl_prep *pr, void *p)
{
	if (p && pr->n < CVL_PREP_MAX)
		pr->p[pr->n++] = p;
	return p;
}

void cvl_prep_free(cvl_prep *pr)
{
	for (int i = 0; i < pr->n; i++)
		cvl_free(pr->p[i]);
	pr->n = 0;
}

int cvl_check_json(const char *who, const char *what, const char *s, size_t max,
		   int object, cvl_prep *pr, const char **out)
{
	char *canon;
	size_t n, clen;
	int rc;

	*out = NULL;
	if (!s)
		return 0;
	n = strnlen(s, max + 1);
	if (n > max)
		return cvl_err(CONVLOG_ETOOBIG, "%s: %s is longer than %zu bytes", who, what, max);
	rc = cvl_check_text(who, what, s, n, max);
	if (rc)
		return rc;
	rc = cvl_json_canon(s, n, object ? CVL_JSON_OBJECT : CVL_JSON_ANY, what, &canon, &clen);
	if (rc)
		return cvl_err_ctx(rc, "%s: ", who);
	if (clen > max) {
		cvl_free(canon);
		return cvl_err(CONVLOG_ETOOBIG, "%s: %s is longer than %zu bytes", who, what, max);
	}
	if (pr->n >= CVL_PREP_MAX) {
		cvl_free(canon);
		return cvl_err(CONVLOG_ENOMEM, "%s: too many prepared fields", who);
	}
	*out = cvl_prep_keep(pr, canon);
	return 0;
}
