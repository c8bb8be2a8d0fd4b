/* The table of open segment files, and reading message records from them
 * through the frame cache. */
#include <string.h>

#include "engine/db.h"
#include "log/block.h"
#include "log/dict.h"
#include "log/record.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/uuid.h"

int cvl_segs_add(convlog_db *db, uint64_t id, int fd, uint64_t size, uint32_t flags)
{
	int rc = 0;

	pthread_rwlock_wrlock(&db->seg_lock);
	for (size_t k = 0; k < db->nsegs; k++)
		if (db->segs[k].id == id) { /* opened by a racing reader */
			cvl_os_close(fd);
			goto out;
		}
	if (db->nsegs == db->segcap) {
		size_t nc = db->segcap ? db->segcap * 2 : 16;
		cvl_segfile *ns = cvl_realloc(db->segs, nc * sizeof(*ns));
		if (!ns) {
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory for the segment table");
			goto out;
		}
		db->segs = ns;
		db->segcap = nc;
	}
	size_t i = db->nsegs;
	while (i > 0 && db->segs[i - 1].id > id) {
		db->segs[i] = db->segs[i - 1];
		i--;
	}
	db->segs[i] = (cvl_segfile){.id = id, .fd = fd, .size = size, .flags = flags};
	db->nsegs++;
	if (id >= db->seg_next)
		db->seg_next = id + 1;
out:
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

int cvl_seg_alloc_id(convlog_db *db, uint64_t *id)
{
	pthread_rwlock_wrlock(&db->seg_lock);
	*id = db->seg_next ? db->seg_next : 1;
	if (*id <= UINT32_MAX)
		db->seg_next = *id + 1;
	pthread_rwlock_unlock(&db->seg_lock);
	if (*id > UINT32_MAX) /* locators hold 32-bit segment ids */
		return cvl_err(CONVLOG_ETOOBIG, "the store has used all 2^32 segment ids");
	return 0;
}

void cvl_segs_close(convlog_db *db)
{
	for (size_t i = 0; i < db->nsegs; i++)
		cvl_os_close(db->segs[i].fd);
	for (size_t i = 0; i < db->nretired; i++)
		cvl_os_close(db->retired[i].fd);
	cvl_free(db->segs);
	cvl_free(db->retired);
	db->segs = db->retired = NULL;
	db->nsegs = db->segcap = db->nretired = db->retcap = 0;
	for (size_t i = 0; i < db->nddicts; i++)
		ZSTD_freeDDict(db->ddicts[i].dd);
	cvl_free(db->ddicts);
	db->ddicts = NULL;
	db->nddicts = 0;
}

int cvl_segs_retire(convlog_db *db, uint64_t id, uint64_t txn_id)
{
	int rc = 0;

	pthread_rwlock_wrlock(&db->seg_lock);
	for (size_t i = 0; i < db->nsegs; i++) {
		if (db->segs[i].id != id)
			continue;
		if (db->nretired == db->retcap) {
			size_t nc = db->retcap ? db->retcap * 2 : 16;
			cvl_segfile *nr = cvl_realloc(db->retired, nc * sizeof(*nr));
			if (!nr) { /* keep it open among the live ones */
				rc = cvl_err(CONVLOG_ENOMEM, "out of memory retiring a segment");
				break;
			}
			db->retired = nr;
			db->retcap = nc;
		}
		db->retired[db->nretired] = db->segs[i];
		db->retired[db->nretired++].gone_txn = txn_id;
		memmove(db->segs + i, db->segs + i + 1, (db->nsegs - i - 1) * sizeof(*db->segs));
		db->nsegs--;
		break;
	}
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

void cvl_segs_reap(convlog_db *db)
{
	uint64_t oldest = cvl_lmdb_oldest_reader(&db->lm);

	pthread_rwlock_wrlock(&db->seg_lock);
	for (size_t i = 0; i < db->nretired;) {
		if (db->retired[i].gone_txn <= oldest) {
			cvl_os_close(db->retired[i].fd);
			db->retired[i] = db->retired[--db->nretired];
		} else {
			i++;
		}
	}
	pthread_rwlock_unlock(&db->seg_lock);
}

ssize_t cvl_segs_last_log(convlog_db *db)
{
	for (size_t i = db->nsegs; i-- > 0;)
		if (!(db->segs[i].flags & CVL_SEGF_COMPACT))
			return (ssize_t)i;
	return -1;
}

int cvl_seg_lookup(convlog_db *db, uint32_t seg, int *fd)
{
	size_t lo = 0, hi;
	int rc = CONVLOG_ENOTFOUND;

	pthread_rwlock_rdlock(&db->seg_lock);
	hi = db->nsegs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (db->segs[mid].id < seg)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < db->nsegs && db->segs[lo].id == seg) {
		*fd = db->segs[lo].fd;
		rc = 0;
	}
	for (size_t i = 0; rc && i < db->nretired; i++)
		if (db->retired[i].id == seg) {
			*fd = db->retired[i].fd;
			rc = 0;
		}
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

/* A locator may name a segment the compactor (of this handle or of the
 * writer process) created after this handle listed the directory. */
int cvl_seg_fd(convlog_db *db, uint32_t seg, int *fd)
{
	uint64_t size;
	uint32_t flags;
	int rc;

	if (cvl_seg_lookup(db, seg, fd) == 0)
		return 0;
	if (seg == 0)
		return CONVLOG_ENOTFOUND;
	rc = cvl_seg_open(db->seg_dir, seg, db->store_id, 0, fd, &size, &flags);
	if (rc) {
		cvl_err_clear();
		return CONVLOG_ENOTFOUND;
	}
	if ((rc = cvl_segs_add(db, seg, *fd, size, flags))) {
		cvl_os_close(*fd);
		return rc;
	}
	return cvl_seg_lookup(db, seg, fd);
}

const ZSTD_DDict *cvl_db_ddict(void *ud, uint32_t id)
{
	convlog_db *db = ud;
	const ZSTD_DDict *found = NULL;
	uint8_t *bytes = NULL;
	size_t len = 0;

	pthread_mutex_lock(&db->dctx_mu);
	for (size_t i = 0; i < db->nddicts && !found; i++)
		if (db->ddicts[i].id == id)
			found = db->ddicts[i].dd;
	pthread_mutex_unlock(&db->dctx_mu);
	if (found)
		return found;
	if (cvl_dict_read(db->seg_dir, id, &bytes, &len) != 0) {
		cvl_err_clear();
		return NULL;
	}
	ZSTD_DDict *dd = ZSTD_createDDict(bytes, len);
	cvl_free(bytes);
	if (!dd || ZSTD_getDictID_fromDDict(dd) != id) {
		ZSTD_freeDDict(dd);
		return NULL;
	}
	pthread_mutex_lock(&db->dctx_mu);
	for (size_t i = 0; i < db->nddicts && !found; i++)
		if (db->ddicts[i].id == id)
			found = db->ddicts[i].dd;
	if (!found) {
		cvl_ddict_ent *n = cvl_realloc(db->ddicts, (db->nddicts + 1) * sizeof(*n));
		if (n) {
			db->ddicts = n;
			n[db->nddicts++] = (cvl_ddict_ent){id, dd};
			found = dd;
			dd = NULL;
		}
	}
	pthread_mutex_unlock(&db->dctx_mu);
	ZSTD_freeDDict(dd);
	return found;
}

ZSTD_DCtx *cvl_dctx_get(convlog_db *db)
{
	ZSTD_DCtx *d = NULL;

	pthread_mutex_lock(&db->dctx_mu);
	if (db->ndctx > 0)
		d = db->dctx_pool[--db->ndctx];
	pthread_mutex_unlock(&db->dctx_mu);
	return d ? d : ZSTD_createDCtx();
}

void cvl_dctx_put(convlog_db *db, ZSTD_DCtx *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&db->dctx_mu);
	if (db->ndctx < (int)(sizeof(db->dctx_pool) / sizeof(db->dctx_pool[0]))) {
		db->dctx_pool[db->ndctx++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&db->dctx_mu);
	ZSTD_freeDCtx(d);
}

/* Reads, checks and decompresses the frame at loc; returns it referenced. */
static int load_frame(convlog_db *db, const cvl_loc *loc, cvl_frame **out);

int cvl_frame_get(convlog_db *db, const cvl_loc *loc, cvl_frame **out)
{
	*out = cvl_cache_get(db->cache, loc->seg, loc->frame_off);
	return *out ? 0 : load_frame(db, loc, out);
}

static int load_frame(convlog_db *db, const cvl_loc *loc, cvl_frame **out)
{
	char path[CVL_PATH_MAX];
	cvl_frame_header fh;
	uint8_t *buf = NULL, *raw = NULL;
	const char *why = NULL;
	ZSTD_DCtx *d = NULL;
	size_t got;
	int fd, rc;

	cvl_seg_path(path, sizeof(path), db->seg_dir, loc->seg);
	if ((rc = cvl_seg_fd(db, loc->seg, &fd)))
		return rc != CONVLOG_ENOTFOUND ? rc :
		       cvl_err(CONVLOG_ECORRUPT, "%s: a message locator names this missing segment",
			       path);
	if (loc->frame_len < CVL_FRAME_HEADER || loc->frame_len > CVL_BLOCK_MAX_BODY)
		return cvl_err(CONVLOG_ECORRUPT, "%s offset %llu: locator frame length %u is invalid",
			       path, (unsigned long long)loc->frame_off, loc->frame_len);
	buf = cvl_malloc(loc->frame_len);
	if (!buf)
		return cvl_err(CONVLOG_ENOMEM, "out of memory reading a frame");
	rc = cvl_os_pread(fd, buf, loc->frame_len, loc->frame_off, &got, path);
	if (rc)
		goto out;
	if (got != loc->frame_len || cvl_frame_check(buf, got, &fh, &why) ||
	    CVL_FRAME_HEADER + fh.stored_len != loc->frame_len) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s offset %llu: %s", path,
			     (unsigned long long)loc->frame_off,
			     why ? why : "frame is shorter than its locator says");
		goto out;
	}
	raw = cvl_malloc(fh.raw_len ? fh.raw_len : 1);
	d = cvl_dctx_get(db);
	if (!raw || !d) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory decompressing a frame");
		goto out;
	}
	if (cvl_frame_decode(&fh, buf + CVL_FRAME_HEADER, d, cvl_db_ddict, db, raw, &why)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s offset %llu: %s", path,
			     (unsigned long long)loc->frame_off, why);
		goto out;
	}
	rc = cvl_frame_make(loc->seg, loc->frame_off, raw, fh.raw_len, fh.record_count, out, &why);
	raw = NULL;
	if (rc < 0 && rc != CONVLOG_ENOMEM)
		rc = cvl_err(CONVLOG_ECORRUPT, "%s offset %llu: %s", path,
			     (unsigned long long)loc->frame_off, why);
	if (!rc)
		*out = cvl_cache_put(db->cache, *out);
out:
	cvl_dctx_put(db, d);
	cvl_free(raw);
	cvl_free(buf);
	return rc;
}

void cvl_msg_info_of(const cvl_record *r, cvl_msg_info *info)
{
	cvl_msg_peek pk;

	info->type = r->type;
	info->lsn = r->lsn;
	info->born.hlc = info->born.origin = 0;
	info->ver.hlc = info->ver.origin = 0;
	if (cvl_msg_peek_body(r->body, r->body_len, &pk) == 0) {
		info->born = (cvl_stamp){pk.born_hlc, pk.born_origin};
		info->ver = (cvl_stamp){pk.ver_hlc, pk.ver_origin};
	}
	/* absent stamps are the record's own (a local append's creation, a
	 * local edit's version; an edit written before format 4 did not keep
	 * the creation stamp, so its own stands in) */
	if (!info->born.hlc)
		info->born = (cvl_stamp){r->hlc, r->origin};
	if (!info->ver.hlc)
		info->ver = (cvl_stamp){r->hlc, r->origin};
}

int cvl_read_msg(convlog_db *db, const cvl_loc *loc, const convlog_uuid *conv, uint32_t seq,
		 convlog_msg **out)
{
	return cvl_read_msgx(db, loc, conv, seq, out, NULL);
}

int cvl_read_msgx(convlog_db *db, const cvl_loc *loc, const convlog_uuid *conv, uint32_t seq,
		  convlog_msg **out, cvl_msg_info *info)
{
	cvl_frame *f = cvl_cache_get(db->cache, loc->seg, loc->frame_off);
	cvl_record r;
	const char *why = NULL;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	if (!f && (rc = load_frame(db, loc, &f)))
		return rc;
	if (loc->rec_idx >= f->nrec) {
		rc = cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: locator names record %u of a %u-record frame",
			     seq, cvl_uuid_str(conv, s), loc->rec_idx, f->nrec);
		goto out;
	}
	const uint8_t *p = f->raw + f->rec_off[loc->rec_idx];
	if (cvl_record_decode(&p, f->raw + f->raw_len, &r, &why) ||
	    !cvl_record_is_msg(r.type)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: locator points at a %s record",
			     seq, cvl_uuid_str(conv, s), cvl_record_type_name(r.type));
		goto out;
	}
	if (info)
		cvl_msg_info_of(&r, info);
	rc = cvl_msg_decode(r.body, r.body_len, out, &why);
	if (rc) {
		if (rc != CONVLOG_ENOMEM)
			rc = cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: %s", seq,
				     cvl_uuid_str(conv, s), why);
		goto out;
	}
	if ((*out)->seq != seq || cvl_uuid_cmp(&(*out)->conv_id, conv) != 0) {
		convlog_msg_free(*out);
		*out = NULL;
		rc = cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: locator points at another message",
			     seq, cvl_uuid_str(conv, s));
	}
out:
	cvl_cache_release(db->cache, f);
	return rc;
}
