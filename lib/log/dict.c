#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "convlog.h"
#include "log/dict.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

static const uint8_t dict_magic[8] = {'C', 'V', 'L', 'D', 'I', 'C', 'T', '\n'};

void cvl_dict_path(char *buf, size_t n, const char *dir, uint32_t id)
{
	snprintf(buf, n, "%s/dict-%08" PRIx32 ".zdict", dir, id);
}

int cvl_dict_parse_name(const char *name, uint32_t *id)
{
	uint32_t v = 0;

	if (strlen(name) != 19 || strncmp(name, "dict-", 5) != 0 || strcmp(name + 13, ".zdict") != 0)
		return -1;
	for (int i = 5; i < 13; i++) {
		char c = name[i];
		int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*id = v;
	return 0;
}

static uint64_t dict_sum(const uint8_t *hdr, const uint8_t *dict, size_t len)
{
	return XXH3_64bits_withSeed(dict, len, XXH3_64bits(hdr, 24));
}

int cvl_dict_write(const char *dir, uint32_t id, const void *dict, size_t len)
{
	char path[4200], tmp[4300];
	uint8_t hdr[CVL_DICT_HEADER] = {0};
	int fd, rc;

	if (len == 0 || len > CVL_DICT_MAX)
		return cvl_err(CONVLOG_EINVAL, "dictionary of %zu bytes is out of range", len);
	memcpy(hdr, dict_magic, 8);
	cvl_put_u32le(hdr + 8, 1);
	cvl_put_u32le(hdr + 12, id);
	cvl_put_u32le(hdr + 16, (uint32_t)len);
	cvl_put_u64le(hdr + 24, dict_sum(hdr, dict, len));
	cvl_dict_path(path, sizeof(path), dir, id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cvl_os_unlink(tmp);
	if ((rc = cvl_os_open(tmp, CVL_O_RDWR | CVL_O_CREATE | CVL_O_EXCL, &fd)))
		return rc;
	rc = cvl_os_pwrite(fd, hdr, sizeof(hdr), 0, tmp);
	if (!rc)
		rc = cvl_os_pwrite(fd, dict, len, sizeof(hdr), tmp);
	if (!rc)
		rc = cvl_os_fdatasync(fd, tmp);
	cvl_os_close(fd);
	if (!rc)
		rc = cvl_os_rename(tmp, path);
	if (!rc)
		rc = cvl_os_fsync_dir(dir);
	if (rc)
		cvl_os_unlink(tmp);
	return rc;
}

int cvl_dict_read(const char *dir, uint32_t id, uint8_t **out, size_t *len)
{
	char path[4200];
	uint8_t hdr[CVL_DICT_HEADER], *d = NULL;
	uint64_t size;
	size_t got;
	int fd, rc;

	*out = NULL;
	*len = 0;
	cvl_dict_path(path, sizeof(path), dir, id);
	if ((rc = cvl_os_open(path, CVL_O_RDONLY, &fd)))
		return rc;
	if ((rc = cvl_os_file_size(fd, &size, path)) ||
	    (rc = cvl_os_pread(fd, hdr, sizeof(hdr), 0, &got, path)))
		goto out;
	uint32_t n = cvl_get_u32le(hdr + 16);
	if (got != sizeof(hdr) || memcmp(hdr, dict_magic, 8) != 0 || cvl_get_u32le(hdr + 8) != 1 ||
	    cvl_get_u32le(hdr + 12) != id || cvl_get_u32le(hdr + 20) != 0 || n == 0 ||
	    n > CVL_DICT_MAX || size != CVL_DICT_HEADER + (uint64_t)n) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: not a valid dictionary file", path);
		goto out;
	}
	if (!(d = cvl_malloc(n))) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory reading %s", path);
		goto out;
	}
	if ((rc = cvl_os_pread(fd, d, n, sizeof(hdr), &got, path)))
		goto out;
	if (got != n || dict_sum(hdr, d, n) != cvl_get_u64le(hdr + 24)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: dictionary checksum mismatch", path);
		goto out;
	}
	*out = d;
	*len = n;
	d = NULL;
out:
	cvl_free(d);
	cvl_os_close(fd);
	return rc;
}
