#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "convlog.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/codec.h"
#include "util/err.h"

static const uint8_t seg_magic[8] = {'C', 'V', 'L', 'S', 'E', 'G', '\r', '\n'};

void cvl_seg_path(char *buf, size_t n, const char *dir, uint64_t id)
{
	snprintf(buf, n, "%s/%016" PRIx64 ".seg", dir, id);
}

void cvl_seg_tmp_path(char *buf, size_t n, const char *dir, uint64_t id)
{
	snprintf(buf, n, "%s/%016" PRIx64 ".seg.tmp", dir, id);
}

static int parse_hex16(const char *name, uint64_t *id);

int cvl_seg_parse_tmp_name(const char *name, uint64_t *id)
{
	if (strlen(name) != 24 || strcmp(name + 16, ".seg.tmp") != 0)
		return -1;
	return parse_hex16(name, id);
}

int cvl_seg_parse_name(const char *name, uint64_t *id)
{
	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return -1;
	return parse_hex16(name, id);
}

static int parse_hex16(const char *name, uint64_t *id)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

void cvl_seg_header_encode(const cvl_seg_header *h, uint8_t out[CVL_SEG_HEADER])
{
	memset(out, 0, CVL_SEG_HEADER);
	memcpy(out, seg_magic, 8);
	cvl_put_u32le(out + 8, h->version);
	cvl_put_u32le(out + 12, h->flags);
	cvl_put_u64le(out + 16, h->id);
	memcpy(out + 24, h->store_id, 16);
	cvl_put_u64le(out + 40, (uint64_t)h->created_at);
	cvl_put_u64le(out + 56, XXH3_64bits(out, 56));
}

int cvl_seg_header_decode(const uint8_t in[CVL_SEG_HEADER], cvl_seg_header *h,
			  const char *path)
{
	if (memcmp(in, seg_magic, 8) != 0)
		return cvl_err(CONVLOG_ECORRUPT, "%s offset 0: not a convlog segment (bad magic)",
			       path);
	if (cvl_get_u64le(in + 56) != XXH3_64bits(in, 56))
		return cvl_err(CONVLOG_ECORRUPT, "%s offset 0: segment header checksum mismatch",
			       path);
	h->version = cvl_get_u32le(in + 8);
	h->flags = cvl_get_u32le(in + 12);
	if (h->version != CVL_SEG_VERSION)
		return cvl_err(CONVLOG_EVERSION, "%s: segment format version %u, this library reads %u",
			       path, h->version, CVL_SEG_VERSION);
	if ((h->flags & ~CVL_SEGF_KNOWN) != 0 ||
	    (h->flags & CVL_SEGF_COLD && !(h->flags & CVL_SEGF_COMPACT)) ||
	    cvl_get_u64le(in + 48) != 0)
		return cvl_err(CONVLOG_ECORRUPT, "%s offset 0: reserved header bits are set", path);
	h->id = cvl_get_u64le(in + 16);
	memcpy(h->store_id, in + 24, 16);
	h->created_at = (int64_t)cvl_get_u64le(in + 40);
	return 0;
}

int cvl_seg_create(const char *dir, uint64_t id, const uint8_t store_id[16],
		   int64_t now_ms, int *fd)
{
	char path[CVL_SEG_NAME_MAX];
	uint8_t hdr[CVL_SEG_HEADER];
	cvl_seg_header h = {.version = CVL_SEG_VERSION, .id = id, .created_at = now_ms};
	int rc;

	memcpy(h.store_id, store_id, 16);
	cvl_seg_path(path, sizeof(path), dir, id);
	rc = cvl_os_open(path, CVL_O_RDWR | CVL_O_CREATE | CVL_O_EXCL, fd);
	if (rc)
		return rc;
	cvl_seg_header_encode(&h, hdr);
	rc = cvl_os_pwrite(*fd, hdr, sizeof(hdr), 0, path);
	if (!rc)
		rc = cvl_os_fdatasync(*fd, path);
	if (!rc)
		rc = cvl_os_fsync_dir(dir);
	if (rc) {
		cvl_os_close(*fd);
		*fd = -1;
		cvl_os_unlink(path);
	}
	return rc;
}

int cvl_seg_create_tmp(const char *dir, uint64_t id, const uint8_t store_id[16],
		       int64_t now_ms, uint32_t flags, int *fd)
{
	char path[CVL_SEG_NAME_MAX];
	uint8_t hdr[CVL_SEG_HEADER];
	cvl_seg_header h = {.version = CVL_SEG_VERSION, .flags = flags, .id = id,
			    .created_at = now_ms};
	int rc;

	memcpy(h.store_id, store_id, 16);
	cvl_seg_tmp_path(path, sizeof(path), dir, id);
	cvl_os_unlink(path);
	if ((rc = cvl_os_open(path, CVL_O_RDWR | CVL_O_CREATE | CVL_O_EXCL, fd)))
		return rc;
	cvl_seg_header_encode(&h, hdr);
	if ((rc = cvl_os_pwrite(*fd, hdr, sizeof(hdr), 0, path))) {
		cvl_os_close(*fd);
		*fd = -1;
		cvl_os_unlink(path);
	}
	return rc;
}

int cvl_seg_publish(const char *dir, uint64_t id, int fd)
{
	char tmp[CVL_SEG_NAME_MAX], path[CVL_SEG_NAME_MAX];
	int rc;

	cvl_seg_tmp_path(tmp, sizeof(tmp), dir, id);
	cvl_seg_path(path, sizeof(path), dir, id);
	if ((rc = cvl_os_fdatasync(fd, tmp)) || (rc = cvl_os_rename(tmp, path)))
		return rc;
	return cvl_os_fsync_dir(dir);
}

int cvl_seg_open(const char *dir, uint64_t id, const uint8_t store_id[16], int rw,
		 int *fd, uint64_t *size, uint32_t *flags)
{
	char path[CVL_SEG_NAME_MAX];
	uint8_t hdr[CVL_SEG_HEADER];
	cvl_seg_header h;
	size_t got;
	int rc;

	cvl_seg_path(path, sizeof(path), dir, id);
	rc = cvl_os_open(path, rw ? CVL_O_RDWR : CVL_O_RDONLY, fd);
	if (rc)
		return rc;
	rc = cvl_os_file_size(*fd, size, path);
	if (rc)
		goto out;
	rc = cvl_os_pread(*fd, hdr, sizeof(hdr), 0, &got, path);
	if (rc)
		goto out;
	if (got < sizeof(hdr)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: segment shorter than its %d-byte header", path,
			     CVL_SEG_HEADER);
		goto out;
	}
	rc = cvl_seg_header_decode(hdr, &h, path);
	if (rc)
		goto out;
	if (h.id != id) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: header names segment %" PRIu64, path, h.id);
		goto out;
	}
	if (memcmp(h.store_id, store_id, 16) != 0)
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: segment belongs to another store", path);
	if (flags)
		*flags = h.flags;
out:
	if (rc) {
		cvl_os_close(*fd);
		*fd = -1;
	}
	return rc;
}
