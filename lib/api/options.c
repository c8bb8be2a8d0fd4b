/* Options and version. */
#include <string.h>

#include <stdio.h>

#include "engine/db.h"
#include "index/analyze.h"
#include "util/alloc.h"
#include "util/err.h"

CONVLOG_API const char *convlog_version(void)
{
	return CONVLOG_VERSION_STRING;
}

CONVLOG_API void convlog_free(void *p)
{
	cvl_free(p);
}

CONVLOG_API int convlog_options_new(convlog_options **out)
{
	convlog_options *o;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "options_new: out is NULL");
	o = cvl_calloc(1, sizeof(*o));
	if (!o)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for options");
	o->magic = CVL_OPTS_MAGIC;
	o->durability = CONVLOG_DURABILITY_FULL;
	o->sync_interval_ms = 100;
	o->open_flags = CONVLOG_OPEN_CREATE;
	o->segment_size = 64u << 20;
	o->memtable_size = 32u << 20;
	o->flush_interval_ms = 5000;
	o->cache_size = 32u << 20;
	o->frame_size = 32u << 10;
	o->level = 3;
	o->max_content = CONVLOG_DEFAULT_MAX_CONTENT;
	o->map_size = (uint64_t)1 << 40;
	*out = o;
	return 0;
}

CONVLOG_API void convlog_options_free(convlog_options *o)
{
	if (o && o->magic == CVL_OPTS_MAGIC) {
		o->magic = CVL_DB_POISON;
		cvl_free(o);
	}
}

static int check(convlog_options *o, const char *what)
{
	cvl_err_clear();
	if (!o || o->magic != CVL_OPTS_MAGIC)
		return cvl_err(CONVLOG_EINVAL, "%s: not an options object", what);
	return 0;
}

static int range(const char *what, uint64_t v, uint64_t lo, uint64_t hi)
{
	if (v < lo || v > hi)
		return cvl_err(CONVLOG_EINVAL, "%s: %llu is outside %llu..%llu", what,
			       (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

#define SETTER(name, type, field, lo, hi)                                         \
	CONVLOG_API int convlog_options_set_##name(convlog_options *o, type v)    \
	{                                                                          \
		int rc = check(o, "options_set_" #name);                          \
		if (!rc)                                                           \
			rc = range("options_set_" #name, (uint64_t)v, lo, hi);    \
		if (!rc)                                                           \
			o->field = v;                                              \
		return rc;                                                         \
	}

SETTER(sync_interval_ms, uint32_t, sync_interval_ms, 1, 60000)
SETTER(segment_size, uint64_t, segment_size, 1u << 20, (uint64_t)4 << 30)
SETTER(memtable_size, uint64_t, memtable_size, 64u << 10, 1u << 30)
SETTER(flush_interval_ms, uint32_t, flush_interval_ms, 10, 3600000)
SETTER(block_cache_size, uint64_t, cache_size, 0, (uint64_t)16 << 30)
SETTER(frame_size, uint32_t, frame_size, 4u << 10, 1u << 20)
SETTER(max_content, uint32_t, max_content, 1, CONVLOG_MAX_CONTENT)
SETTER(map_size, uint64_t, map_size, 1u << 20, (uint64_t)16 << 40)

CONVLOG_API int convlog_options_set_durability(convlog_options *o, int mode)
{
	int rc = check(o, "options_set_durability");

	if (rc)
		return rc;
	if (mode != CONVLOG_DURABILITY_FULL && mode != CONVLOG_DURABILITY_NORMAL &&
	    mode != CONVLOG_DURABILITY_OFF)
		return cvl_err(CONVLOG_EINVAL, "options_set_durability: unknown mode %d", mode);
	o->durability = mode;
	return 0;
}

CONVLOG_API int convlog_options_set_open_flags(convlog_options *o, unsigned flags)
{
	int rc = check(o, "options_set_open_flags");

	if (rc)
		return rc;
	if (flags & ~(unsigned)(CONVLOG_OPEN_CREATE | CONVLOG_OPEN_READONLY))
		return cvl_err(CONVLOG_EINVAL, "options_set_open_flags: unknown flags 0x%x", flags);
	o->open_flags = flags;
	return 0;
}

CONVLOG_API int convlog_options_set_compression_level(convlog_options *o, int level)
{
	int rc = check(o, "options_set_compression_level");

	if (rc)
		return rc;
	if (level < 1 || level > 19)
		return cvl_err(CONVLOG_EINVAL, "options_set_compression_level: %d is outside 1..19",
			       level);
	o->level = level;
	return 0;
}

CONVLOG_API int convlog_options_set_stemming(convlog_options *o, const char *language)
{
	cvl_analyzer *an;
	int rc = check(o, "options_set_stemming");

	if (rc)
		return rc;
	if (!language || !strcmp(language, "none"))
		language = "";
	if (strlen(language) >= sizeof(o->stem))
		return cvl_err(CONVLOG_EINVAL, "options_set_stemming: unknown language '%s'", language);
	if ((rc = cvl_analyzer_new(language, &an)))
		return cvl_err(rc, "options_set_stemming: unknown language '%s'", language);
	cvl_analyzer_free(an);
	snprintf(o->stem, sizeof(o->stem), "%s", language);
	o->stem_set = 1;
	return 0;
}

CONVLOG_API int convlog_options_set_lifecycle(convlog_options *o, const convlog_lifecycle *p)
{
	int rc = check(o, "options_set_lifecycle");

	if (rc)
		return rc;
	if (!p)
		return cvl_err(CONVLOG_EINVAL, "options_set_lifecycle: policy is NULL");
	if (p->version != CONVLOG_LIFECYCLE_VERSION)
		return cvl_err(CONVLOG_EINVAL, "options_set_lifecycle: version %u, expected %u",
			       p->version, CONVLOG_LIFECYCLE_VERSION);
	if (p->inactive_after_ms < 0 || p->archive_after_ms < 0 || p->purge_after_ms < 0 ||
	    p->max_age_ms < 0)
		return cvl_err(CONVLOG_EINVAL, "options_set_lifecycle: a period is negative");
	o->life = *p;
	return 0;
}

CONVLOG_API int convlog_options_set_compactor(convlog_options *o, uint32_t interval_ms,
					      uint64_t io_bytes_per_sec)
{
	int rc = check(o, "options_set_compactor");

	if (rc)
		return rc;
	if (interval_ms && interval_ms < 10)
		return cvl_err(CONVLOG_EINVAL, "options_set_compactor: interval %u ms is below 10 ms",
			       interval_ms);
	o->compact_interval_ms = interval_ms;
	o->compact_io_bps = io_bytes_per_sec;
	return 0;
}

CONVLOG_API int convlog_options_set_log(convlog_options *o, convlog_log_fn fn, void *ud)
{
	int rc = check(o, "options_set_log");

	if (rc)
		return rc;
	o->log = fn;
	o->log_ud = ud;
	return 0;
}
