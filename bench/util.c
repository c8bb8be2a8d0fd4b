/*
 * util.c - clocks, latency percentiles, directories, RSS, the disk's
 * fdatasync floor, and the checksums both engines must agree on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("convlog-bench: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void bench_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- clocks ---- */

double now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		bench_die("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int64_t wall_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		bench_die("clock_gettime: %s", strerror(errno));
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- latencies ---- */

void lat_init(lat *l, size_t cap)
{
	l->n = 0;
	l->cap = cap ? cap : 16;
	l->v = malloc(l->cap * sizeof(*l->v));
	if (!l->v)
		bench_die("out of memory for latencies");
}

void lat_add(lat *l, double us)
{
	if (l->n == l->cap) {
		double *nv = realloc(l->v, l->cap * 2 * sizeof(*nv));
		if (!nv)
			bench_die("out of memory for latencies");
		l->v = nv;
		l->cap *= 2;
	}
	l->v[l->n++] = us;
}

void lat_merge(lat *dst, const lat *src)
{
	for (size_t i = 0; i < src->n; i++)
		lat_add(dst, src->v[i]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double lat_pct(lat *l, double pct)
{
	size_t k;

	if (!l->n)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_double);
	k = (size_t)(pct / 100.0 * (double)l->n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > l->n)
		k = l->n;
	return l->v[k - 1];
}

void lat_free(lat *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- files ---- */

/* mkdir -p */
void dir_make(const char *path)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			bench_die("mkdir %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		bench_die("mkdir %s: %s", p, strerror(errno));
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if ((flag == FTW_DP ? rmdir(p) : unlink(p)) != 0)
		bench_die("removing %s: %s", p, strerror(errno));
	return 0;
}

void dir_remove(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0 && errno == ENOENT)
		return;
	if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0)
		bench_die("removing %s: %s", path, strerror(errno));
}

static uint64_t du_alloc, du_apparent;

static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)p;
	(void)f;
	if (flag == FTW_F) {
		du_alloc += (uint64_t)st->st_blocks * 512;
		du_apparent += (uint64_t)st->st_size;
	}
	return 0;
}

void dir_usage(const char *path, uint64_t *alloc, uint64_t *apparent)
{
	du_alloc = du_apparent = 0;
	if (nftw(path, du_cb, 16, FTW_PHYS) != 0)
		bench_die("measuring %s: %s", path, strerror(errno));
	*alloc = du_alloc;
	*apparent = du_apparent;
}

void dir_usage_suffix(const char *dir, const char *suffix, uint64_t *alloc, uint64_t *apparent,
		      uint32_t *files)
{
	size_t sl = strlen(suffix);
	struct dirent *de;
	DIR *d = opendir(dir);

	*alloc = *apparent = 0;
	*files = 0;
	if (!d)
		bench_die("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char p[8192];
		struct stat st;
		size_t l = strlen(de->d_name);
		if (l < sl || strcmp(de->d_name + l - sl, suffix))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) != 0)
			bench_die("stat %s: %s", p, strerror(errno));
		if (!S_ISREG(st.st_mode))
			continue;
		*alloc += (uint64_t)st.st_blocks * 512;
		*apparent += (uint64_t)st.st_size;
		(*files)++;
	}
	closedir(d);
}

const char *fs_type_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) != 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xef53UL:
		return "ext4";
	case 0x58465342UL:
		return "xfs";
	case 0x9123683eUL:
		return "btrfs";
	case 0x01021994UL:
		return "tmpfs (fdatasync is free: durable figures are meaningless)";
	case 0x794c7630UL:
		return "overlayfs";
	case 0x2fc12fc1UL:
		return "zfs";
	case 0xf2f52010UL:
		return "f2fs";
	default:
		return "other";
	}
}

/* Peak anonymous memory (RssAnon: heap and anonymous maps, not the
 * page cache of mapped files), sampled every 5 ms by a thread. */
static pthread_t anon_thr;
static atomic_int anon_stop;
static atomic_long anon_peak;

static long rss_anon_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void *anon_loop(void *ud)
{
	(void)ud;
	while (!atomic_load(&anon_stop)) {
		long v = rss_anon_kib();
		if (v > atomic_load(&anon_peak))
			atomic_store(&anon_peak, v);
		usleep(5000);
	}
	return NULL;
}

void anon_sampler_start(void)
{
	atomic_store(&anon_stop, 0);
	atomic_store(&anon_peak, rss_anon_kib());
	if (pthread_create(&anon_thr, NULL, anon_loop, NULL) != 0)
		bench_die("pthread_create: %s", strerror(errno));
}

long anon_sampler_stop(void)
{
	atomic_store(&anon_stop, 1);
	pthread_join(anon_thr, NULL);
	long v = rss_anon_kib();
	return v > atomic_load(&anon_peak) ? v : atomic_load(&anon_peak);
}

long peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		bench_die("getrusage: %s", strerror(errno));
	return ru.ru_maxrss;
}

/* ---- the disk's floor for one durable commit ---- */

void fsync_floor(const char *dir, uint32_t n, size_t size, double *p50, double *p99)
{
	char path[4096], block[4096];
	lat l;
	int fd;

	if (size > sizeof(block))
		bench_die("fsync_floor: size %zu is too big", size);
	snprintf(path, sizeof(path), "%s/fsync-probe", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bench_die("open %s: %s", path, strerror(errno));
	memset(block, 'x', sizeof(block));
	lat_init(&l, n);
	for (uint32_t i = 0; i < n; i++) {
		double t0 = now_us();
		if (pwrite(fd, block, size, (off_t)i * (off_t)size) != (ssize_t)size)
			bench_die("pwrite %s: %s", path, strerror(errno));
		if (fdatasync(fd) != 0)
			bench_die("fdatasync %s: %s", path, strerror(errno));
		lat_add(&l, now_us() - t0);
	}
	close(fd);
	if (unlink(path) != 0)
		bench_die("unlink %s: %s", path, strerror(errno));
	*p50 = lat_pct(&l, 50);
	*p99 = lat_pct(&l, 99);
	lat_free(&l);
}

/* ---- results ---- */

void res_set(results *r, int m, double v)
{
	r->v[m] = v;
	r->have[m] = 1;
}

void res_xset(results *r, int x, double v)
{
	r->x[x] = v;
	r->xhave[x] = 1;
}

uint32_t appends_for_thread(uint32_t total, uint32_t nthreads, uint32_t t)
{
	return total / nthreads + (t < total % nthreads);
}

/* Order-independent per item; the caller sums. */
uint64_t check_msg(uint32_t seq, const char *content, size_t len)
{
	uint64_t h = (uint64_t)seq * 1000003u + len;

	if (len) {
		h += (uint64_t)(unsigned char)content[0] * 31u;
		h += (uint64_t)(unsigned char)content[len / 2] * 37u;
		h += (uint64_t)(unsigned char)content[len - 1] * 41u;
	}
	return mix64(h);
}

uint64_t check_conv(uint32_t pos, int64_t updated_at, const char *title)
{
	return mix64(((uint64_t)pos + 1) * 0x100000001b3ull ^ (uint64_t)updated_at ^
		     (title && title[0] ? (uint64_t)(unsigned char)title[0] << 56 : 0));
}
