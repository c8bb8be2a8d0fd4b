/* Validation of caller text: UTF-8 (utf8proc) and JSON (jansson). */
#ifndef CVL_UTIL_TEXT_H
#define CVL_UTIL_TEXT_H

#include <stddef.h>

/* 0 if [s, s+n) is valid UTF-8, else -1 with *bad = offset of the first
 * invalid byte. */
int cvl_utf8_check(const char *s, size_t n, size_t *bad);

#define CVL_JSON_OBJECT 1 /* top level must be an object */
#define CVL_JSON_ANY 0

/* Validates JSON text and returns its compact canonical form (key order
 * kept) in a cvl_malloc'd NUL-terminated *out. CONVLOG_EJSON with the
 * parser's line/column, CONVLOG_ENOMEM. `what` names the field in
 * messages. */
int cvl_json_canon(const char *in, size_t n, int kind, const char *what,
		   char **out, size_t *out_len);

#endif
