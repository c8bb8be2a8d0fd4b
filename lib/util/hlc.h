/* Hybrid logical clock: 48 bits of wall-clock ms, 16 bits of counter. */
#ifndef CVL_UTIL_HLC_H
#define CVL_UTIL_HLC_H

#include <stdint.h>

#define CVL_HLC_MS(h) ((int64_t)((h) >> 16))

/* Next timestamp after `last` at wall time `now_ms`: strictly greater. */
static inline uint64_t cvl_hlc_next(uint64_t last, int64_t now_ms)
{
	uint64_t wall = (uint64_t)(now_ms < 0 ? 0 : now_ms) << 16;

	return wall > last ? wall : last + 1;
}

/* A stamp: (hlc, origin), compared as unsigned pairs.  (0, 0) = never. */
typedef struct cvl_stamp {
	uint64_t hlc, origin;
} cvl_stamp;

static inline int cvl_stamp_cmp(const cvl_stamp *a, const cvl_stamp *b)
{
	if (a->hlc != b->hlc)
		return a->hlc < b->hlc ? -1 : 1;
	if (a->origin != b->origin)
		return a->origin < b->origin ? -1 : 1;
	return 0;
}

#endif
