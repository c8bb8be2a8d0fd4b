/* The table of open segment files, and reading message records from them
 * through the frame cache. */
#include <string.h>

#include "engine/db.h"
#include "log/block.h"
#include "log/record.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/uuid.h"

int cvl_segs_add(convlog_db *db, uint64_t id, int fd, uint64_t size)
{
	int rc = 0;

	pthread_rwlock_wrlock(&db->seg_lock);
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
	db->segs[i] = (cvl_segfile){.id = id, .fd = fd, .size = size};
	db->nsegs++;
out:
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

void cvl_segs_close(convlog_db *db)
{
	for (size_t i = 0; i < db->nsegs; i++)
		cvl_os_close(db->segs[i].fd);
	cvl_free(db->segs);
	db->segs = NULL;
	db->nsegs = db->segcap = 0;
}

int cvl_seg_fd(convlog_db *db, uint32_t seg, int *fd)
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
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
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
		return cvl_err(CONVLOG_ECORRUPT, "%s: a message locator names this missing segment",
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
	if (cvl_frame_decode(&fh, buf + CVL_FRAME_HEADER, d, raw, &why)) {
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

int cvl_read_msg(convlog_db *db, const cvl_loc *loc, const convlog_uuid *conv, uint32_t seq,
		 convlog_msg **out)
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
