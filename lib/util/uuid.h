#ifndef CVL_UTIL_UUID_H
#define CVL_UTIL_UUID_H

#include "convlog.h"

/* A UUIDv7 for time `ms` with random bits from the OS. */
int cvl_uuid_v7(convlog_uuid *out, int64_t ms);

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
