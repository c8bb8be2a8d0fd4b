/*
 * Helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): scratch
 * directories, files, and checksum fix-ups that let mutated inputs get past
 * the XXH3 checks to the decoders behind them.
 */
#ifndef CVL_FUZZ_COMMON_H
#define CVL_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "log/block.h"
#include "util/codec.h"

/* A fresh directory under $FUZZ_TMPDIR, else /dev/shm when there is one
 * (the stores' fsyncs are free there), else $TMPDIR or /tmp; removed at
 * exit.  Aborts on failure, since a harness without scratch space cannot
 * run. */
static char fz_tmp_root[4096];

static inline void fz_cleanup(void);

static inline void fz_tempdir(char *out, size_t n, const char *tag)
{
	const char *t = getenv("FUZZ_TMPDIR");

	if (!t || !*t)
		t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(out, n, "%s/cvlfuzz-%s-XXXXXX", t && *t ? t : "/tmp", tag);
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		abort();
	}
	if (!fz_tmp_root[0]) {
		snprintf(fz_tmp_root, sizeof(fz_tmp_root), "%s", out);
		atexit(fz_cleanup);
	}
}

/* rm -rf of a directory we made (no symlinks are followed). */
static inline void fz_rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[4096];

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			fz_rmtree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static inline void fz_cleanup(void)
{
	if (fz_tmp_root[0])
		fz_rmtree(fz_tmp_root);
}

static inline void fz_write(const char *path, const uint8_t *a, size_t an, const uint8_t *b,
			    size_t bn)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || (an && write(fd, a, an) != (ssize_t)an) ||
	    (bn && write(fd, b, bn) != (ssize_t)bn)) {
		perror(path);
		abort();
	}
	close(fd);
}

/* Reads a whole file into a malloc'd buffer; NULL if it cannot. */
static inline uint8_t *fz_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n + 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return p;
}

static inline void fz_copy(const char *from, const char *to)
{
	size_t n;
	uint8_t *p = fz_read(from, &n);

	if (!p) {
		perror(from);
		abort();
	}
	fz_write(to, p, n, NULL, 0);
	free(p);
}

/* cp -r of the regular files and directories under `from` into `to`. */
static inline void fz_copytree(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;
	char a[4096], b[4096];

	if (!d || (mkdir(to, 0755) && errno != EEXIST)) {
		perror(from);
		abort();
	}
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
		if (lstat(a, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			fz_copytree(a, b);
		else if (S_ISREG(st.st_mode))
			fz_copy(a, b);
	}
	closedir(d);
}

/*
 * Rewrites the checksums of the blocks laid end to end in b[0..n): each
 * block header's XXH3 (bytes 0..39) and each frame's checksum, as far as
 * the stated lengths stay inside the buffer.  Everything else is left as
 * the fuzzer made it, so every other check still runs.
 */
static inline void fz_fix_blocks(uint8_t *b, size_t n)
{
	size_t off = 0;

	while (n - off >= CVL_BLOCK_HEADER) {
		uint8_t *h = b + off;
		uint32_t body = cvl_get_u32le(h + 12);
		uint16_t frames = cvl_get_u16le(h + 6);
		size_t end, pos = off + CVL_BLOCK_HEADER;

		cvl_put_u64le(h + 40, XXH3_64bits(h, 40));
		end = body > n - pos ? n : pos + body;
		for (unsigned i = 0; i < frames && end - pos >= CVL_FRAME_HEADER; i++) {
			uint32_t stored = cvl_get_u32le(b + pos + 8);
			if (stored > end - pos - CVL_FRAME_HEADER)
				break;
			cvl_put_u64le(b + pos, XXH3_64bits(b + pos + 8, CVL_FRAME_HEADER - 8 + stored));
			pos += CVL_FRAME_HEADER + stored;
		}
		if (body > n - off - CVL_BLOCK_HEADER)
			break;
		off += CVL_BLOCK_HEADER + body;
	}
}

#endif
