#ifndef CVL_UTIL_UUID_H
#define CVL_UTIL_UUID_H

#include "convlog.h"

/* A UUIDv7 for time `ms` with random bits from the OS. */
int cvl_uuid_v7(convlog_uuid *out, int64_t ms);
/* A UUIDv8 that is a function of (a, b): XXH3-128 of a's bytes then b's,
 * with the version and variant bits set (format-spec §6.6). */
void cvl_uuid_derive(convlog_uuid *out, const convlog_uuid *a, const convlog_uuid *b);

static inline int cvl_uuid_cmp(const convlog_uuid *a, const convlog_uuid *b)
{
	for (int i = 0; i < 16; i++)
		if (a->bytes[i] != b->bytes[i])
			return a->bytes[i] < b->bytes[i] ? -1 : 1;
	return 0;
}

/* Formats into a static-free caller buffer and returns it (for messages). */
const char *cvl_uuid_str(const convlog_uuid *id, char buf[CONVLOG_UUID_STRLEN]);

#endif
