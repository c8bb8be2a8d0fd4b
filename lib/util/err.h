/* Error reporting: status codes plus a per-thread message. */
#ifndef CVL_UTIL_ERR_H
#define CVL_UTIL_ERR_H

#include "convlog.h"

#if defined(__GNUC__)
#define CVL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CVL_PRINTF(a, b)
#endif

#define CVL_ERRMSG_MAX 512

/* Sets the calling thread's message and returns `code` (for `return`). */
int cvl_err(int code, const char *fmt, ...) CVL_PRINTF(2, 3);

/* Prepends context ("conversation X: ") to the current message, returns code.
 * Callers up the stack add context this way; they never replace the message. */
int cvl_err_ctx(int code, const char *fmt, ...) CVL_PRINTF(2, 3);

/* Empties the message; called at every public entry point. */
void cvl_err_clear(void);

const char *cvl_err_msg(void);

/* strerror(e) for a message, thread-safe (strerror need not be); valid in
 * the calling thread until its next call. */
const char *cvl_errno_str(int e);

#if defined(__clang_analyzer__) && !defined(CVL_ERR_IMPL)
/* The analyzer sees one file at a time and would assume `return cvl_err(E,
 * ...)` can return 0; spell out that both return their code.  (Every caller
 * passes a code without side effects.) */
#define cvl_err(code, ...) ((cvl_err)((code), __VA_ARGS__), (code))
#define cvl_err_ctx(code, ...) ((cvl_err_ctx)((code), __VA_ARGS__), (code))
#endif

#endif
