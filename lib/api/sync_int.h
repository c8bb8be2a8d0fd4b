/* Sync internals shared by lib/api/sync.c and lib/api/pgsync.c: decoded
 * changesets and a changeset builder (format-spec.md §15). */
#ifndef CVL_API_SYNC_INT_H
#define CVL_API_SYNC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "convlog.h"
#include "engine/syncst.h"
#include "util/buf.h"

typedef struct cs_header {
	uint64_t source, since, upto;
	uint32_t n_items, flags;
	uint8_t codec;
	uint64_t raw_len, stored_len;
} cs_header;

/* A message of a changeset: every field but seq/parent_seq (meaningless
 * across replicas), its stamps and its parent's id. */
typedef struct rmsg {
	convlog_msg *m; /* decoded (packed) */
	cvl_stamp born, ver;
	convlog_uuid parent; /* nil: a root turn */
} rmsg;

/* A conversation of a changeset with its own messages changed after the
 * cursor, in (born, id) order. */
typedef struct rconv {
	convlog_conv *c;
	cvl_stamp unit[CVL_SYNC_UNITS], born;
	convlog_uuid tip, fork;
	rmsg *msgs;
	size_t nmsgs, cap;
} rconv;

typedef struct rtomb {
	convlog_uuid id;
	cvl_stamp st;
} rtomb;

/* A decoded changeset. */
typedef struct rset {
	cs_header h;
	uint8_t *raw;
	uint64_t my_ack; /* the maker's recv cursor for this store */
	rtomb *tombs;
	size_t ntombs;
	rconv *convs;
	size_t nconvs;
	cvl_stamp max;
} rset;

/* Decodes and checks a changeset; `me` picks the acknowledgement meant
 * for this store.  rset_free() also after an error. */
int cvl_cs_read(rset *s, const void *data, size_t len, uint64_t me);
void cvl_cs_free(rset *s);

/* Builds a changeset: items in the order given (tombstones, then
 * conversations with parents before forks, each followed by its messages
 * in (born, id) order). */
typedef struct cvl_cs_builder {
	cs_header h;
	cvl_buf raw, b;
} cvl_cs_builder;

void cvl_csb_init(cvl_cs_builder *w, uint64_t source, uint64_t since, uint64_t upto);
int cvl_csb_tomb(cvl_cs_builder *w, const convlog_uuid *id, const cvl_stamp *st);
/* `c`: tip_seq and fork_seq are ignored (tip and fork are message ids). */
int cvl_csb_conv(cvl_cs_builder *w, const convlog_conv *c, const cvl_stamp unit[CVL_SYNC_UNITS],
		 const cvl_stamp *born, const convlog_uuid *tip, const convlog_uuid *fork);
/* `m`: seq and parent_seq are ignored; parent is the parent's id (nil:
 * a root turn). */
int cvl_csb_msg(cvl_cs_builder *w, const convlog_msg *m, const cvl_stamp *born,
		const cvl_stamp *ver, const convlog_uuid *parent);
/* Seals into *out (convlog_free) and frees the builder. */
int cvl_csb_seal(cvl_cs_builder *w, void **out, size_t *len);
void cvl_csb_free(cvl_cs_builder *w);

/* Records in the store (its own transaction) what a peer that is not a
 * replica (a server) holds: recv = its changes applied here, ack = this
 * store's feed it holds; both only move forwards. */
int cvl_sync_note_peer(convlog_db *db, uint64_t peer, uint64_t recv, uint64_t ack);

/* A peer's cursors (zeros if unknown). */
int cvl_sync_peer_get(convlog_db *db, uint64_t peer, cvl_sync_peer *out);

#endif
