/*
 * The compactor through the public API: random operations (and crashes
 * around compactions) against an in-memory model, space coming back after
 * supersedes and purges, archived conversations going to cold segments
 * with a dictionary, readers (and open iterators) during compactions, and
 * purged data leaving no byte in any file of the store: every file is
 * scanned raw, and every frame of every segment is decoded and scanned
 * too (lib/log internals), including after a purge that races a
 * compaction, of an archived conversation whose turns trained a cold
 * dictionary, and without an explicit index merge.
 */
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "log/block.h"
#include "log/segment.h"
#include "testutil.h"

static char path[256];
static convlog_db *db;
static double t_setup;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);

	/* the LMDB rewrite maps a second environment of the same size: keep
	 * the reservation small enough for -fsanitize=thread builds */
	CK_OK(convlog_options_set_map_size(o, 4ull << 30));
	return o;
}

static void setup(void)
{
	convlog_options *o = opts();

	t_setup = now_s();
	tu_tmppath(path, sizeof(path), "compact");
	db = tu_open(path, o);
	convlog_options_free(o);
}

static void teardown(void)
{
	convlog_close(db);
	db = NULL;
	tu_rmrf(path);
	fprintf(stderr, "(%.1f s)\n", now_s() - t_setup);
}

static void reopen(void)
{
	convlog_options *o = opts();

	convlog_close(db);
	db = tu_open(path, o);
	convlog_options_free(o);
}

/* ---- the segment directory ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Files of STORE/segments whose name ends with `suffix`; *bytes (optional)
 * gets their total size. */
static size_t seg_files(const char *suffix, uint64_t *bytes)
{
	char dir[300], f[600];
	struct dirent *e;
	struct stat sb;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/segments", path);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	if (bytes)
		*bytes = 0;
	while ((e = readdir(d)) != NULL) {
		if (!ends_with(e->d_name, suffix))
			continue;
		n++;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		if (bytes && stat(f, &sb) == 0)
			*bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	return n;
}

/* Segment files by header flags: [0] log, [1] compacted warm, [3] cold. */
static void seg_kinds(size_t kinds[4])
{
	char dir[300], f[600];
	struct dirent *e;
	DIR *d;

	memset(kinds, 0, 4 * sizeof(*kinds));
	snprintf(dir, sizeof(dir), "%s/segments", path);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		unsigned char h[16];
		if (!ends_with(e->d_name, ".seg"))
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		FILE *fp = fopen(f, "rb");
		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fread(h, 1, 16, fp), 16);
		fclose(fp);
		uint32_t flags = (uint32_t)h[12] | (uint32_t)h[13] << 8 | (uint32_t)h[14] << 16 |
				 (uint32_t)h[15] << 24;
		ck_assert_msg(flags <= 3, "%s has header flags %u", e->d_name, flags);
		kinds[flags]++;
	}
	closedir(d);
}

/* Cold segments whose first block names no dictionary; fails when one
 * names a dictionary whose file is missing. */
static size_t cold_without_dict(void)
{
	char dir[300], f[600];
	struct dirent *e;
	size_t none = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/segments", path);
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		unsigned char h[CVL_SEG_HEADER + CVL_BLOCK_HEADER];
		if (!ends_with(e->d_name, ".seg"))
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		FILE *fp = fopen(f, "rb");
		ck_assert_ptr_nonnull(fp);
		size_t got = fread(h, 1, sizeof(h), fp);
		fclose(fp);
		if (got < 16 || h[12] != 3)
			continue;
		ck_assert_uint_eq(got, sizeof(h));
		const unsigned char *b = h + CVL_SEG_HEADER + 32; /* block header: dict_id */
		uint32_t id = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		if (!id) {
			none++;
			continue;
		}
		snprintf(f, sizeof(f), "%s/dict-%08x.zdict", dir, id);
		ck_assert_msg(access(f, F_OK) == 0, "%s needs dictionary %08x, which is missing", e->d_name, id);
	}
	closedir(d);
	return none;
}

static convlog_compact_stats compact_with(unsigned flags, convlog_progress_fn fn, void *ud)
{
	convlog_compact_opts o;
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};
	uint64_t bytes;

	convlog_compact_opts_init(&o);
	o.flags = flags;
	CK_OK(convlog_compact(db, &o, fn, ud, &st));
	ck_assert_uint_eq(st.version, CONVLOG_COMPACT_VERSION);
	ck_assert_uint_le(st.segments_rewritten, st.segments_planned);
	ck_assert_uint_le(st.cold_segments_written, st.segments_written);
	ck_assert_msg(seg_files(".tmp", NULL) == 0, "a *.tmp file is left in segments/");
	ck_assert_uint_eq(seg_files(".seg", &bytes), st.segments_after);
	return st;
}

static convlog_compact_stats compact(unsigned flags)
{
	return compact_with(flags, NULL, NULL);
}

/* ---- a model of the store ---- */

typedef struct mtext {
	char *s;
	size_t n;
} mtext;

typedef struct mconv {
	convlog_uuid id;
	int status, prev;
	int purged;
	int pinned; /* not picked for random writes */
	mtext *m;
	size_t n, cap;
} mconv;

#define MAXC 256
static mconv M[MAXC];
static size_t NM;

static void model_free(void)
{
	for (size_t i = 0; i < NM; i++) {
		for (size_t j = 0; j < M[i].n; j++)
			free(M[i].m[j].s);
		free(M[i].m);
	}
	memset(M, 0, sizeof(M));
	NM = 0;
}

static size_t model_new(const convlog_uuid *id)
{
	ck_assert_uint_lt(NM, MAXC);
	memset(&M[NM], 0, sizeof(M[NM]));
	M[NM].id = *id;
	M[NM].status = CONVLOG_STATUS_ACTIVE;
	return NM++;
}

static void model_push(mconv *c, const char *s, size_t n)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->m = realloc(c->m, c->cap * sizeof(*c->m));
		ck_assert_ptr_nonnull(c->m);
	}
	c->m[c->n].s = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(c->m[c->n].s);
	memcpy(c->m[c->n].s, s, n);
	c->m[c->n].n = n;
	c->n++;
}

static void model_set(mconv *c, uint32_t seq, const char *s, size_t n)
{
	mtext *t = &c->m[seq - 1];

	free(t->s);
	t->s = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(t->s);
	memcpy(t->s, s, n);
	t->n = n;
}

static uint32_t append(mconv *c, convlog_txn *t, const char *role, const char *s, size_t n)
{
	convlog_msg m;
	uint32_t seq = 0;

	convlog_msg_init(&m);
	m.conv_id = c->id;
	m.role = role;
	m.content = s;
	m.content_len = n;
	CK_OK(convlog_msg_append(db, t, &m, &seq));
	return seq;
}

static void supersede(mconv *c, convlog_txn *t, uint32_t seq, const char *s, size_t n)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.content = s;
	m.content_len = n;
	CK_OK(convlog_msg_supersede(db, t, &c->id, seq, &m, CONVLOG_MSG_CONTENT));
	model_set(c, seq, s, n);
}

static void check_conv(const mconv *c)
{
	char ids[CONVLOG_UUID_STRLEN];
	convlog_msg_iter *it;
	const convlog_msg *m;
	convlog_conv *cv;
	convlog_msg *one;
	size_t i = 0;
	int rc;

	convlog_uuid_format(&c->id, ids);
	if (c->purged) {
		CK_ERR(convlog_conv_get(db, &c->id, &cv), CONVLOG_ENOTFOUND);
		CK_ERR(convlog_msg_range(db, &c->id, CONVLOG_RANGE_ALL, 0, 0, &it), CONVLOG_ENOTFOUND);
		CK_ERR(convlog_msg_get(db, &c->id, 1, &one), CONVLOG_ENOTFOUND);
		return;
	}
	CK_OK(convlog_conv_get(db, &c->id, &cv));
	ck_assert_msg(cv->status == c->status, "%s: status %d, model %d", ids, cv->status, c->status);
	ck_assert_msg(cv->message_count == c->n, "%s: %llu messages, model %zu", ids,
		      (unsigned long long)cv->message_count, c->n);
	convlog_conv_free(cv);
	CK_OK(convlog_msg_range(db, &c->id, CONVLOG_RANGE_ALL, 0, 0, &it));
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		ck_assert_msg(i < c->n, "%s: more messages than the model", ids);
		ck_assert_msg(m->seq == i + 1, "%s: seq %u at position %zu", ids, m->seq, i + 1);
		ck_assert_msg(m->content_len == c->m[i].n &&
				      (m->content_len == 0 || !memcmp(m->content, c->m[i].s, c->m[i].n)),
			      "%s seq %u: content of %zu bytes differs from the model's %zu", ids, m->seq,
			      m->content_len, c->m[i].n);
		i++;
	}
	ck_assert_msg(rc == CONVLOG_DONE, "%s: iterator -> %d: %s", ids, rc, convlog_errmsg());
	convlog_msg_iter_free(it);
	ck_assert_msg(i == c->n, "%s: %zu messages read, model %zu", ids, i, c->n);
	if (c->n) {
		uint32_t seq = (uint32_t)(c->n + 1) / 2;
		CK_OK(convlog_msg_get(db, &c->id, seq, &one));
		ck_assert(one->content_len == c->m[seq - 1].n &&
			  !memcmp(one->content, c->m[seq - 1].s, one->content_len));
		convlog_msg_free(one);
	}
}

static void check_model(void)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	uint64_t live = 0;

	for (size_t i = 0; i < NM; i++) {
		check_conv(&M[i]);
		if (!M[i].purged)
			live += M[i].n;
	}
	CK_OK(convlog_stats_get(db, &s));
	ck_assert_uint_eq(s.messages, live);
	tu_verify_clean(db);
	ck_assert_msg(seg_files(".tmp", NULL) == 0, "a *.tmp file is left in segments/");
}

/* Random UTF-8 text of about `target` bytes (some non-ASCII, a rare NUL). */
static size_t gen_text(uint64_t *rs, char *out, size_t target)
{
	static const char *pieces[] = {"é", "ü", "ß", "日本語", "中文の", "🙂", "Ω", "ñ",
				       "Привет", "—", "∑", "\n", ", ", ". ", "ǅ", "한국어"};
	size_t n = 0;

	while (n < target) {
		uint64_t r = tu_rand(rs) % 100;
		if (r < 72) {
			size_t w = 1 + tu_rand(rs) % 9;
			for (size_t i = 0; i < w; i++)
				out[n++] = (char)('a' + tu_rand(rs) % 26);
			out[n++] = ' ';
		} else if (r < 97) {
			const char *p = pieces[tu_rand(rs) % (sizeof(pieces) / sizeof(*pieces))];
			memcpy(out + n, p, strlen(p));
			n += strlen(p);
		} else if (r < 98) {
			out[n++] = '\0';
		} else {
			n += (size_t)sprintf(out + n, "%u", (unsigned)(tu_rand(rs) % 100000));
		}
	}
	return n;
}

/* A random content length: mostly small, some of a few KB, a few large. */
static size_t gen_len(uint64_t *rs)
{
	uint64_t r = tu_rand(rs) % 100;

	if (r < 65)
		return 20 + tu_rand(rs) % 600;
	if (r < 94)
		return 1000 + tu_rand(rs) % 4000;
	return 8000 + tu_rand(rs) % 24000;
}

/* ---- 1. random operations against the model ---- */

static int is_inactive(int s)
{
	return s >= CONVLOG_STATUS_INACTIVE_TIMEOUT && s <= CONVLOG_STATUS_COMPLETED;
}

enum { P_ANY, P_WRITABLE, P_ACTIVE, P_INACTIVE, P_ARCHIVABLE, P_ARCHIVED, P_DELETED, P_LIVE_NOT_DELETED };

static int fits(const mconv *c, int pred)
{
	if (c->purged || c->pinned)
		return 0;
	switch (pred) {
	case P_WRITABLE:
		return c->status != CONVLOG_STATUS_ARCHIVED && c->status != CONVLOG_STATUS_DELETED;
	case P_ACTIVE:
		return c->status == CONVLOG_STATUS_ACTIVE;
	case P_INACTIVE:
		return is_inactive(c->status);
	case P_ARCHIVABLE:
		return c->status >= CONVLOG_STATUS_ACTIVE && c->status <= CONVLOG_STATUS_COMPLETED;
	case P_ARCHIVED:
		return c->status == CONVLOG_STATUS_ARCHIVED;
	case P_DELETED:
		return c->status == CONVLOG_STATUS_DELETED;
	case P_LIVE_NOT_DELETED:
		return c->status != CONVLOG_STATUS_DELETED;
	default:
		return 1;
	}
}

static mconv *pick(uint64_t *rs, int pred)
{
	size_t cand[MAXC], n = 0;

	for (size_t i = 0; i < NM; i++)
		if (fits(&M[i], pred))
			cand[n++] = i;
	return n ? &M[cand[tu_rand(rs) % n]] : NULL;
}

/* What the compactions of the random runs did, summed. */
static convlog_compact_stats sum;
static uint64_t n_erased, n_crashes;

static void add_stats(const convlog_compact_stats *st)
{
	sum.segments_planned += st->segments_planned;
	sum.segments_rewritten += st->segments_rewritten;
	sum.segments_written += st->segments_written;
	sum.cold_segments_written += st->cold_segments_written;
	sum.records_moved += st->records_moved;
	n_erased += st->erased != 0;
}

/* Appends k random turns to c: on the store (the crashing child), or to
 * the model (the parent); the same generator state gives both the same
 * text.  0 or a convlog error (no ck_assert in the child). */
static int crash_appends(mconv *c, uint64_t *rs, int k, int on_db, char *buf)
{
	for (int i = 0; i < k; i++) {
		size_t n = gen_text(rs, buf, gen_len(rs));
		if (on_db) {
			convlog_msg m;
			convlog_msg_init(&m);
			m.conv_id = c->id;
			m.role = "user";
			m.content = buf;
			m.content_len = n;
			int rc = convlog_msg_append(db, NULL, &m, NULL);
			if (rc)
				return rc;
		} else {
			model_push(c, buf, n);
		}
	}
	return 0;
}

static int die_at_the_start(void *ud, uint64_t done, uint64_t total)
{
	(void)ud;
	(void)done;
	(void)total;
	_exit(0);
}

static int die_at_the_end(void *ud, uint64_t done, uint64_t total)
{
	(void)ud;
	if (total > 0 && done == total)
		_exit(0);
	return 0;
}

/*
 * A crash around a compaction: a child process opens the store (with a
 * memtable large enough that nothing is flushed on its own), appends k1
 * turns, syncs, compacts, and either appends k2 more turns, syncs and
 * dies without closing (mode 0), or dies inside the compaction: after its
 * victims are dropped (mode 1, the last progress report) or after it
 * sealed and flushed, before it copies anything (mode 2, the first).  The
 * parent reopens (recovery replays the log from where the compaction left
 * it) and checks the model.
 */
static void crash_op(mconv *c, uint64_t *rs, unsigned flags, char *buf)
{
	int mode = (int)(tu_rand(rs) % 3), k1 = 1 + (int)(tu_rand(rs) % 6), k2 = 1 + (int)(tu_rand(rs) % 6);
	uint64_t crs = *rs;
	pid_t pid;
	int st;

	convlog_close(db);
	db = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		convlog_options *o = opts();
		convlog_compact_opts co;
		if (convlog_options_set_memtable_size(o, 16u << 20) ||
		    convlog_options_set_flush_interval_ms(o, 3600000) || convlog_open(path, o, &db))
			_exit(2);
		if (crash_appends(c, &crs, k1, 1, buf) || convlog_sync(db))
			_exit(3);
		convlog_compact_opts_init(&co);
		co.flags = flags;
		if (convlog_compact(db, &co, mode == 1 ? die_at_the_end : mode == 2 ? die_at_the_start : NULL,
				    NULL, NULL))
			_exit(4);
		if (mode == 0 && (crash_appends(c, &crs, k2, 1, buf) || convlog_sync(db)))
			_exit(5);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "crashing child: status %d", st);
	crash_appends(c, rs, k1, 0, buf);
	if (mode == 0)
		crash_appends(c, rs, k2, 0, buf);
	if (is_inactive(c->status))
		c->status = CONVLOG_STATUS_ACTIVE;
	convlog_options *o = opts();
	db = tu_open(path, o);
	convlog_options_free(o);
}

static void random_run(uint64_t seed, int nops, uint64_t *ncompact)
{
	uint64_t rs = seed;
	char *buf = malloc(64 << 10);
	static const unsigned cflags[] = {0, CONVLOG_COMPACT_FULL, CONVLOG_COMPACT_ARCHIVE,
					  CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE};
	int nconv = 0;

	ck_assert_ptr_nonnull(buf);
	model_free();
	for (int op = 0; op < nops; op++) {
		uint64_t r = tu_rand(&rs) % 100;
		mconv *c;
		convlog_txn *t;

		if (NM == 0 || r < 6) {
			convlog_conv cv;
			convlog_uuid id;
			char title[64];
			convlog_conv_init(&cv);
			snprintf(title, sizeof(title), "conversation %d of seed %llu", nconv++,
				 (unsigned long long)seed);
			cv.title = title;
			CK_OK(convlog_conv_create(db, NULL, &cv, &id));
			model_new(&id);
		} else if (r < 42) { /* a batch of appends in one transaction */
			if (!(c = pick(&rs, P_WRITABLE)))
				continue;
			int k = 1 + (int)(tu_rand(&rs) % 10);
			CK_OK(convlog_txn_begin(db, &t));
			for (int i = 0; i < k; i++) {
				size_t n = gen_text(&rs, buf, gen_len(&rs));
				uint32_t seq = append(c, t, i % 2 ? "assistant" : "user", buf, n);
				ck_assert_uint_eq(seq, c->n + 1);
				model_push(c, buf, n);
			}
			CK_OK(convlog_txn_commit(t));
			if (is_inactive(c->status))
				c->status = CONVLOG_STATUS_ACTIVE;
		} else if (r < 45) { /* writes the lifecycle refuses */
			if (!(c = pick(&rs, tu_rand(&rs) % 2 ? P_ARCHIVED : P_DELETED)))
				continue;
			convlog_msg m;
			convlog_msg_init(&m);
			m.conv_id = c->id;
			m.role = "user";
			m.content = "refused";
			m.content_len = 7;
			CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ETRANSITION);
			if (c->n)
				CK_ERR(convlog_msg_supersede(db, NULL, &c->id, 1, &m, CONVLOG_MSG_CONTENT),
				       CONVLOG_ETRANSITION);
		} else if (r < 58) {
			if (!(c = pick(&rs, P_WRITABLE)) || c->n == 0)
				continue;
			uint32_t seq = 1 + (uint32_t)(tu_rand(&rs) % c->n);
			size_t n = gen_text(&rs, buf, gen_len(&rs));
			supersede(c, NULL, seq, buf, n);
		} else if (r < 62) {
			if (!(c = pick(&rs, P_ACTIVE)))
				continue;
			int st = CONVLOG_STATUS_INACTIVE_TIMEOUT + (int)(tu_rand(&rs) % 4);
			CK_OK(convlog_conv_set_status(db, NULL, &c->id, st));
			c->status = st;
		} else if (r < 64) {
			if (!(c = pick(&rs, P_INACTIVE)))
				continue;
			CK_OK(convlog_conv_set_status(db, NULL, &c->id, CONVLOG_STATUS_ACTIVE));
			c->status = CONVLOG_STATUS_ACTIVE;
		} else if (r < 69) {
			if (!(c = pick(&rs, P_LIVE_NOT_DELETED)))
				continue;
			CK_OK(convlog_conv_delete(db, NULL, &c->id));
			c->prev = c->status;
			c->status = CONVLOG_STATUS_DELETED;
		} else if (r < 73) {
			if (!(c = pick(&rs, P_DELETED)))
				continue;
			CK_OK(convlog_conv_restore(db, NULL, &c->id));
			c->status = c->prev;
		} else if (r < 79) {
			if (!(c = pick(&rs, P_ARCHIVABLE)))
				continue;
			if (c->status == CONVLOG_STATUS_ACTIVE && tu_rand(&rs) % 2) {
				/* active -> archived directly is refused */
				CK_ERR(convlog_conv_set_status(db, NULL, &c->id, CONVLOG_STATUS_ARCHIVED),
				       CONVLOG_ETRANSITION);
				CK_OK(convlog_conv_set_status(db, NULL, &c->id, CONVLOG_STATUS_COMPLETED));
			}
			CK_OK(convlog_conv_archive(db, NULL, &c->id));
			c->status = CONVLOG_STATUS_ARCHIVED;
		} else if (r < 82) {
			if (!(c = pick(&rs, P_ARCHIVED)))
				continue;
			CK_OK(convlog_conv_set_status(db, NULL, &c->id, CONVLOG_STATUS_ACTIVE));
			c->status = CONVLOG_STATUS_ACTIVE;
		} else if (r < 86) {
			if (!(c = pick(&rs, P_ANY)))
				continue;
			if (c->status == CONVLOG_STATUS_DELETED) {
				CK_OK(convlog_conv_purge(db, NULL, &c->id));
			} else if (tu_rand(&rs) % 2) {
				CK_ERR(convlog_conv_purge(db, NULL, &c->id), CONVLOG_ETRANSITION);
				CK_OK(convlog_txn_begin(db, &t));
				CK_OK(convlog_conv_delete(db, t, &c->id));
				CK_OK(convlog_conv_purge(db, t, &c->id));
				CK_OK(convlog_txn_commit(t));
			} else {
				CK_OK(convlog_conv_delete(db, NULL, &c->id));
				CK_OK(convlog_conv_purge(db, NULL, &c->id));
			}
			c->purged = 1;
		} else if (r < 89) {
			CK_OK(convlog_checkpoint(db));
		} else if (r < 96) {
			convlog_compact_stats st = compact(cflags[tu_rand(&rs) % 4]);
			(*ncompact)++;
			add_stats(&st);
			check_model();
		} else if (r < 98) {
			if (!(c = pick(&rs, P_WRITABLE)))
				continue;
			crash_op(c, &rs, cflags[tu_rand(&rs) % 4], buf);
			n_crashes++;
			(*ncompact)++;
			check_model();
		} else {
			reopen();
			check_conv(&M[tu_rand(&rs) % NM]);
		}
	}
	convlog_compact_stats st = compact(CONVLOG_COMPACT_FULL);
	add_stats(&st);
	check_model();
	reopen();
	check_model();
	free(buf);
	model_free();
}

START_TEST(compact__random_operations_match_a_model)
{
	static const uint64_t seeds[] = {0x5eed0001u, 0xc0ffee77u, 0x1234abcd9u};
	double t0 = now_s();
	uint64_t ncompact = 0;

	memset(&sum, 0, sizeof(sum));
	n_erased = n_crashes = 0;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(*seeds); s++) {
		if (s > 0) { /* a fresh store per seed */
			convlog_close(db);
			tu_rmrf(path);
			convlog_options *o = opts();
			db = tu_open(path, o);
			convlog_options_free(o);
		}
		random_run(seeds[s], 350, &ncompact);
	}
	fprintf(stderr,
		"random operations: %llu compactions in %.1f s: planned %llu, rewritten %llu, "
		"written %llu (cold %llu), moved %llu, erased %llu times, %llu crashes\n",
		(unsigned long long)ncompact, now_s() - t0, (unsigned long long)sum.segments_planned,
		(unsigned long long)sum.segments_rewritten, (unsigned long long)sum.segments_written,
		(unsigned long long)sum.cold_segments_written, (unsigned long long)sum.records_moved,
		(unsigned long long)n_erased, (unsigned long long)n_crashes);
	/* the runs went through every kind of pass */
	ck_assert_uint_gt(n_crashes, 3);
	ck_assert_uint_gt(ncompact, 10);
	ck_assert_uint_gt(sum.segments_rewritten, 0);
	ck_assert_uint_gt(sum.records_moved, 0);
	ck_assert_uint_gt(sum.cold_segments_written, 0);
	ck_assert_uint_gt(n_erased, 0);
}
END_TEST

/* ---- 2. space comes back ---- */

START_TEST(compact__reclaims_superseded_and_purged_space)
{
	enum { NCONV = 60, PER = 34 };
	uint64_t rs = 42;
	char buf[2048];
	convlog_txn *t;
	convlog_compact_stats st, st2, dry;
	uint64_t live = 0, bytes;
	size_t kinds[4];

	model_free();
	for (int i = 0; i < NCONV; i++)
		model_new(&(convlog_uuid){{0}});
	CK_OK(convlog_txn_begin(db, &t));
	for (int i = 0; i < NCONV; i++) {
		convlog_conv cv;
		convlog_conv_init(&cv);
		cv.title = "reclaim";
		CK_OK(convlog_conv_create(db, t, &cv, &M[i].id));
	}
	CK_OK(convlog_txn_commit(t));
	/* ~1 KB messages, conversations interleaved, 40 per transaction */
	for (int j = 0; j < PER; j++) {
		CK_OK(convlog_txn_begin(db, &t));
		for (int i = 0; i < NCONV; i++) {
			size_t n = gen_text(&rs, buf, 900 + tu_rand(&rs) % 200);
			append(&M[i], t, j % 2 ? "assistant" : "user", buf, n);
			model_push(&M[i], buf, n);
			if ((i + 1) % 40 == 0) {
				CK_OK(convlog_txn_commit(t));
				CK_OK(convlog_txn_begin(db, &t));
			}
		}
		CK_OK(convlog_txn_commit(t));
	}
	/* half of the messages get a new version, 17 per transaction */
	for (int i = 0; i < NCONV; i++) {
		CK_OK(convlog_txn_begin(db, &t));
		for (uint32_t seq = 1; seq <= PER; seq += 2) {
			size_t n = gen_text(&rs, buf, 900 + tu_rand(&rs) % 200);
			supersede(&M[i], t, seq, buf, n);
		}
		CK_OK(convlog_txn_commit(t));
	}
	/* a third of the conversations go for good */
	for (int i = 0; i < NCONV; i += 3) {
		CK_OK(convlog_conv_delete(db, NULL, &M[i].id));
		CK_OK(convlog_conv_purge(db, NULL, &M[i].id));
		M[i].purged = 1;
	}
	for (int i = 0; i < NCONV; i++)
		live += M[i].purged ? 0 : M[i].n;
	ck_assert_uint_eq(live, 40 * PER);

	/* a dry run changes nothing */
	size_t nseg = seg_files(".seg", &bytes);
	convlog_compact_opts o;
	convlog_compact_opts_init(&o);
	o.flags = CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_DRY_RUN;
	dry.version = CONVLOG_COMPACT_VERSION;
	CK_OK(convlog_compact(db, &o, NULL, NULL, &dry));
	ck_assert_uint_gt(dry.segments_planned, 0);
	ck_assert_uint_eq(dry.segments_written, 0);
	ck_assert_uint_eq(dry.segments_rewritten, 0);
	ck_assert_uint_eq(dry.records_moved, 0);
	ck_assert_int_eq(dry.erased, 0);
	uint64_t bytes2;
	ck_assert_uint_eq(seg_files(".seg", &bytes2), nseg);
	ck_assert_uint_eq(bytes2, bytes);

	st = compact(CONVLOG_COMPACT_FULL);
	fprintf(stderr,
		"reclaim: segments %llu -> %llu, bytes %llu -> %llu, planned %llu, rewritten %llu, "
		"written %llu, moved %llu, erased %d, meta %llu -> %llu\n",
		(unsigned long long)st.segments_before, (unsigned long long)st.segments_after,
		(unsigned long long)st.bytes_before, (unsigned long long)st.bytes_after,
		(unsigned long long)st.segments_planned, (unsigned long long)st.segments_rewritten,
		(unsigned long long)st.segments_written, (unsigned long long)st.records_moved, st.erased,
		(unsigned long long)st.meta_bytes_before, (unsigned long long)st.meta_bytes_after);
	ck_assert_uint_lt(st.bytes_after, st.bytes_before);
	ck_assert_uint_lt(st.bytes_after, st.bytes_before * 3 / 4);
	ck_assert_uint_gt(st.segments_rewritten, 0);
	ck_assert_uint_gt(st.segments_written, 0);
	ck_assert_uint_eq(st.cold_segments_written, 0);
	ck_assert_uint_eq(st.records_moved, live);
	ck_assert_int_eq(st.erased, 1);
	seg_kinds(kinds);
	ck_assert_uint_eq(kinds[3], 0);
	ck_assert_uint_eq(kinds[1], st.segments_written);
	check_model();

	/* right after, nothing qualifies: no garbage, no purge, too few small segments */
	st2 = compact(0);
	ck_assert_uint_eq(st2.segments_planned, 0);
	ck_assert_uint_eq(st2.segments_rewritten, 0);
	ck_assert_uint_eq(st2.segments_written, 0);
	ck_assert_uint_eq(st2.records_moved, 0);
	ck_assert_int_eq(st2.erased, 0);
	ck_assert_uint_eq(st2.segments_after, st.segments_after);
	ck_assert_uint_eq(st2.bytes_after, st.bytes_after);
	reopen();
	check_model();
	model_free();
}
END_TEST

/* ---- 3. archived conversations go cold ---- */

/* Repetitive, realistic chat text. */
static size_t chat_text(uint64_t *rs, int assistant, char *out, size_t target)
{
	static const char *user[] = {
		"Can you help me write a Python function that parses a CSV file and returns a list of dictionaries?",
		"I'm planning a trip to Lisbon in October. What neighbourhoods would you recommend for a first visit?",
		"My sourdough starter smells like acetone after two days. Is it still safe to use?",
		"How do I configure nginx as a reverse proxy for a Node.js application running on port 3000?",
		"What is the difference between a process and a thread, and when should I use each?",
		"Could you explain how compound interest works with a simple example?",
		"Please review this SQL query, it is slow on a table with ten million rows.",
	};
	static const char *asst[] = {
		"Sure! Here is a step-by-step explanation. First, make sure you understand the basic concept. ",
		"Great question. There are a few things to consider before you decide. ",
		"Absolutely. Let's break this down into smaller parts so it is easier to follow. ",
		"Here is an example that should work for your use case:\n\n```python\nimport csv\n\ndef read_rows(path):\n    with open(path, newline='') as f:\n        return list(csv.DictReader(f))\n```\n",
		"In short: a process has its own memory space, while threads share the memory of their process. ",
		"The most important thing is to keep the temperature stable and feed the starter regularly. ",
		"You can add an index on the columns used in the WHERE clause and avoid SELECT * where possible. ",
		"I hope this helps! Let me know if you have any other questions or want me to go into more detail. ",
		"For a first visit I would recommend Alfama, Baixa and Príncipe Real, each with its own character. ",
	};
	static const char *names[] = {"Alice", "Bob", "Chen", "Dmitri", "Eva", "Fatima", "Gustavo", "Hana"};
	size_t n = 0;

	if (!assistant)
		n += (size_t)sprintf(out, "Hi, I'm %s. ", names[tu_rand(rs) % 8]);
	while (n < target) {
		const char *s = assistant ? asst[tu_rand(rs) % 9] : user[tu_rand(rs) % 7];
		size_t l = strlen(s);
		memcpy(out + n, s, l);
		n += l;
		if (tu_rand(rs) % 3 == 0)
			n += (size_t)sprintf(out + n, "(step %u, about %u minutes) ",
					     (unsigned)(tu_rand(rs) % 12), (unsigned)(tu_rand(rs) % 90));
	}
	return n;
}

/* nconv model conversations of per turns of chat text each, one
 * transaction per round of turns. */
static void make_chats(int nconv, int per, uint64_t *rs)
{
	char buf[4096];
	convlog_txn *t;

	model_free();
	for (int i = 0; i < nconv; i++) {
		convlog_uuid id;
		convlog_conv cv;
		convlog_conv_init(&cv);
		cv.title = "chat";
		CK_OK(convlog_conv_create(db, NULL, &cv, &id));
		model_new(&id);
	}
	for (int j = 0; j < per; j++) {
		CK_OK(convlog_txn_begin(db, &t));
		for (int i = 0; i < nconv; i++) {
			size_t n = chat_text(rs, j % 2, buf, 500 + tu_rand(rs) % 1200);
			append(&M[i], t, j % 2 ? "assistant" : "user", buf, n);
			model_push(&M[i], buf, n);
		}
		CK_OK(convlog_txn_commit(t));
	}
}

START_TEST(compact__archived_conversations_go_cold)
{
	enum { NCONV = 48, PER = 14 };
	uint64_t rs = 7;
	char buf[4096];
	size_t kinds[4];

	make_chats(NCONV, PER, &rs);
	/* a few edits, so the archived set has superseded versions too */
	for (int i = 0; i < NCONV; i += 5) {
		size_t n = chat_text(&rs, 1, buf, 800);
		supersede(&M[i], NULL, 2, buf, n);
	}
	/* the history sits in the active log segment: an archive pass only
	 * takes sealed segments, so it leaves it alone */
	convlog_compact_stats st = compact(CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_eq(st.segments_planned, 0);
	/* a full pass moves it to warm compacted segments */
	st = compact(CONVLOG_COMPACT_FULL);
	ck_assert_uint_gt(st.segments_written, 0);
	ck_assert_uint_eq(st.cold_segments_written, 0);
	seg_kinds(kinds);
	ck_assert_uint_eq(kinds[3], 0);
	ck_assert_uint_gt(kinds[1], 0);
	ck_assert_uint_eq(seg_files(".zdict", NULL), 0);
	/* most are archived: directly from active, or after completing */
	for (int i = 0; i < NCONV; i++) {
		if (i % 6 == 5)
			continue;
		if (i % 2)
			CK_OK(convlog_conv_set_status(db, NULL, &M[i].id, CONVLOG_STATUS_COMPLETED));
		CK_OK(convlog_conv_archive(db, NULL, &M[i].id));
		M[i].status = CONVLOG_STATUS_ARCHIVED;
	}
	check_model();

	/* the archive pass rewrites the warm segments holding them */
	st = compact(CONVLOG_COMPACT_ARCHIVE);
	fprintf(stderr, "archive: planned %llu, written %llu (cold %llu), moved %llu, bytes %llu -> %llu\n",
		(unsigned long long)st.segments_planned, (unsigned long long)st.segments_written,
		(unsigned long long)st.cold_segments_written, (unsigned long long)st.records_moved,
		(unsigned long long)st.bytes_before, (unsigned long long)st.bytes_after);
	ck_assert_uint_gt(st.cold_segments_written, 0);
	ck_assert_uint_ge(seg_files(".zdict", NULL), 1);
	seg_kinds(kinds);
	ck_assert_uint_ge(kinds[3], 1);
	ck_assert_uint_eq(kinds[3], st.cold_segments_written);
	ck_assert_uint_eq(cold_without_dict(), 0);
	check_model();
	reopen();
	check_model();

	/* an archive pass again: the cold data stays where it is */
	st = compact(CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_eq(st.cold_segments_written, 0);
	seg_kinds(kinds);
	ck_assert_uint_ge(kinds[3], 1);
	check_model();

	/* unarchived conversations read (and write) as before */
	for (int i = 0; i < NCONV; i += 4) {
		if (M[i].status != CONVLOG_STATUS_ARCHIVED)
			continue;
		CK_OK(convlog_conv_set_status(db, NULL, &M[i].id, CONVLOG_STATUS_ACTIVE));
		M[i].status = CONVLOG_STATUS_ACTIVE;
		check_conv(&M[i]);
		size_t n = chat_text(&rs, 0, buf, 300);
		append(&M[i], NULL, "user", buf, n);
		model_push(&M[i], buf, n);
		n = chat_text(&rs, 1, buf, 300);
		supersede(&M[i], NULL, 1, buf, n);
	}
	check_model();
	compact(0);
	check_model();
	st = compact(CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_gt(st.cold_segments_written, 0);
	check_model();
	reopen();
	check_model();

	/* nothing archived any more: a full pass leaves no cold segment and
	 * no dictionary behind */
	for (size_t i = 0; i < NM; i++)
		if (M[i].status == CONVLOG_STATUS_ARCHIVED) {
			CK_OK(convlog_conv_set_status(db, NULL, &M[i].id, CONVLOG_STATUS_ACTIVE));
			M[i].status = CONVLOG_STATUS_ACTIVE;
		}
	st = compact(CONVLOG_COMPACT_FULL);
	ck_assert_uint_eq(st.cold_segments_written, 0);
	seg_kinds(kinds);
	ck_assert_uint_eq(kinds[3], 0);
	ck_assert_uint_eq(seg_files(".zdict", NULL), 0);
	check_model();
	reopen();
	check_model();
	model_free();
}
END_TEST

/* ---- 4. readers during compactions ---- */

enum { NSTABLE = 8, STABLE_PER = 40 };
static convlog_uuid stable[NSTABLE];
static atomic_int stop_readers;
static atomic_int compacting;
static atomic_ullong reads, reads_during;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char reader_err[1024];

/* Content of message `seq` of stable conversation i: a pure function. */
static size_t stable_text(int i, uint32_t seq, char *out)
{
	uint64_t rs = (uint64_t)(i + 1) * 1000003u + seq;
	size_t n = (size_t)sprintf(out, "stable %d turn %u zephyrquokka ", i, seq);

	return n + gen_text(&rs, out + n, 200 + tu_rand(&rs) % 2800);
}

static void reader_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reader_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&err_mu);
	if (!reader_err[0]) {
		va_start(ap, fmt);
		vsnprintf(reader_err, sizeof(reader_err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&err_mu);
	atomic_store(&stop_readers, 1);
}

static void *reader(void *arg)
{
	uint64_t rs = (uint64_t)(uintptr_t)arg;
	char *want = malloc(64 << 10);
	unsigned long iter = 0;

	while (!atomic_load(&stop_readers)) {
		int i = (int)(tu_rand(&rs) % NSTABLE), kind = (int)(tu_rand(&rs) % 3), rc;
		uint32_t n = 1 + (uint32_t)(tu_rand(&rs) % 10), after = (uint32_t)(tu_rand(&rs) % STABLE_PER);
		uint32_t expect;
		convlog_msg_iter *it;
		const convlog_msg *m;
		int during = atomic_load(&compacting);

		if (kind == 0) {
			rc = convlog_msg_range(db, &stable[i], CONVLOG_RANGE_ALL, 0, 0, &it);
			expect = 1;
		} else if (kind == 1) {
			rc = convlog_msg_range(db, &stable[i], CONVLOG_RANGE_LAST, n, 0, &it);
			expect = STABLE_PER - n + 1;
		} else {
			rc = convlog_msg_range(db, &stable[i], CONVLOG_RANGE_AFTER, n, after, &it);
			expect = after + 1;
		}
		if (rc) {
			reader_fail("msg_range(%d, kind %d) -> %d: %s", i, kind, rc, convlog_errmsg());
			break;
		}
		uint32_t last = kind == 2 && after + n < STABLE_PER ? after + n : STABLE_PER;
		while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
			size_t wl = stable_text(i, m->seq, want);
			if (m->seq != expect || m->content_len != wl || memcmp(m->content, want, wl)) {
				reader_fail("conversation %d: got seq %u (%zu bytes), expected seq %u (%zu bytes)%s",
					    i, m->seq, m->content_len, expect, wl,
					    m->seq == expect ? ", content differs" : "");
				break;
			}
			expect++;
		}
		convlog_msg_iter_free(it);
		if (rc < 0) {
			reader_fail("iterating conversation %d -> %d: %s", i, rc, convlog_errmsg());
			break;
		}
		if (rc == CONVLOG_DONE && expect != last + 1) {
			reader_fail("conversation %d kind %d: the range ended before seq %u", i, kind, last);
			break;
		}
		if (rc == 0)
			break;
		/* a point read */
		convlog_msg *one;
		uint32_t seq = 1 + (uint32_t)(tu_rand(&rs) % STABLE_PER);
		if ((rc = convlog_msg_get(db, &stable[i], seq, &one))) {
			reader_fail("msg_get(%d, %u) -> %d: %s", i, seq, rc, convlog_errmsg());
			break;
		}
		size_t wl = stable_text(i, seq, want);
		int bad = one->content_len != wl || memcmp(one->content, want, wl);
		convlog_msg_free(one);
		if (bad) {
			reader_fail("msg_get(%d, %u): content differs", i, seq);
			break;
		}
		if (iter++ % 4 == 0) {
			convlog_search_query q;
			convlog_search_result *r;
			convlog_search_query_init(&q);
			q.query = "zephyrquokka";
			q.limit = 1000;
			if ((rc = convlog_search(db, &q, &r))) {
				reader_fail("search -> %d: %s", rc, convlog_errmsg());
				break;
			}
			size_t nh = r->n_hits;
			int snip_ok = 1;
			for (size_t h = 0; h < nh; h++)
				snip_ok &= r->hits[h].snippet && strstr(r->hits[h].snippet, "zephyrquokka") != NULL;
			convlog_search_result_free(r);
			if (nh != NSTABLE * STABLE_PER || !snip_ok) {
				reader_fail("search found %zu hits (expected %d)%s", nh, NSTABLE * STABLE_PER,
					    snip_ok ? "" : ", a snippet lacks the word");
				break;
			}
		}
		atomic_fetch_add(&reads, 1);
		if (during && atomic_load(&compacting))
			atomic_fetch_add(&reads_during, 1);
	}
	free(want);
	return NULL;
}

/* Progress callback: holds the compaction until the readers made progress. */
static int wait_for_readers(void *ud, uint64_t done, uint64_t total)
{
	unsigned long long start = atomic_load(&reads);
	double t0 = now_s();

	(void)ud;
	(void)done;
	(void)total;
	while (atomic_load(&reads) < start + 3 && !atomic_load(&stop_readers) && now_s() - t0 < 5) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

START_TEST(compact__readers_keep_reading_during_compaction)
{
	static const unsigned cflags[] = {0,
					  CONVLOG_COMPACT_FULL,
					  CONVLOG_COMPACT_ARCHIVE,
					  0,
					  CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE,
					  CONVLOG_COMPACT_FULL};
	char *buf = malloc(64 << 10);
	uint64_t rs = 99;
	pthread_t th[2];
	convlog_txn *t;

	ck_assert_ptr_nonnull(buf);
	model_free();
	atomic_store(&stop_readers, 0);
	atomic_store(&compacting, 0);
	atomic_store(&reads, 0);
	atomic_store(&reads_during, 0);
	reader_err[0] = '\0';
	for (int i = 0; i < NSTABLE; i++) {
		stable[i] = tu_conv(db, "u", "stable");
		ck_assert_uint_eq(model_new(&stable[i]), (size_t)i);
		M[i].pinned = 1;
		CK_OK(convlog_txn_begin(db, &t));
		for (uint32_t s = 1; s <= STABLE_PER; s++) {
			convlog_msg m;
			convlog_msg_init(&m);
			m.conv_id = stable[i];
			m.role = s % 2 ? "user" : "assistant";
			m.content = buf;
			m.content_len = stable_text(i, s, buf);
			CK_OK(convlog_msg_append(db, t, &m, NULL));
			model_push(&M[i], buf, m.content_len);
		}
		CK_OK(convlog_txn_commit(t));
	}
	for (int i = 0; i < 6; i++) {
		convlog_uuid id = tu_conv(db, "u", "churn");
		model_new(&id);
	}
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, reader, (void *)(uintptr_t)(1000 + k)), 0);

	for (int round = 0; round < 6 && !atomic_load(&stop_readers); round++) {
		/* churn: appends, edits, now and then a purge */
		for (int b = 0; b < 15; b++) {
			mconv *c = pick(&rs, P_WRITABLE);
			CK_OK(convlog_txn_begin(db, &t));
			for (int j = 0; j < 10; j++) {
				size_t n = gen_text(&rs, buf, 500 + tu_rand(&rs) % 3000);
				append(c, t, "user", buf, n);
				model_push(c, buf, n);
			}
			CK_OK(convlog_txn_commit(t));
		}
		CK_OK(convlog_txn_begin(db, &t));
		for (int e = 0; e < 40; e++) {
			mconv *c = pick(&rs, P_WRITABLE);
			if (c && c->n) {
				size_t n = gen_text(&rs, buf, 300 + tu_rand(&rs) % 2000);
				supersede(c, t, 1 + (uint32_t)(tu_rand(&rs) % c->n), buf, n);
			}
		}
		CK_OK(convlog_txn_commit(t));
		if (round % 2 == 1) {
			mconv *c = pick(&rs, P_WRITABLE);
			CK_OK(convlog_conv_delete(db, NULL, &c->id));
			CK_OK(convlog_conv_purge(db, NULL, &c->id));
			c->purged = 1;
			size_t k = model_new(&(convlog_uuid){{0}});
			M[k].id = tu_conv(db, "u", "churn");
		}
		if (round == 1)
			for (int i = 0; i < NSTABLE; i += 2) {
				CK_OK(convlog_conv_archive(db, NULL, &stable[i]));
				M[i].status = CONVLOG_STATUS_ARCHIVED;
			}
		if (round == 3)
			CK_OK(convlog_checkpoint(db));
		atomic_store(&compacting, 1);
		convlog_compact_stats st = compact_with(cflags[round], wait_for_readers, NULL);
		atomic_store(&compacting, 0);
		(void)st;
	}
	atomic_store(&stop_readers, 1);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	ck_assert_msg(reader_err[0] == '\0', "reader: %s", reader_err);
	ck_assert_uint_gt(atomic_load(&reads), 0);
	ck_assert_uint_gt(atomic_load(&reads_during), 0);
	fprintf(stderr, "readers: %llu reads, %llu during compactions\n",
		(unsigned long long)atomic_load(&reads), (unsigned long long)atomic_load(&reads_during));
	check_model();

	/* iterators opened before a full compaction (after a purge) read on
	 * after it, from the files it replaced */
	convlog_msg_iter *its[2];
	const convlog_msg *m;
	for (int k = 0; k < 2; k++) {
		CK_OK(convlog_msg_range(db, &stable[k], CONVLOG_RANGE_ALL, 0, 0, &its[k]));
		CK_OK(convlog_msg_iter_next(its[k], &m));
		ck_assert_uint_eq(m->seq, 1);
	}
	mconv *victim = pick(&rs, P_WRITABLE);
	CK_OK(convlog_conv_delete(db, NULL, &victim->id));
	CK_OK(convlog_conv_purge(db, NULL, &victim->id));
	victim->purged = 1;
	convlog_compact_stats st = compact(CONVLOG_COMPACT_FULL);
	ck_assert_uint_gt(st.segments_rewritten, 0);
	for (int k = 0; k < 2; k++) {
		uint32_t seq = 2;
		int rc;
		while ((rc = convlog_msg_iter_next(its[k], &m)) == 0) {
			size_t wl = stable_text(k, seq, buf);
			ck_assert_uint_eq(m->seq, seq);
			ck_assert_msg(m->content_len == wl && !memcmp(m->content, buf, wl),
				      "stable %d seq %u differs after the compaction", k, seq);
			seq++;
		}
		ck_assert_msg(rc == CONVLOG_DONE, "iterator -> %d: %s", rc, convlog_errmsg());
		ck_assert_uint_eq(seq, STABLE_PER + 1);
		convlog_msg_iter_free(its[k]);
	}
	/* the open snapshots kept LMDB from being swapped; the next pass does it */
	fprintf(stderr, "with open iterators: erased %d\n", st.erased);
	if (!st.erased) {
		st = compact(0);
		ck_assert_int_eq(st.erased, 1);
	}
	check_model();
	reopen();
	check_model();
	free(buf);
	model_free();
}
END_TEST

/* ---- 5. purged canaries ---- */

typedef struct canary {
	char label[48];
	char text[40];
	int purged;
	int raw_hits, dec_hits;
	char where[300];     /* first file holding it raw */
	char where_dec[300]; /* first segment holding it in a decoded frame */
} canary;

#define MAXCAN 48
static canary can[MAXCAN];
static size_t ncan;
static uint64_t can_rs = 0xca5a7e11u;

static const char *new_canary(const char *label, int purged)
{
	canary *c = &can[ncan++];

	ck_assert_uint_le(ncan, MAXCAN);
	memset(c, 0, sizeof(*c));
	snprintf(c->label, sizeof(c->label), "%s", label);
	memcpy(c->text, "canary", 6);
	for (int i = 0; i < 26; i++)
		c->text[6 + i] = (char)('a' + tu_rand(&can_rs) % 26);
	c->purged = purged;
	return c->text;
}

static canary *canary_by(const char *label)
{
	for (size_t i = 0; i < ncan; i++)
		if (!strcmp(can[i].label, label))
			return &can[i];
	ck_abort_msg("no canary %s", label);
	return NULL;
}

/* Whether `hay` holds the canary or a 16-byte tail of it (a term stored
 * front-coded after a shared prefix would still show its tail). */
static int holds(const uint8_t *hay, size_t n, const canary *c)
{
	size_t l = strlen(c->text);

	if (!hay || n == 0)
		return 0;
	return memmem(hay, n, c->text, l) != NULL || memmem(hay, n, c->text + l - 16, 16) != NULL;
}

/* Dictionaries for codec-2 frames, read from the segment directory. */
static struct {
	uint32_t id;
	ZSTD_DDict *dd;
} ddicts[16];
static size_t nddicts;
static char scan_segdir[300];

static const ZSTD_DDict *scan_ddict(void *ud, uint32_t id)
{
	char f[400];
	FILE *fp;
	long len;

	(void)ud;
	for (size_t i = 0; i < nddicts; i++)
		if (ddicts[i].id == id)
			return ddicts[i].dd;
	snprintf(f, sizeof(f), "%s/dict-%08x.zdict", scan_segdir, id);
	if (!(fp = fopen(f, "rb")) || nddicts == 16)
		return NULL;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)len);
	ck_assert_uint_eq(fread(b, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	ck_assert_int_gt(len, 32); /* a 32-byte header, then the zstd dictionary */
	ZSTD_DDict *dd = ZSTD_createDDict(b + 32, (size_t)len - 32);
	free(b);
	ddicts[nddicts].id = id;
	ddicts[nddicts].dd = dd;
	nddicts++;
	return dd;
}

static void scan_free(void)
{
	for (size_t i = 0; i < nddicts; i++)
		ZSTD_freeDDict(ddicts[i].dd);
	nddicts = 0;
}

static uint64_t frames_decoded;

/* Every frame of every block of segment file bytes f[0, len), decoded and
 * appended to *out. */
static void seg_decode(const char *name, const uint8_t *f, size_t len, uint8_t **out, size_t *olen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	size_t off = CVL_SEG_HEADER, cap = 0;
	const char *why = "";

	*out = NULL;
	*olen = 0;
	ck_assert_uint_ge(len, CVL_SEG_HEADER);
	while (len - off >= CVL_BLOCK_HEADER) {
		cvl_block_header h;
		if (cvl_block_header_decode(f + off, &h, &why) != 0)
			break; /* the zero-filled tail of the active segment */
		ck_assert_msg(len - off >= CVL_BLOCK_HEADER + (size_t)h.body_len, "%s: block at %zu is cut",
			      name, off);
		ck_assert_msg(cvl_block_check(f + off, CVL_BLOCK_HEADER + h.body_len, &h, &why) == 0,
			      "%s: block at %zu: %s", name, off, why);
		size_t pos = off + CVL_BLOCK_HEADER, end = pos + h.body_len;
		for (unsigned i = 0; i < h.frame_count; i++) {
			cvl_frame_header fh;
			ck_assert_msg(cvl_frame_check(f + pos, end - pos, &fh, &why) == 0, "%s: frame at %zu: %s",
				      name, pos, why);
			if (*olen + fh.raw_len > cap) {
				cap = (*olen + fh.raw_len) * 2;
				*out = realloc(*out, cap);
				ck_assert_ptr_nonnull(*out);
			}
			ck_assert_msg(cvl_frame_decode(&fh, f + pos + CVL_FRAME_HEADER, d, scan_ddict, NULL,
						       *out + *olen, &why) == 0,
				      "%s: frame at %zu (codec %u): %s", name, pos, fh.codec, why);
			*olen += fh.raw_len;
			frames_decoded++;
			pos += CVL_FRAME_HEADER + fh.stored_len;
		}
		off = end;
	}
	/* past the last block only zero bytes */
	for (size_t i = off; i < len; i++)
		ck_assert_msg(f[i] == 0, "%s: byte %zu after the last block (%s) is not zero", name, i, why);
	ZSTD_freeDCtx(d);
}

static uint64_t files_scanned;

static int scan_one(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type != FTW_F || !S_ISREG(sb->st_mode))
		return 0;
	FILE *fp = fopen(fpath, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", fpath);
	size_t len = (size_t)sb->st_size;
	uint8_t *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, len, fp), len);
	fclose(fp);
	files_scanned++;
	for (size_t i = 0; i < ncan; i++)
		if (holds(b, len, &can[i])) {
			if (!can[i].raw_hits++)
				snprintf(can[i].where, sizeof(can[i].where), "%s", fpath);
		}
	if (ends_with(fpath, ".seg") || ends_with(fpath, ".seg.tmp")) {
		uint8_t *raw;
		size_t rl;
		seg_decode(fpath, b, len, &raw, &rl);
		for (size_t i = 0; i < ncan; i++)
			if (holds(raw, rl, &can[i])) {
				if (!can[i].dec_hits++)
					snprintf(can[i].where_dec, sizeof(can[i].where_dec), "%s", fpath);
			}
		free(raw);
	}
	free(b);
	return 0;
}

/* Scans every regular file under the store; fails listing every purged
 * canary found; returns nothing, the control canaries' hits stay in can[]. */
static void scan_store(const char *when, int must_be_clean)
{
	char leaks[8192];
	size_t ll = 0;

	for (size_t i = 0; i < ncan; i++) {
		can[i].raw_hits = can[i].dec_hits = 0;
		can[i].where[0] = can[i].where_dec[0] = '\0';
	}
	files_scanned = frames_decoded = 0;
	snprintf(scan_segdir, sizeof(scan_segdir), "%s/segments", path);
	ck_assert_int_eq(nftw(path, scan_one, 16, FTW_PHYS), 0);
	scan_free();
	leaks[0] = '\0';
	for (size_t i = 0; i < ncan; i++)
		if (can[i].purged && (can[i].raw_hits || can[i].dec_hits) && ll < sizeof(leaks))
			ll += (size_t)snprintf(leaks + ll, sizeof(leaks) - ll, "\n  %s (%s) in %s%s%s%s",
					       can[i].label, can[i].text, can[i].where,
					       can[i].raw_hits && can[i].dec_hits ? " and " : "",
					       can[i].dec_hits ? "decoded frames of " : "", can[i].where_dec);
	fprintf(stderr, "canary scan %s: %llu files, %llu frames decoded\n", when,
		(unsigned long long)files_scanned, (unsigned long long)frames_decoded);
	ck_assert_uint_gt(frames_decoded, 0);
	ck_assert_msg(!must_be_clean || ll == 0, "%s: purged canaries are still in the store:%s", when,
		      leaks);
}

/* The thread of `conv` as "seq:content|" text. */
static void thread_text(const convlog_uuid *conv, char *out, size_t n)
{
	convlog_msg_iter *it;
	const convlog_msg *m;
	size_t len = 0;
	int rc;

	out[0] = '\0';
	CK_OK(convlog_msg_range(db, conv, CONVLOG_RANGE_ALL, 0, 0, &it));
	while ((rc = convlog_msg_iter_next(it, &m)) == 0)
		len += (size_t)snprintf(out + len, n - len, "%u:%.*s|", m->seq, (int)m->content_len,
					m->content);
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_msg_iter_free(it);
}

static size_t search_hits(const char *query)
{
	convlog_search_query q;
	convlog_search_result *r;
	size_t n;

	convlog_search_query_init(&q);
	q.query = query;
	q.limit = 1000;
	q.include_deleted = 1;
	CK_OK(convlog_search(db, &q, &r));
	n = r->n_hits;
	convlog_search_result_free(r);
	return n;
}

/* A conversation full of canaries named `who`-field; returns its id. */
static convlog_uuid canary_conv(const char *who, int purged, int with_fork, convlog_uuid *fork)
{
	char lbl[48], meta[128], tool[160], mmeta[128], text[256];
	const char *tags[2];
	convlog_conv cv;
	convlog_uuid id;
	convlog_msg m;

#define LBL(f) (snprintf(lbl, sizeof(lbl), "%s.%s", who, f), lbl)
	convlog_conv_init(&cv);
	const char *title = new_canary(LBL("title"), purged);
	cv.title = title;
	const char *ext = new_canary(LBL("external_id"), purged);
	cv.external_id = ext;
	const char *sys = new_canary(LBL("system_prompt"), purged);
	cv.system_prompt = sys;
	snprintf(meta, sizeof(meta), "{\"note\":\"%s\",\"n\":1}", new_canary(LBL("metadata"), purged));
	cv.metadata = meta;
	tags[0] = "plain-tag";
	tags[1] = new_canary(LBL("tag"), purged);
	cv.tags = tags;
	cv.n_tags = 2;
	cv.user_id = "canary-user";
	CK_OK(convlog_conv_create(db, NULL, &cv, &id));

	/* message 1 is plain: a fork at 1 inherits it (and keeps a copy) */
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "user";
	m.content = "hello, this first turn is plain";
	m.content_len = strlen(m.content);
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	if (with_fork) {
		convlog_conv ov;
		const char *ftags[] = {"fork-tag"};
		convlog_conv_init(&ov);
		ov.title = "the fork";
		ov.system_prompt = "plain prompt";
		ov.metadata = "{\"fork\":true}";
		ov.tags = ftags;
		ov.n_tags = 1;
		CK_OK(convlog_conv_fork(db, NULL, &id, 1, &ov, CONVLOG_CONV_TITLE | CONVLOG_CONV_SYSTEM_PROMPT |
				       CONVLOG_CONV_METADATA | CONVLOG_CONV_TAGS, fork));
		tu_msg(db, fork, "user", "the fork's own plain turn");
	}
	CK_OK(convlog_checkpoint(db));

	snprintf(text, sizeof(text), "please remember the word %s for later", new_canary(LBL("content"), purged));
	tu_msg(db, &id, "user", text);
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "assistant";
	m.name = new_canary(LBL("msg.name"), purged);
	m.content = "calling a tool";
	m.content_len = strlen(m.content);
	snprintf(tool, sizeof(tool), "[{\"id\":\"call_1\",\"function\":{\"name\":\"lookup\",\"arguments\":\"%s\"}}]",
		 new_canary(LBL("tool_calls"), purged));
	m.tool_calls = tool;
	snprintf(mmeta, sizeof(mmeta), "{\"trace\":\"%s\"}", new_canary(LBL("msg.metadata"), purged));
	m.metadata = mmeta;
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	CK_OK(convlog_checkpoint(db));
	/* an edit: the old and the new version both carry canaries */
	snprintf(text, sizeof(text), "first draft %s", new_canary(LBL("content.v1"), purged));
	uint32_t seq = tu_msg(db, &id, "assistant", text);
	convlog_msg_init(&m);
	snprintf(text, sizeof(text), "second draft %s", new_canary(LBL("content.v2"), purged));
	m.content = text;
	m.content_len = strlen(text);
	CK_OK(convlog_msg_supersede(db, NULL, &id, seq, &m, CONVLOG_MSG_CONTENT));
	/* a patch record with a new title */
	convlog_conv_init(&cv);
	cv.topic = new_canary(LBL("topic"), purged);
	CK_OK(convlog_conv_patch(db, NULL, &id, &cv, CONVLOG_CONV_TOPIC));
	CK_OK(convlog_conv_set_cursor(db, NULL, &id, new_canary(LBL("cursor"), purged), 7));
#undef LBL
	return id;
}

/* n messages of ~3 KB random text, 20 per transaction. */
static void filler_msgs(const convlog_uuid *conv, int n, uint64_t *rs)
{
	mconv c = {.id = *conv};
	char buf[4096];
	convlog_txn *t = NULL;

	for (int i = 0; i < n; i++) {
		if (i % 20 == 0)
			CK_OK(convlog_txn_begin(db, &t));
		size_t l = gen_text(rs, buf, 3000);
		append(&c, t, i % 2 ? "assistant" : "user", buf, l);
		if (i % 20 == 19 || i == n - 1)
			CK_OK(convlog_txn_commit(t));
	}
}

START_TEST(compact__purged_canaries_leave_no_byte_in_any_file)
{
	convlog_uuid a, b, c, fork, nofork;
	char before[4096], after[4096];
	uint64_t rs = 5;

	ncan = 0;
	/* other traffic around the canaries, in several segments */
	convlog_uuid filler = tu_conv(db, "u", "filler");
	filler_msgs(&filler, 300, &rs);
	a = canary_conv("A", 1, 1, &fork);
	b = canary_conv("B", 1, 0, &nofork);
	c = canary_conv("C", 0, 0, &nofork);
	filler_msgs(&filler, 100, &rs);
	CK_OK(convlog_checkpoint(db));
	thread_text(&fork, before, sizeof(before));
	ck_assert_uint_eq(search_hits(canary_by("A.content")->text), 1);
	ck_assert_uint_eq(search_hits(canary_by("C.content")->text), 1);

	CK_OK(convlog_conv_delete(db, NULL, &a));
	CK_OK(convlog_conv_purge(db, NULL, &a));
	CK_OK(convlog_conv_delete(db, NULL, &b));
	CK_OK(convlog_conv_purge(db, NULL, &b));
	/* before the compaction the scan finds every one of them somewhere */
	scan_store("after the purge", 0);
	for (size_t i = 0; i < ncan; i++)
		ck_assert_msg(can[i].raw_hits || can[i].dec_hits, "canary %s is in no file before the compaction",
			      can[i].label);
	CK_OK(convlog_index_merge(db, CONVLOG_MERGE_ALL));
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};
	CK_OK(convlog_compact(db, NULL, NULL, NULL, &st));
	fprintf(stderr, "canaries: planned %llu, rewritten %llu, written %llu, moved %llu, erased %d\n",
		(unsigned long long)st.segments_planned, (unsigned long long)st.segments_rewritten,
		(unsigned long long)st.segments_written, (unsigned long long)st.records_moved, st.erased);
	ck_assert_int_eq(st.erased, 1);
	ck_assert_msg(seg_files(".tmp", NULL) == 0, "a *.tmp file is left in segments/");

	/* the reads still work */
	convlog_conv *cv;
	CK_ERR(convlog_conv_get(db, &a, &cv), CONVLOG_ENOTFOUND);
	CK_ERR(convlog_conv_get(db, &b, &cv), CONVLOG_ENOTFOUND);
	CK_OK(convlog_conv_get(db, &c, &cv));
	ck_assert_str_eq(cv->title, canary_by("C.title")->text);
	convlog_conv_free(cv);
	thread_text(&fork, after, sizeof(after));
	ck_assert_str_eq(after, before);
	ck_assert_uint_eq(search_hits(canary_by("A.content")->text), 0);
	ck_assert_uint_eq(search_hits(canary_by("C.content")->text), 1);
	tu_verify_clean(db);

	for (int pass = 0; pass < 2; pass++) {
		scan_store(pass == 0 ? "after the compaction" : "after close", 1);
		/* the scan sees what it must: the control's content in decoded
		 * frames, its descriptive fields in LMDB */
		const char *in_frames[] = {"C.content", "C.content.v2", "C.tool_calls", "C.msg.metadata", "C.msg.name"};
		for (size_t i = 0; i < sizeof(in_frames) / sizeof(*in_frames); i++)
			ck_assert_msg(canary_by(in_frames[i])->dec_hits > 0,
				      "control canary %s not found in decoded segment frames", in_frames[i]);
		const char *in_files[] = {"C.title", "C.metadata", "C.tag", "C.external_id", "C.topic", "C.system_prompt", "C.cursor"};
		for (size_t i = 0; i < sizeof(in_files) / sizeof(*in_files); i++)
			ck_assert_msg(canary_by(in_files[i])->raw_hits > 0,
				      "control canary %s not found in any file", in_files[i]);
		if (pass == 0) {
			convlog_close(db);
			db = NULL;
		}
	}
	reopen();
	thread_text(&fork, after, sizeof(after));
	ck_assert_str_eq(after, before);
	tu_verify_clean(db);
}
END_TEST

/*
 * Cold segments are compressed with a dictionary trained on the archived
 * conversations.  A later pass that rewrites them (here: FULL) trains on
 * the same records again, which gives the same dictionary (zstd derives
 * a dictionary's id from its content): the rewritten segments must still
 * be compressed with one.
 */
START_TEST(compact__cold_segments_keep_a_dictionary_when_rewritten)
{
	uint64_t rs = 3;
	size_t kinds[4];

	make_chats(40, 14, &rs);
	for (size_t i = 0; i < NM; i++) {
		CK_OK(convlog_conv_archive(db, NULL, &M[i].id));
		M[i].status = CONVLOG_STATUS_ARCHIVED;
	}
	convlog_compact_stats st1 = compact(CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_eq(st1.cold_segments_written, 1);
	ck_assert_uint_eq(cold_without_dict(), 0);
	ck_assert_uint_eq(seg_files(".zdict", NULL), 1);
	check_model();
	for (int pass = 0; pass < 2; pass++) {
		convlog_compact_stats st = compact(CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE);
		fprintf(stderr, "cold rewrite %d: bytes %llu -> %llu (first pass: %llu)\n", pass,
			(unsigned long long)st.bytes_before, (unsigned long long)st.bytes_after,
			(unsigned long long)st1.bytes_after);
		ck_assert_uint_eq(st.cold_segments_written, 1);
		seg_kinds(kinds);
		ck_assert_uint_eq(kinds[3], 1);
		check_model();
		ck_assert_msg(cold_without_dict() == 0 && seg_files(".zdict", NULL) == 1,
			      "pass %d: the rewritten cold segment has no dictionary (%zu dictionary files)",
			      pass, seg_files(".zdict", NULL));
	}
	model_free();
}
END_TEST

/* n turns of chat text (each naming `word` when not NULL), 25 per
 * transaction, kept in the model */
static void chat_msgs(mconv *c, int n, const char *word, uint64_t *rs)
{
	char buf[4096];
	convlog_txn *t = NULL;

	for (int i = 0; i < n; i++) {
		if (i % 25 == 0)
			CK_OK(convlog_txn_begin(db, &t));
		size_t l = chat_text(rs, i % 2, buf, 1000 + tu_rand(rs) % 800);
		if (word)
			l += (size_t)sprintf(buf + l, " (ticket %s) ", word);
		append(c, t, i % 2 ? "assistant" : "user", buf, l);
		model_push(c, buf, l);
		if (i % 25 == 24 || i == n - 1)
			CK_OK(convlog_txn_commit(t));
	}
}

/*
 * A cold segment's dictionary is trained on samples of every archived
 * conversation, including ones that are already cold elsewhere.  Once
 * such a conversation is purged, the dictionary must not keep its bytes.
 */
START_TEST(compact__purged_archived_conversation_leaves_no_byte_in_a_dictionary)
{
	uint64_t rs = 11;
	convlog_compact_stats st;
	size_t kinds[4];

	model_free();
	ncan = 0;
	const char *word = new_canary("X.content (archived, cold)", 1);
	convlog_uuid id = tu_conv(db, "u", "x");
	mconv *x = &M[model_new(&id)];
	id = tu_conv(db, "u", "y");
	mconv *y = &M[model_new(&id)];
	/* X, archived, goes cold with a dictionary trained on it */
	chat_msgs(x, 300, word, &rs);
	CK_OK(convlog_conv_archive(db, NULL, &x->id));
	x->status = CONVLOG_STATUS_ARCHIVED;
	st = compact(CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_eq(st.cold_segments_written, 1);
	ck_assert_uint_eq(seg_files(".zdict", NULL), 1);
	/* Y is written and moved to a warm compacted segment, then archived:
	 * the archive pass trains a new dictionary on X and Y and writes Y
	 * cold with it; X's cold segment is not touched */
	chat_msgs(y, 300, NULL, &rs);
	st = compact(CONVLOG_COMPACT_FULL);
	CK_OK(convlog_conv_archive(db, NULL, &y->id));
	y->status = CONVLOG_STATUS_ARCHIVED;
	st = compact(CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_eq(st.cold_segments_written, 1);
	seg_kinds(kinds);
	ck_assert_uint_eq(kinds[3], 2);
	check_model();
	/* the dictionaries hold X's word (it is in every turn of X) */
	scan_store("before the purge", 0);
	ck_assert_msg(can[0].raw_hits > 0, "the dictionaries do not hold the word: nothing to test");

	/* X goes for good */
	CK_OK(convlog_conv_delete(db, NULL, &x->id));
	CK_OK(convlog_conv_purge(db, NULL, &x->id));
	x->purged = 1;
	st = compact(0);
	ck_assert_int_eq(st.erased, 1);
	check_model();
	scan_store("after purging the archived conversation", 1);
	convlog_close(db);
	db = NULL;
	scan_store("after close", 1);
	reopen();
	check_model();
	model_free();
}
END_TEST

/* ---- a purge committed while a compaction copies ---- */

static convlog_uuid race_victim;
static int race_rc, race_done;

static void *purge_victim(void *arg)
{
	(void)arg;
	if (!(race_rc = convlog_conv_delete(db, NULL, &race_victim)) &&
	    !(race_rc = convlog_conv_purge(db, NULL, &race_victim)))
		race_rc = convlog_checkpoint(db);
	return NULL;
}

/* Progress callback: the first time some bytes are copied, another thread
 * purges race_victim and flushes it to LMDB; the pass waits for it. */
static int purge_midway(void *ud, uint64_t done, uint64_t total)
{
	pthread_t th;

	(void)ud;
	if (!race_done && done > 0 && done < total) {
		race_done = 1;
		ck_assert_int_eq(pthread_create(&th, NULL, purge_victim, NULL), 0);
		pthread_join(th, NULL);
	}
	return 0;
}

/*
 * A conversation purged while a compaction is copying records it already
 * copied: the copies are dropped from the new segment's locators, and the
 * next compaction (which reports erased = 1) must leave no byte of it in
 * any file.  Segments of 64 MiB keep the pass from finishing an output
 * segment before the progress callback runs (every 4 MiB copied).
 */
START_TEST(compact__a_purge_during_a_compaction_is_erased_by_the_next)
{
	convlog_options *o = opts();
	uint64_t rs = 17;
	char text[256];

	convlog_close(db);
	tu_rmrf(path);
	CK_OK(convlog_options_set_segment_size(o, 64u << 20));
	db = tu_open(path, o);
	convlog_options_free(o);
	model_free();
	ncan = 0;

	/* the victim sorts first in the msg table (UUIDv7: created first) */
	convlog_uuid id = tu_conv(db, "u", "victim");
	mconv *v = &M[model_new(&id)];
	for (int i = 0; i < 5; i++) {
		char lbl[32];
		snprintf(lbl, sizeof(lbl), "P.content.%d", i);
		snprintf(text, sizeof(text), "turn %d: %s", i, new_canary(lbl, 1));
		append(v, NULL, "user", text, strlen(text));
		model_push(v, text, strlen(text));
	}
	struct timespec ts = {0, 3000000};
	nanosleep(&ts, NULL);
	id = tu_conv(db, "u", "bulk");
	mconv *bulk = &M[model_new(&id)];
	char *buf = malloc(8192);
	convlog_txn *t = NULL;
	for (int i = 0; i < 1600; i++) {
		if (i % 50 == 0)
			CK_OK(convlog_txn_begin(db, &t));
		size_t n = gen_text(&rs, buf, 3000 + tu_rand(&rs) % 2000);
		append(bulk, t, "user", buf, n);
		model_push(bulk, buf, n);
		if (i % 50 == 49)
			CK_OK(convlog_txn_commit(t));
	}
	free(buf);

	race_victim = v->id;
	race_done = 0;
	race_rc = 0;
	convlog_compact_stats st = compact_with(CONVLOG_COMPACT_FULL, purge_midway, NULL);
	ck_assert_msg(race_done, "the progress callback never ran while records were copied");
	CK_OK(race_rc);
	v->purged = 1;
	ck_assert_uint_gt(st.records_moved, 0);
	check_model();

	/* the text index is merged so only the segments are in question */
	CK_OK(convlog_index_merge(db, CONVLOG_MERGE_ALL));
	st = compact(0);
	fprintf(stderr, "after a purge during a compaction: planned %llu, rewritten %llu, erased %d\n",
		(unsigned long long)st.segments_planned, (unsigned long long)st.segments_rewritten, st.erased);
	ck_assert_int_eq(st.erased, 1);
	check_model();
	scan_store("after the compaction following the purge", 1);
	model_free();
}
END_TEST

/*
 * convlog_compact after a purge promises that no byte of the purged
 * conversation remains in any file of the store; STORE/index/ is part of
 * the store.  Here the compaction is not preceded by convlog_index_merge.
 */
START_TEST(compact__purge_then_compact_leaves_no_word_in_the_index)
{
	uint64_t rs = 23;
	char text[256];

	ncan = 0;
	convlog_uuid kept = tu_conv(db, "u", "kept");
	convlog_uuid gone = tu_conv(db, "u", "gone");
	mconv k = {.id = kept}, g = {.id = gone};
	char buf[4096];
	convlog_txn *t;
	/* one transaction: the purged document shares its index segment with
	 * many live ones, so no background merge rewrites it on its own */
	CK_OK(convlog_txn_begin(db, &t));
	for (int i = 0; i < 40; i++) {
		size_t n = gen_text(&rs, buf, 1000);
		append(&k, t, "user", buf, n);
	}
	snprintf(text, sizeof(text), "the secret word is %s", new_canary("G.content", 1));
	append(&g, t, "user", text, strlen(text));
	snprintf(text, sizeof(text), "the public word is %s", new_canary("K.content", 0));
	append(&k, t, "user", text, strlen(text));
	CK_OK(convlog_txn_commit(t));
	CK_OK(convlog_checkpoint(db)); /* the words reach an index segment */
	scan_store("before the purge", 0);
	ck_assert_msg(canary_by("G.content")->raw_hits > 0, "the word is in no index file: nothing to test");
	CK_OK(convlog_conv_delete(db, NULL, &gone));
	CK_OK(convlog_conv_purge(db, NULL, &gone));
	convlog_compact_stats st = compact(0);
	ck_assert_int_eq(st.erased, 1);
	ck_assert_uint_eq(search_hits(canary_by("G.content")->text), 0);
	ck_assert_uint_eq(search_hits(canary_by("K.content")->text), 1);
	tu_verify_clean(db);
	scan_store("after purge + compact (no explicit index merge)", 1);
	ck_assert(canary_by("K.content")->dec_hits > 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compact");
	/* two cases of about equal length, so CI's ThreadSanitizer pass can
	 * run them side by side (CK_RUN_CASE=random, CK_RUN_CASE=cases) */
	TCase *tr = tcase_create("random");
	TCase *tc = tcase_create("cases");

	tcase_add_checked_fixture(tr, setup, teardown);
	tcase_set_timeout(tr, 120);
	tcase_add_test(tr, compact__random_operations_match_a_model);
	tcase_add_test(tr, compact__reclaims_superseded_and_purged_space);
	suite_add_tcase(s, tr);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, compact__archived_conversations_go_cold);
	tcase_add_test(tc, compact__readers_keep_reading_during_compaction);
	tcase_add_test(tc, compact__purged_canaries_leave_no_byte_in_any_file);
	tcase_add_test(tc, compact__cold_segments_keep_a_dictionary_when_rewritten);
	tcase_add_test(tc, compact__purged_archived_conversation_leaves_no_byte_in_a_dictionary);
	tcase_add_test(tc, compact__a_purge_during_a_compaction_is_erased_by_the_next);
	tcase_add_test(tc, compact__purge_then_compact_leaves_no_word_in_the_index);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
