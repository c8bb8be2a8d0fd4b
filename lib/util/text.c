#include <jansson.h>
#include <string.h>
#include <utf8proc.h>

#include "convlog.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/text.h"

int cvl_utf8_check(const char *s, size_t n, size_t *bad)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	size_t i = 0;

	while (i < n) {
		/* ASCII fast path, 8 bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		utf8proc_int32_t cp;
		size_t left = n - i;
		utf8proc_ssize_t k = utf8proc_iterate(p + i, left > 4 ? 4 : (utf8proc_ssize_t)left,
						      &cp);
		if (k < 0 || cp < 0) {
			*bad = i;
			return -1;
		}
		i += (size_t)k;
	}
	return 0;
}

/* Text from json_dumps() belongs to jansson's allocator. */
static void json_text_free(char *p)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	f(p);
}

int cvl_json_canon(const char *in, size_t n, int kind, const char *what,
		   char **out, size_t *out_len)
{
	json_error_t jerr;
	json_t *v;
	char *dump, *copy;
	size_t len;
	size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;

	if (kind != CVL_JSON_OBJECT)
		flags |= JSON_DECODE_ANY;
	v = json_loadb(in, n, flags, &jerr);
	if (!v)
		return cvl_err(CONVLOG_EJSON, "%s: invalid JSON at line %d column %d: %s",
			       what, jerr.line, jerr.column, jerr.text);
	if (kind == CVL_JSON_OBJECT && !json_is_object(v)) {
		json_decref(v);
		return cvl_err(CONVLOG_EJSON, "%s: JSON must be an object", what);
	}
	/* the shortest real precision that reads back exactly (1.1, not
	 * 1.1000000000000001) */
	dump = NULL;
	for (int prec = 15; prec <= 17 && !dump; prec++) {
		dump = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
					     JSON_REAL_PRECISION(prec));
		if (!dump || prec == 17)
			break;
		json_t *back = json_loads(dump, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		int same = back && json_equal(back, v);
		json_decref(back);
		if (!same) {
			json_text_free(dump);
			dump = NULL;
		}
	}
	json_decref(v);
	if (!dump)
		return cvl_err(CONVLOG_ENOMEM, "%s: out of memory serialising JSON", what);
	len = strlen(dump);
	copy = cvl_memdup(dump, len + 1);
	json_text_free(dump);
	if (!copy)
		return cvl_err(CONVLOG_ENOMEM, "%s: out of memory", what);
	*out = copy;
	*out_len = len;
	return 0;
}
