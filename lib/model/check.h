/* Argument validation shared by conversations and messages. */
#ifndef CVL_MODEL_CHECK_H
#define CVL_MODEL_CHECK_H

#include <stddef.h>

/* Checks a NUL-terminated field: NULL passes; otherwise length <= max,
 * non-empty when `nonempty`, valid UTF-8.  `who` prefixes the message
 * ("conversation 0190...", "message 3 of conversation ..."). */
int cvl_check_str(const char *who, const char *what, const char *s, size_t max,
		  int nonempty);

/* Same for a byte range of known length (message content). */
int cvl_check_text(const char *who, const char *what, const char *s, size_t n,
		   size_t max);

/* Owned allocations made while preparing an input (canonical JSON, sorted
 * arrays); released together. */
#define CVL_PREP_MAX 8
typedef struct cvl_prep {
	void *p[CVL_PREP_MAX];
	int n;
} cvl_prep;

void *cvl_prep_keep(cvl_prep *pr, void *p);
void cvl_prep_free(cvl_prep *pr);

/* Canonicalises JSON field text (NULL passes) into an owned copy. */
int cvl_check_json(const char *who, const char *what, const char *s, size_t max,
		   int object, cvl_prep *pr, const char **out);

#endif
