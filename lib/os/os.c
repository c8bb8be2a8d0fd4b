#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convlog.h"
#include "os/os.h"
#include "util/err.h"

/* ---- fault injection ---- */

static _Atomic unsigned fault_mask;
static _Atomic int64_t fault_countdown;
static _Atomic int fault_errno;
static _Atomic int fault_sticky;
static _Atomic int fault_short;
static _Atomic uint64_t fault_hits;
static pthread_t fault_thread;

void cvl_os_fault_set(unsigned mask, int64_t countdown, int err, int sticky,
		      int short_write)
{
	atomic_store(&fault_mask, 0);
	fault_thread = pthread_self();
	atomic_store(&fault_countdown, countdown);
	atomic_store(&fault_errno, err);
	atomic_store(&fault_sticky, sticky);
	atomic_store(&fault_short, short_write);
	atomic_store(&fault_mask, mask);
}

uint64_t cvl_os_fault_hits(void)
{
	return atomic_load(&fault_hits);
}

/* Returns the errno to fail with, or 0. */
static int fault(unsigned kind)
{
	unsigned mask = atomic_load_explicit(&fault_mask, memory_order_acquire);

	if (!(mask & kind))
		return 0;
	/* background threads (flush, merge) leave a foreground fault alone */
	if ((mask & CVL_FAULT_THIS_THREAD) && !pthread_equal(pthread_self(), fault_thread))
		return 0;
	if (atomic_fetch_sub(&fault_countdown, 1) > 0)
		return 0;
	if (!atomic_load(&fault_sticky))
		atomic_store(&fault_mask, 0);
	atomic_fetch_add(&fault_hits, 1);
	return atomic_load(&fault_errno);
}

int cvl_os_fault_check(unsigned kind)
{
	return fault(kind);
}

static void (*_Atomic read_hook)(void *);
static void *read_hook_ud;
static _Atomic uint64_t read_hook_off;

void cvl_os_fault_read_hook(uint64_t off, void (*fn)(void *), void *ud)
{
	atomic_store(&read_hook, NULL);
	read_hook_ud = ud;
	atomic_store(&read_hook_off, off);
	atomic_store(&read_hook, fn);
}

/* Runs the read hook, once, after a read at its offset. */
static void after_read(uint64_t off)
{
	void (*fn)(void *) = atomic_load_explicit(&read_hook, memory_order_acquire);

	if (fn && off == atomic_load(&read_hook_off) &&
	    atomic_compare_exchange_strong(&read_hook, &fn, NULL))
		fn(read_hook_ud);
}

static int oserr(int e, const char *op, const char *path)
{
	int code = (e == ENOSPC || e == EDQUOT) ? CONVLOG_ENOSPC : CONVLOG_EIO;

	if (e == ENOENT)
		code = CONVLOG_ENOTFOUND;
	return cvl_err(code, "%s %s: %s", op, path ? path : "?", cvl_errno_str(e));
}

/* ---- files ---- */

int cvl_os_open(const char *path, int flags, int *fd)
{
	int of = O_CLOEXEC;
	int e = fault(CVL_FAULT_OPEN);

	if (e)
		return oserr(e, "open", path);
	of |= (flags & CVL_O_RDWR) ? O_RDWR : O_RDONLY;
	if (flags & CVL_O_CREATE)
		of |= O_CREAT;
	if (flags & CVL_O_EXCL)
		of |= O_EXCL;
	do {
		*fd = open(path, of, 0644);
	} while (*fd < 0 && errno == EINTR);
	if (*fd < 0) {
		if (errno == EEXIST)
			return cvl_err(CONVLOG_EEXIST, "open %s: file exists", path);
		return oserr(errno, "open", path);
	}
	return 0;
}

void cvl_os_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int cvl_os_pread(int fd, void *buf, size_t n, uint64_t off, size_t *got,
		 const char *path)
{
	size_t done = 0;
	int e = fault(CVL_FAULT_READ);

	if (e)
		return oserr(e, "read", path);
	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return oserr(errno, "read", path);
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	after_read(off);
	return 0;
}

int cvl_os_pwrite(int fd, const void *buf, size_t n, uint64_t off, const char *path)
{
	size_t done = 0;
	int e = fault(CVL_FAULT_WRITE);

	if (e) {
		if (atomic_load(&fault_short) && n > 1)
			(void)!pwrite(fd, buf, n / 2, (off_t)off);
		return oserr(e, "write", path);
	}
	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return oserr(errno, "write", path);
		}
		done += (size_t)r;
	}
	return 0;
}

int cvl_os_fdatasync(int fd, const char *path)
{
	int e = fault(CVL_FAULT_SYNC);

	if (e)
		return oserr(e, "fdatasync", path);
	if (fdatasync(fd) != 0)
		return oserr(errno, "fdatasync", path);
	return 0;
}

int cvl_os_fsync(int fd, const char *path)
{
	int e = fault(CVL_FAULT_SYNC);

	if (e)
		return oserr(e, "fsync", path);
	if (fsync(fd) != 0)
		return oserr(errno, "fsync", path);
	return 0;
}

int cvl_os_ftruncate(int fd, uint64_t size, const char *path)
{
	int e = fault(CVL_FAULT_TRUNC);

	if (e)
		return oserr(e, "ftruncate", path);
	if (ftruncate(fd, (off_t)size) != 0)
		return oserr(errno, "ftruncate", path);
	return 0;
}

int cvl_os_file_size(int fd, uint64_t *size, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return oserr(errno, "stat", path);
	*size = (uint64_t)st.st_size;
	return 0;
}

int cvl_os_path_size(const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return oserr(errno, "stat", path);
	*size = (uint64_t)st.st_size;
	return 0;
}

int cvl_os_rename(const char *from, const char *to)
{
	int e = fault(CVL_FAULT_RENAME);

	if (e)
		return oserr(e, "rename", from);
	if (rename(from, to) != 0)
		return oserr(errno, "rename", from);
	return 0;
}

int cvl_os_unlink(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return oserr(errno, "unlink", path);
	return 0;
}

int cvl_os_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* ---- memory maps ---- */

int cvl_os_mmap_file(int fd, size_t len, void **out, const char *path)
{
	int e = fault(CVL_FAULT_MMAP);
	void *m;

	*out = NULL;
	if (!e) {
		m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			*out = m;
			return 0;
		}
		e = errno;
	}
	if (e == ENOMEM)
		return cvl_err(CONVLOG_ENOMEM, "mmap %s: %s", path ? path : "?", cvl_errno_str(e));
	return oserr(e, "mmap", path);
}

void cvl_os_munmap(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int cvl_os_probe_map(size_t len)
{
	int e = fault(CVL_FAULT_MMAP);
	void *m;

	if (e)
		return e;
	m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return errno ? errno : ENOMEM;
	munmap(m, len);
	return 0;
}

/* ---- directories ---- */

int cvl_os_mkdir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return oserr(errno, "mkdir", path);
	return 0;
}

int cvl_os_fsync_dir(const char *path)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return oserr(errno, "open directory", path);
	rc = cvl_os_fsync(fd, path);
	close(fd);
	return rc;
}

int cvl_os_listdir(const char *path, int (*fn)(void *ud, const char *name), void *ud)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return oserr(errno, "open directory", path);
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = fn(ud, de->d_name);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

/* ---- locks ---- */

int cvl_os_lock(const char *path, int exclusive, int *fd)
{
	int rc = cvl_os_open(path, CVL_O_RDWR | CVL_O_CREATE, fd);

	if (rc)
		return rc;
	if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return cvl_err(CONVLOG_ELOCKED,
				       "%s is held by another process that has the store open for writing",
				       path);
		return oserr(e, "flock", path);
	}
	return 0;
}

int cvl_os_flock(int fd, int exclusive, int wait)
{
	int r;

	do {
		r = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB));
	} while (r != 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return CONVLOG_ELOCKED;
	return oserr(errno, "flock", "lock file");
}

/* ---- time and randomness ---- */

int64_t cvl_os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cvl_os_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cvl_os_random(void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = getrandom((char *)buf + done, n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return cvl_err(CONVLOG_EIO, "getrandom: %s", cvl_errno_str(errno));
		}
		done += (size_t)r;
	}
	return 0;
}
