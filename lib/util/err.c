#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CVL_ERR_IMPL /* the functions themselves, not err.h's analyzer model */
#include "util/err.h"

static _Thread_local char errbuf[CVL_ERRMSG_MAX];

int cvl_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return code;
}

int cvl_err_ctx(int code, const char *fmt, ...)
{
	char prefix[CVL_ERRMSG_MAX];
	char old[CVL_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, errbuf, sizeof(old));
	if (old[0] == '\0')
		snprintf(errbuf, sizeof(errbuf), "%s%s", prefix, convlog_strerror(code));
	else
		snprintf(errbuf, sizeof(errbuf), "%s%s", prefix, old);
	return code;
}

void cvl_err_clear(void)
{
	errbuf[0] = '\0';
}

const char *cvl_err_msg(void)
{
	return errbuf;
}

const char *cvl_errno_str(int e)
{
	static _Thread_local char buf[128];

#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(e, buf, sizeof(buf)); /* GNU: may return a static string */
#else
	if (strerror_r(e, buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "error %d", e);
	return buf;
#endif
}

CONVLOG_API const char *convlog_errmsg(void)
{
	return errbuf;
}

CONVLOG_API const char *convlog_strerror(int code)
{
	switch (code) {
	case CONVLOG_OK: return "success";
	case CONVLOG_DONE: return "no more items";
	case CONVLOG_EINVAL: return "invalid argument";
	case CONVLOG_ENOMEM: return "out of memory";
	case CONVLOG_EIO: return "I/O error";
	case CONVLOG_ECORRUPT: return "stored data is corrupt";
	case CONVLOG_ENOTFOUND: return "not found";
	case CONVLOG_EEXIST: return "already exists";
	case CONVLOG_EUTF8: return "invalid UTF-8";
	case CONVLOG_EJSON: return "invalid JSON";
	case CONVLOG_ESTATUS: return "unknown status";
	case CONVLOG_ETRANSITION: return "status transition not allowed";
	case CONVLOG_ETOOBIG: return "value exceeds a limit";
	case CONVLOG_ELOCKED: return "store is locked by another writer";
	case CONVLOG_EREADONLY: return "store is open read-only";
	case CONVLOG_EVERSION: return "unsupported format version";
	case CONVLOG_ENOSPC: return "no space left on device";
	case CONVLOG_ETXN: return "transaction misuse";
	case CONVLOG_EFAILED: return "store handle failed earlier; reopen it";
	case CONVLOG_ERANGE: return "number out of range";
	case CONVLOG_ESEQ: return "message sequence out of order";
	case CONVLOG_ECANCELED: return "cancelled";
	case CONVLOG_ESCOPE: return "not available on a scoped handle";
	case CONVLOG_EBUSY: return "resource busy; retry later";
	default: return "unknown error";
	}
}
