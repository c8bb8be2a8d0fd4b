/* Per-conversation sync state kept by apply (format-spec.md §7.9):
 * the stamp of every field unit, the creation stamp, and the conversation's
 * place in the change feed. */
#ifndef CVL_ENGINE_SYNCST_H
#define CVL_ENGINE_SYNCST_H

#include <stddef.h>
#include <stdint.h>

#include "meta/lmdb.h"
#include "util/hlc.h"

/* Units 0..16 are the CONVLOG_CONV_* bits; unit 17 is the status with
 * prev_status, archived_at and deleted_at. */
#define CVL_SYNC_UNITS 18
#define CVL_UNIT_PARENT 12
#define CVL_UNIT_TIP 13
#define CVL_UNIT_STATUS 17
#define CVL_UNITS_ALL ((UINT64_C(1) << CVL_SYNC_UNITS) - 1)

typedef struct cvl_sync_conv {
	uint64_t feed_lsn; /* key of its sync_feed entry */
	cvl_stamp born;
	cvl_stamp unit[CVL_SYNC_UNITS];
} cvl_sync_conv;

#define CVL_SYNC_CONV_LEN (8 + 16 + 16 * CVL_SYNC_UNITS)
#define CVL_SYNC_TOMB_LEN 24
#define CVL_SYNC_PEER_LEN 24
#define CVL_FEED_CONV 1
#define CVL_FEED_PURGED 2

void cvl_sync_conv_encode(const cvl_sync_conv *s, uint8_t out[CVL_SYNC_CONV_LEN]);
/* 0, or -1 when the value has the wrong size. */
int cvl_sync_conv_decode(const uint8_t *p, size_t n, cvl_sync_conv *s);
/* sync_feed key: lsn u64 BE ‖ conversation id. */
void cvl_feed_key(uint8_t out[24], uint64_t lsn, const uint8_t id[16]);

/* A peer's cursors (sync_peer value). */
typedef struct cvl_sync_peer {
	uint64_t recv; /* its feed applied here without a gap, up to this */
	uint64_t ack;  /* our feed it reported applied, up to this */
	int64_t at;    /* wall-clock ms of the last exchange */
} cvl_sync_peer;

void cvl_sync_peer_encode(const cvl_sync_peer *p, uint8_t out[CVL_SYNC_PEER_LEN]);
int cvl_sync_peer_decode(const uint8_t *p, size_t n, cvl_sync_peer *out);

/* Format 3 -> 4 upgrade of the sync tables (in the upgrade transaction). */
int cvl_sync_upgrade(cvl_lmdb *lm, MDB_txn *txn);

#endif
