/* Every system call of the library goes through here.  Functions return 0
 * or a CONVLOG_E* code with the message naming the path and errno. */
#ifndef CVL_OS_OS_H
#define CVL_OS_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- files ---- */
#define CVL_O_RDONLY 0
#define CVL_O_RDWR 1
#define CVL_O_CREATE 2 /* create if missing */
#define CVL_O_EXCL 4   /* fail if it exists */

int cvl_os_open(const char *path, int flags, int *fd);
void cvl_os_close(int fd);
/* Reads up to n bytes at off; *got < n only at end of file. */
int cvl_os_pread(int fd, void *buf, size_t n, uint64_t off, size_t *got,
		 const char *path);
/* Writes all n bytes at off (retrying short writes). */
int cvl_os_pwrite(int fd, const void *buf, size_t n, uint64_t off,
		  const char *path);
int cvl_os_fdatasync(int fd, const char *path);
int cvl_os_fsync(int fd, const char *path);
int cvl_os_ftruncate(int fd, uint64_t size, const char *path);
int cvl_os_file_size(int fd, uint64_t *size, const char *path);
int cvl_os_path_size(const char *path, uint64_t *size); /* ENOTFOUND if absent */
int cvl_os_rename(const char *from, const char *to);
int cvl_os_unlink(const char *path);
int cvl_os_exists(const char *path); /* 1 yes, 0 no */

/* ---- memory maps ---- */
/* Maps `len` bytes of fd read-only and shared (CONVLOG_ENOMEM when the
 * address space is short, CONVLOG_EIO otherwise); cvl_os_munmap undoes it. */
int cvl_os_mmap_file(int fd, size_t len, void **out, const char *path);
void cvl_os_munmap(void *p, size_t len);
/* Whether `len` bytes of address space can be reserved now (an
 * inaccessible mapping, made and dropped): 0, or the errno (ENOMEM) that a
 * map of that size would meet.  CVL_FAULT_MMAP fails it. */
int cvl_os_probe_map(size_t len);

/* ---- directories ---- */
int cvl_os_mkdir(const char *path); /* ok if it exists */
int cvl_os_fsync_dir(const char *path);
/* Calls fn for every entry name except . and ..; stops on non-zero. */
int cvl_os_listdir(const char *path, int (*fn)(void *ud, const char *name),
		   void *ud);

/* ---- locks ---- */
/* Exclusive (or shared) non-blocking flock. CONVLOG_ELOCKED if held. */
int cvl_os_lock(const char *path, int exclusive, int *fd);
/* flock on an open fd: shared or exclusive, waiting or not
 * (CONVLOG_ELOCKED when it would wait). */
int cvl_os_flock(int fd, int exclusive, int wait);

/* ---- time and randomness ---- */
int64_t cvl_os_now_ms(void);      /* wall clock, ms since epoch */
uint64_t cvl_os_mono_ns(void);    /* monotonic */
int cvl_os_random(void *buf, size_t n);

/* ---- fault injection (tests) ---- */
#define CVL_FAULT_WRITE 0x01
#define CVL_FAULT_SYNC 0x02
#define CVL_FAULT_TRUNC 0x04
#define CVL_FAULT_RENAME 0x08
#define CVL_FAULT_OPEN 0x10
#define CVL_FAULT_READ 0x20
#define CVL_FAULT_META 0x40 /* an LMDB write transaction's commit (cvl_lmdb_commit) */
#define CVL_FAULT_MMAP 0x80 /* mapping a file or growing a map */
#define CVL_FAULT_THIS_THREAD 0x100 /* only calls from the thread that set it */

/* After `countdown` more calls of the kinds in `mask`, fail one with errno
 * `err` (and all later ones when `sticky`).  With `short_write`, a failing
 * write first writes half its bytes.  mask 0 disables. */
void cvl_os_fault_set(unsigned mask, int64_t countdown, int err, int sticky,
		      int short_write);
uint64_t cvl_os_fault_hits(void);
/* For seams outside this file: the errno to fail a call of `kind` with
 * under the injected fault, or 0 to go ahead. */
int cvl_os_fault_check(unsigned kind);
/* Calls fn(ud) once, right after the next cvl_os_pread at offset `off` (of
 * any file) has read: a test's stand-in for another process writing while
 * this one reads.  fn NULL disables. */
void cvl_os_fault_read_hook(uint64_t off, void (*fn)(void *), void *ud);

#endif
