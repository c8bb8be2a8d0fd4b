/* Building message iterators from inside the library. */
#ifndef CVL_ENGINE_MSGITER_H
#define CVL_ENGINE_MSGITER_H

#include "engine/db.h"

typedef struct cvl_msg_ref {
	convlog_uuid conv; /* owner of the message */
	uint32_t seq;
} cvl_msg_ref;

/* An iterator over `items` (taken over, cvl_malloc'd) reading through
 * view `v` (taken over). */
int cvl_msg_iter_list(convlog_db *db, cvl_view *v, cvl_msg_ref *items, size_t n,
		      convlog_msg_iter **out);

/* Reads the message stored at (conv, seq) through a view. */
int cvl_msg_read_at(convlog_db *db, cvl_view *v, const convlog_uuid *conv, uint32_t seq,
		    convlog_msg **out);

#endif
