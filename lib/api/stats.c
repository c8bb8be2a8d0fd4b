/* Store statistics. */
#include <stdio.h>
#include <string.h>

#include "engine/db.h"
#include "index/iseg.h"
#include "os/os.h"
#include "util/err.h"

/* A scoped handle's statistics: its conversations, read through a listing
 * (the store-wide aggregates would count everyone's). */
static int scoped_stats(convlog_db *handle, convlog_stats *out)
{
	convlog_conv_filter f;
	convlog_conv_iter *it;
	const convlog_conv *c;
	int rc;

	convlog_conv_filter_init(&f);
	f.include_deleted = 1;
	if ((rc = convlog_conv_list(handle, &f, &it)))
		return rc;
	memset((char *)out + sizeof(out->version), 0, sizeof(*out) - sizeof(out->version));
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		out->conversations++;
		if (c->status == CONVLOG_STATUS_DELETED)
			out->deleted_conversations++;
		out->messages += cvl_conv_own_messages(c);
	}
	convlog_conv_iter_free(it);
	if (rc != CONVLOG_DONE) {
		memset((char *)out + sizeof(out->version), 0, sizeof(*out) - sizeof(out->version));
		return rc;
	}
	return 0;
}

CONVLOG_API int convlog_stats_get(convlog_db *db, convlog_stats *out)
{
	cvl_counters c;
	cvl_view v;
	char p[CVL_PATH_MAX];
	uint64_t sz = 0;
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "stats_get: out is NULL");
	if (out->version != CONVLOG_STATS_VERSION)
		return cvl_err(CONVLOG_EINVAL, "stats_get: set out->version to CONVLOG_STATS_VERSION");
	if (db && *(const uint32_t *)db == CVL_SCOPE_MAGIC)
		return scoped_stats(db, out);
	if ((rc = cvl_db_view(&db, &v)))
		return rc;
	rc = cvl_counters_read(&v, &c);
	uint64_t mtb = 0;
	for (int i = 0; i < v.nmt; i++)
		mtb += atomic_load(&v.mt[i]->bytes);
	cvl_view_release(&v);
	if (rc)
		return rc;
	memset((char *)out + sizeof(out->version), 0, sizeof(*out) - sizeof(out->version));
	out->conversations = (uint64_t)c.conversations;
	out->deleted_conversations = (uint64_t)c.deleted;
	out->messages = (uint64_t)c.messages;
	out->content_bytes = (uint64_t)c.content_bytes;
	out->memtable_bytes = mtb;
	pthread_rwlock_rdlock(&db->seg_lock);
	out->segments = db->nsegs;
	for (size_t i = 0; i < db->nsegs; i++)
		out->segment_bytes += db->segs[i].size;
	pthread_rwlock_unlock(&db->seg_lock);
	snprintf(p, sizeof(p), "%s/meta/data.mdb", db->path);
	if (cvl_os_path_size(p, &sz) == 0)
		out->meta_bytes = sz;
	out->last_lsn = atomic_load(&db->visible_lsn);
	pthread_mutex_lock(&db->mtmu);
	out->flushed_lsn = db->flushed_lsn;
	pthread_mutex_unlock(&db->mtmu);
	out->cache_bytes = cvl_cache_bytes(db->cache);
	out->recovered_blocks = db->recovered_blocks;
	out->truncated_bytes = db->truncated_bytes;
	out->commits = atomic_load(&db->n_commits);
	out->syncs = atomic_load(&db->n_syncs);
	out->flushes = atomic_load(&db->n_flushes);
	pthread_mutex_lock(&db->mtmu);
	out->index_segments = (uint64_t)db->nisegs;
	for (int i = 0; i < db->nisegs; i++)
		out->index_bytes += db->isegs[i]->file_size;
	pthread_mutex_unlock(&db->mtmu);
	return 0;
}
