/*
 * main.c - convlog-bench: flags, the run, the report.
 *
 * The parent builds the workload plan (small), measures the disk's
 * fdatasync floor, then runs each engine in a child process of its own
 * (convlog first, then SQLite) that performs the same scenarios in the
 * same order on the same corpus and sends its figures back through a pipe.
 * Separate processes give each engine its own peak RSS and keep one
 * engine's caches from helping the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <unistd.h>

#include "bench.h"
#include "convlog.h"

#define MAX_SCALES 8

typedef struct opts {
	uint64_t seed;
	uint32_t messages;
	int messages_set;
	uint32_t scales[MAX_SCALES]; /* --scales, ascending; none: one run of `messages` */
	uint32_t n_scales;
	const char *plot_dir;
	const char *json_out;        /* --json-out: the JSON also goes to this file */
	uint32_t interleave;
	int json, quick, keep;
	const char *only;
	const char *dir_flag;
	char dir[4096];
	int dir_created;
	bench_cfg cfg;
} opts;

static const struct {
	const char *name;
	uint32_t bit;
} scen_names[] = {
	{"fsync", SC_FSYNC},         {"bulk_import", SC_IMPORT},
	{"import_nofts", SC_IMPORT_NOFTS}, {"append_1t", SC_APPEND1},
	{"append_4t", SC_APPEND4},   {"tail_read", SC_TAIL},
	{"recent", SC_RECENT},       {"open", SC_OPEN},
	{"disk_size", SC_DISK},      {"search", SC_SEARCH},
	{"compact", SC_COMPACT},     {"thread_walk", SC_THREAD},
};

#define N_SCEN (sizeof(scen_names) / sizeof(scen_names[0]))

#define SEARCH_RUNS 40          /* timed queries per class */
#define SEARCH_SANITY_CAP 10000 /* newest matches compared per cross-check query */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: convlog-bench [options]\n"
		"\n"
		"Runs one deterministic chat-history workload against convlog and against\n"
		"SQLite (WAL, synchronous=FULL, FTS5) and prints every figure for both with\n"
		"the ratio convlog/SQLite.\n"
		"\n"
		"  --messages N     corpus size in messages (default 100000)\n"
		"  --seed S         workload seed (default 1); same seed, same corpus\n"
		"  --dir DIR        where the stores go (default: a fresh directory under\n"
		"                   $TMPDIR or /tmp), removed at the end unless --keep\n"
		"  --keep           keep the stores\n"
		"  --json           print one JSON object instead of the table\n"
		"  --quick          N=20000 and fewer iterations (under a minute)\n"
		"  --only NAME[,NAME...]  run only these scenarios: fsync, bulk_import,\n"
		"                   import_nofts, append_1t, append_4t, tail_read, recent,\n"
		"                   open, disk_size, search (full-text queries and index\n"
		"                   size), compact (compaction / VACUUM, the tail read after\n"
		"                   it, editing 10%% of the messages and reclaiming; convlog:\n"
		"                   warm vs cold tier, zstd dictionary on small frames; runs\n"
		"                   last, it changes the store), thread_walk (fork 200\n"
		"                   conversations, walk a fork's thread root to tip); data\n"
		"                   is loaded, unreported, as needed\n"
		"  --scales N1,N2,...  run everything at each corpus size in turn (each with\n"
		"                   its own workload and stores), print each scale's table,\n"
		"                   then how each figure grows with size (JSON: {\"scales\":[...]})\n"
		"  --plot-dir DIR   write gnuplot data files, a script and PNGs of every figure\n"
		"                   against store size, both engines, into DIR\n"
		"  --json-out FILE  also write the JSON (as --json prints it) to FILE, next\n"
		"                   to the table on stdout\n"
		"  --threads T      writer threads of the concurrent append scenario (4)\n"
		"  --interleave K   conversations receiving turns at once in the arrival\n"
		"                   stream (default 32; 1 = one conversation at a time)\n"
		"  --compact-default  compact scenario: convlog_compact with default options,\n"
		"                   which leave the active segment (64 MiB) alone, instead of\n"
		"                   CONVLOG_COMPACT_FULL (seal the active segment and rewrite\n"
		"                   every segment, as VACUUM rewrites the whole database)\n"
		"  -h, --help       this help\n");
}

static uint64_t parse_u64(const char *s, const char *flag)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		bench_die("%s: '%s' is not a number", flag, s);
	return v;
}

static uint32_t parse_only(const char *list)
{
	uint32_t bits = 0;
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < N_SCEN; i++)
			if (!strcmp(tok, scen_names[i].name))
				break;
		if (i == N_SCEN)
			bench_die("--only: unknown scenario '%s' (see --help)", tok);
		bits |= scen_names[i].bit;
	}
	return bits;
}

/* "N1,N2,...": distinct sizes, sorted ascending. */
static void parse_scales(const char *list, opts *o)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	o->n_scales = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v = parse_u64(tok, "--scales");
		uint32_t i;
		if (o->n_scales == MAX_SCALES)
			bench_die("--scales: at most %d sizes", MAX_SCALES);
		if (v > UINT32_MAX)
			bench_die("--scales: %s is too large", tok);
		for (i = o->n_scales; i > 0 && o->scales[i - 1] > v; i--)
			o->scales[i] = o->scales[i - 1];
		if (i > 0 && o->scales[i - 1] == v)
			bench_die("--scales: %s given twice", tok);
		o->scales[i] = (uint32_t)v;
		o->n_scales++;
	}
	if (!o->n_scales)
		bench_die("--scales: no size given");
}

static void parse_args(int argc, char **argv, opts *o)
{
	enum {
		O_MSG = 256,
		O_SEED,
		O_DIR,
		O_KEEP,
		O_JSON,
		O_QUICK,
		O_ONLY,
		O_THREADS,
		O_INTER,
		O_COMPACT_FULL,
		O_SCALES,
		O_PLOT_DIR,
		O_JSON_OUT
	};
	static const struct option lo[] = {
		{"messages", required_argument, NULL, O_MSG},
		{"seed", required_argument, NULL, O_SEED},
		{"dir", required_argument, NULL, O_DIR},
		{"keep", no_argument, NULL, O_KEEP},
		{"json", no_argument, NULL, O_JSON},
		{"quick", no_argument, NULL, O_QUICK},
		{"only", required_argument, NULL, O_ONLY},
		{"threads", required_argument, NULL, O_THREADS},
		{"interleave", required_argument, NULL, O_INTER},
		{"compact-default", no_argument, NULL, O_COMPACT_FULL},
		{"scales", required_argument, NULL, O_SCALES},
		{"plot-dir", required_argument, NULL, O_PLOT_DIR},
		{"json-out", required_argument, NULL, O_JSON_OUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->messages = 100000;
	o->interleave = 32;
	o->cfg.threads = 4;
	o->cfg.compact_flags = CONVLOG_COMPACT_FULL; /* like VACUUM: everything */
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_MSG:
			o->messages = (uint32_t)parse_u64(optarg, "--messages");
			o->messages_set = 1;
			break;
		case O_SEED:
			o->seed = parse_u64(optarg, "--seed");
			break;
		case O_DIR:
			o->dir_flag = optarg;
			break;
		case O_KEEP:
			o->keep = 1;
			break;
		case O_JSON:
			o->json = 1;
			break;
		case O_QUICK:
			o->quick = 1;
			break;
		case O_ONLY:
			o->only = optarg;
			break;
		case O_THREADS:
			o->cfg.threads = (uint32_t)parse_u64(optarg, "--threads");
			break;
		case O_INTER:
			o->interleave = (uint32_t)parse_u64(optarg, "--interleave");
			break;
		case O_COMPACT_FULL:
			o->cfg.compact_flags = 0;
			break;
		case O_SCALES:
			parse_scales(optarg, o);
			break;
		case O_PLOT_DIR:
			o->plot_dir = optarg;
			break;
		case O_JSON_OUT:
			o->json_out = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (o->quick && !o->messages_set)
		o->messages = 20000;
	if (o->n_scales && o->messages_set)
		bench_die("--scales and --messages exclude each other");
	for (uint32_t i = 0; i < o->n_scales || i == 0; i++) {
		uint32_t n = o->n_scales ? o->scales[i] : o->messages;
		if (n < 100 || n > 50000000)
			bench_die("%s must be between 100 and 50000000",
				  o->n_scales ? "--scales sizes" : "--messages");
	}
	if (o->cfg.threads < 1 || o->cfg.threads > 256)
		bench_die("--threads must be between 1 and 256");
	if (o->interleave < 1 || o->interleave > 100000)
		bench_die("--interleave must be between 1 and 100000");
	o->cfg.scenarios = o->only ? parse_only(o->only) : ~0u;
	o->cfg.batch = 1000;
	o->cfg.appends = o->quick ? 500 : 2000;
	o->cfg.reads = o->quick ? 500 : 2000;
	o->cfg.opens = 5;
	o->cfg.fsyncs = o->quick ? 200 : 1000;
	o->cfg.tail_n = 50;
	o->cfg.recent_n = 20;
}

static void setup_dir(opts *o)
{
	if (o->dir_flag) {
		snprintf(o->dir, sizeof(o->dir), "%s", o->dir_flag);
		if (access(o->dir, F_OK) != 0) {
			dir_make(o->dir);
			o->dir_created = 1;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(o->dir, sizeof(o->dir), "%s/convlog-bench.XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(o->dir))
			bench_die("mkdtemp %s: %s", o->dir, strerror(errno));
		o->dir_created = 1;
	}
	o->cfg.dir = o->dir;
}

static void cleanup_dir(const opts *o)
{
	char p[4200];

	if (o->keep)
		return;
	if (o->dir_created) {
		dir_remove(o->dir);
		return;
	}
	snprintf(p, sizeof(p), "%s/convlog.store", o->dir);
	dir_remove(p);
	snprintf(p, sizeof(p), "%s/sqlite", o->dir);
	dir_remove(p);
	snprintf(p, sizeof(p), "%s/sqlite-nofts", o->dir);
	dir_remove(p);
}

/* Runs one engine in a child process; its results come back by pipe. */
static int run_child(const opts *o, const workload *w, int engine, results *out)
{
	int fds[2], status;
	size_t got = 0;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if (pipe(fds) != 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		results r;
		const char *p;
		size_t n = 0;
		close(fds[0]);
		memset(&r, 0, sizeof(r));
		if (engine == ENG_CONVLOG)
			convlog_run(w, &o->cfg, &r);
		else
			sqlite_run(w, &o->cfg, &r);
		p = (const char *)&r;
		while (n < sizeof(r)) {
			ssize_t k = write(fds[1], p + n, sizeof(r) - n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				_exit(1);
			n += (size_t)k;
		}
		fflush(stderr);
		_exit(0);
	}
	close(fds[1]);
	while (got < sizeof(*out)) {
		ssize_t k = read(fds[0], (char *)out + got, sizeof(*out) - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		bench_log("convlog-bench: the %s process was killed by signal %d (%s)",
			  engine == ENG_CONVLOG ? "convlog" : "SQLite", WTERMSIG(status),
			  strsignal(WTERMSIG(status)));
	return got == sizeof(*out) && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- report ---- */

typedef struct row {
	int metric;        /* values of both engines */
	int cl_metric;     /* convlog's value (usually == metric) */
	const char *key;   /* JSON name */
	const char *label;
	const char *unit;
	double scale;      /* shown value = raw / scale */
	int decimals;
	int higher_better; /* 1 higher, 0 lower, -1 not a comparison */
	int shared;        /* engine-independent: one value */
} row;

static const row rows[] = {
	{M_IMPORT_RATE, M_IMPORT_RATE, "bulk_import",
	 "1. bulk import, 1000 msgs/txn, full-text indexed (convlog: its index; sqlite: FTS5)",
	 "msgs/s", 1, 0, 1, 0},
	{M_IMPORT_NOFTS_RATE, M_IMPORT_RATE, "bulk_import_vs_sqlite_nofts",
	 "1b. bulk import vs SQLite without FTS5 (reference)", "msgs/s", 1, 0, 1, 0},
	{M_APPEND1_RATE, M_APPEND1_RATE, "append_1t_rate", "2. durable appends, 1 thread",
	 "commits/s", 1, 0, 1, 0},
	{M_APPEND1_P50, M_APPEND1_P50, "append_1t_p50", "2. durable appends, 1 thread, p50", "us",
	 1, 0, 0, 0},
	{M_APPEND1_P99, M_APPEND1_P99, "append_1t_p99", "2. durable appends, 1 thread, p99", "us",
	 1, 0, 0, 0},
	{M_APPEND1_FLOOR, M_APPEND1_FLOOR, "append_1t_floor_p50",
	 "2b. raw 512 B pwrite+fdatasync p50, measured right after 2.", "us", 1, 0, -1, 0},
	{M_APPEND1_VS_FLOOR, M_APPEND1_VS_FLOOR, "append_1t_p50_vs_floor",
	 "2c. durable appends, 1 thread, p50 / 2b.", "x", 1, 2, 0, 0},
	{M_APPEND4_RATE, M_APPEND4_RATE, "append_4t_rate", "3. durable appends, %u threads",
	 "commits/s", 1, 0, 1, 0},
	{M_APPEND4_P50, M_APPEND4_P50, "append_4t_p50", "3. durable appends, %u threads, p50", "us",
	 1, 0, 0, 0},
	{M_APPEND4_P99, M_APPEND4_P99, "append_4t_p99", "3. durable appends, %u threads, p99", "us",
	 1, 0, 0, 0},
	{M_TAIL_P50, M_TAIL_P50, "tail_read_p50", "4. tail read, last 50 msgs, p50", "us", 1, 1, 0,
	 0},
	{M_TAIL_P99, M_TAIL_P99, "tail_read_p99", "4. tail read, last 50 msgs, p99", "us", 1, 1, 0,
	 0},
	{M_TAIL_COMPACT_P50, M_TAIL_COMPACT_P50, "tail_read_p50_after_compaction",
	 "4b. tail read, last 50 msgs, p50, after 16.", "us", 1, 1, 0, 0},
	{M_RECENT_P50, M_RECENT_P50, "recent_convs_p50", "5. user's 20 recent conversations, p50",
	 "us", 1, 1, 0, 0},
	{M_RECENT_P99, M_RECENT_P99, "recent_convs_p99", "5. user's 20 recent conversations, p99",
	 "us", 1, 1, 0, 0},
	{M_THREAD_P50, M_THREAD_P50, "thread_walk_p50",
	 "5b. thread walk of a forked conversation, root to tip, p50", "us", 1, 1, 0, 0},
	{M_THREAD_P99, M_THREAD_P99, "thread_walk_p99",
	 "5b. thread walk of a forked conversation, root to tip, p99", "us", 1, 1, 0, 0},
	{M_OPEN_FIRST, M_OPEN_FIRST, "open_first", "6. open, first after the load", "us", 1, 0, 0,
	 0},
	{M_OPEN_BEST, M_OPEN_BEST, "open_best", "6. open after checkpoint, best of 5", "us", 1, 0, 0,
	 0},
	{M_DISK_BYTES, M_DISK_BYTES, "disk_bytes", "7. disk size after checkpoint", "MiB",
	 1048576.0, 1, 0, 0},
	{M_DISK_RATIO, M_DISK_RATIO, "disk_vs_raw_text", "7. disk size / raw text bytes", "x", 1, 3,
	 0, 0},
	{M_FSYNC_P50, M_FSYNC_P50, "fsync_floor_p50",
	 "8. raw 4 KiB pwrite+fdatasync append, p50 (disk)", "us", 1, 0, -1, 1},
	{M_FSYNC_P99, M_FSYNC_P99, "fsync_floor_p99",
	 "8. raw 4 KiB pwrite+fdatasync append, p99 (disk)", "us", 1, 0, -1, 1},
	{M_FSYNC_SMALL_P50, M_FSYNC_SMALL_P50, "fsync_floor_512b_p50",
	 "8b. raw 512 B pwrite+fdatasync append, p50 (disk)", "us", 1, 0, -1, 1},
	{M_RSS_PEAK, M_RSS_PEAK, "peak_rss", "9. peak RSS of the engine's process", "MiB", 1048576.0,
	 1, 0, 0},
	{M_ANON_PEAK, M_ANON_PEAK, "peak_anon",
	 "9b. peak anonymous memory (heap; not mapped files), sampled", "MiB", 1048576.0, 1, 0, 0},
#define SEARCH_ROWS(c, key, what)                                                               \
	{M_SEARCH_P50 + 2 * (c), M_SEARCH_P50 + 2 * (c), "search_" key "_p50",                   \
	 what ", top 20 + snippets, p50", "us", 1, 0, 0, 0},                                      \
	{M_SEARCH_P50 + 2 * (c) + 1, M_SEARCH_P50 + 2 * (c) + 1, "search_" key "_p95",           \
	 what ", top 20 + snippets, p95", "us", 1, 0, 0, 0}
	SEARCH_ROWS(SQ_COMMON, "common", "10. search: common term (10 most frequent words)"),
	SEARCH_ROWS(SQ_PHRASE, "phrase", "11. search: phrase of two frequent words"),
	SEARCH_ROWS(SQ_PREFIX, "prefix", "12. search: prefix (2-3 letters of a frequent word)*"),
	SEARCH_ROWS(SQ_AND, "and", "13. search: two mid-frequency terms (rank 100-2000), AND"),
	SEARCH_ROWS(SQ_RARE, "rare", "14. search: rare term (rank > 10000)"),
#undef SEARCH_ROWS
	{M_INDEX_BYTES, M_INDEX_BYTES, "index_bytes",
	 "15. full-text index size (convlog: index/*.idx; sqlite: FTS5 tables)", "MiB", 1048576.0,
	 1, 0, 0},
	{M_INDEX_RATIO, M_INDEX_RATIO, "index_vs_raw_text",
	 "15. full-text index size / raw text bytes", "x", 1, 3, 0, 0},
	{M_COMPACT_MS, M_COMPACT_MS, "compaction_ms",
	 "16. compaction of the loaded store (convlog: convlog_compact; sqlite: VACUUM), time",
	 "ms", 1, 1, 0, 0},
	{M_COMPACT_DISK, M_COMPACT_DISK, "compaction_disk_bytes", "16b. disk size after 16.", "MiB",
	 1048576.0, 1, 0, 0},
	{M_COMPACT_RATIO, M_COMPACT_RATIO, "compaction_disk_vs_raw_text",
	 "16c. disk after 16. / raw text", "x", 1, 3, 0, 0},
	{M_EDIT_DISK, M_EDIT_DISK, "edit_disk_bytes",
	 "17. after editing 10% of messages: disk before compaction", "MiB", 1048576.0, 1, 0, 0},
	{M_EDIT_COMPACT_DISK, M_EDIT_COMPACT_DISK, "edit_compaction_disk_bytes",
	 "17b. after editing 10% of messages: disk after compaction", "MiB", 1048576.0, 1, 0, 0},
	{M_EDIT_COMPACT_MS, M_EDIT_COMPACT_MS, "edit_compaction_ms",
	 "17c. after editing 10% of messages: compaction time", "ms", 1, 1, 0, 0},
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

typedef struct report {
	const opts *o;
	const workload *w;
	const query_set *qs;
	results res[2];
	double fsync_p50, fsync_p99, fsync_small_p50;
	int have_fsync;
	long harness_rss_kib;
	struct utsname un;
	long nproc;
	char cpu[256];       /* "model name" of /proc/cpuinfo */
	uint64_t mem_bytes;  /* MemTotal of /proc/meminfo; 0 = unknown */
	uint32_t messages;   /* corpus size (kept after the workload is freed) */
} report;

/* The label, with the thread count where it has a %u. */
static const char *row_label(const report *rp, const row *r, char *buf, size_t n)
{
	if (!strstr(r->label, "%u"))
		return r->label;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(buf, n, r->label, rp->o->cfg.threads);
#pragma GCC diagnostic pop
	return buf;
}

static int row_have(const report *rp, const row *r, int eng)
{
	if (r->shared)
		return rp->have_fsync;
	if (eng == ENG_CONVLOG)
		return rp->res[ENG_CONVLOG].have[r->cl_metric];
	return rp->res[ENG_SQLITE].have[r->metric];
}

static double row_val(const report *rp, const row *r, int eng)
{
	if (r->shared)
		return r->metric == M_FSYNC_P50   ? rp->fsync_p50
		       : r->metric == M_FSYNC_P99 ? rp->fsync_p99
						  : rp->fsync_small_p50;
	if (eng == ENG_CONVLOG)
		return rp->res[ENG_CONVLOG].v[r->cl_metric];
	return rp->res[ENG_SQLITE].v[r->metric];
}

static void fmt_val(char *buf, size_t n, const report *rp, const row *r, int eng)
{
	if (!row_have(rp, r, eng))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.*f", r->decimals, row_val(rp, r, eng) / r->scale);
}

static void fmt_ratio(char *buf, size_t n, const report *rp, const row *r)
{
	double a, b;

	if (r->shared || !row_have(rp, r, 0) || !row_have(rp, r, 1) || row_val(rp, r, 1) == 0) {
		snprintf(buf, n, "-");
		return;
	}
	a = row_val(rp, r, 0);
	b = row_val(rp, r, 1);
	snprintf(buf, n, "%.3f", a / b);
}

static const char *better(const row *r)
{
	return r->higher_better == 1 ? "higher is better" : r->higher_better == 0 ? "lower is better"
										  : "";
}

static int any_row(const report *rp, const row *r)
{
	return row_have(rp, r, 0) || row_have(rp, r, 1);
}

static const char *match(const report *rp, int x)
{
	const results *c = &rp->res[0], *s = &rp->res[1];

	if (!c->xhave[x] || !s->xhave[x])
		return "n/a";
	return c->x[x] == s->x[x] ? "match" : "MISMATCH";
}

/* The thread walks agree if the messages, bytes and content hash do. */
static const char *match_walks(const report *rp)
{
	const char *m = match(rp, X_THREAD_CHECK);

	if (strcmp(m, "match"))
		return m;
	if (strcmp(match(rp, X_THREAD_MSGS), "match") || strcmp(match(rp, X_THREAD_BYTES), "match"))
		return "MISMATCH";
	return m;
}

/* The machine, for the header: nproc, kernel, CPU model and memory. */
static void machine_init(report *rp)
{
	char line[512];
	FILE *f;

	rp->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&rp->un) != 0)
		bench_die("uname: %s", strerror(errno));
	snprintf(rp->cpu, sizeof(rp->cpu), "?");
	if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');
			if (strncmp(line, "model name", 10) || !colon)
				continue;
			colon += 1 + strspn(colon + 1, " \t");
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(rp->cpu, sizeof(rp->cpu), "%s", colon);
			break;
		}
		fclose(f);
	}
	if ((f = fopen("/proc/meminfo", "r")) != NULL) {
		unsigned long long kib;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
				rp->mem_bytes = (uint64_t)kib * 1024;
				break;
			}
		fclose(f);
	}
}

/* The text source wl_build chose (workload.c). */
static const char *corpus_name(const workload *w)
{
	return w->corpus ? w->corpus : "?";
}

static void print_header(const report *rp)
{
	const workload *w = rp->w;
	const bench_cfg *cfg = &rp->o->cfg;

	printf("convlog-bench: nproc %ld, %s %s %s, fs %s, SQLite %s, convlog %s\n", rp->nproc,
	       rp->un.sysname, rp->un.release, rp->un.machine, fs_type_name(rp->o->dir),
	       sqlite3_libversion(), convlog_version());
	printf("machine: CPU %s, %ld online, memory %.1f GiB\n", rp->cpu, rp->nproc,
	       rp->mem_bytes / 1073741824.0);
	printf("corpus: %s, training files digest %016" PRIx64 " (0: none)\n", corpus_name(w),
	       w->corpus_digest);
	printf("workload: N %" PRIu32 " messages, seed %" PRIu64 ", %" PRIu32
	       " conversations of %" PRIu32 " users, interleave %" PRIu32 ", raw text %.1f MiB "
	       "(%.0f B/msg), corpus digest %016" PRIx64 "%s\n",
	       w->n_msgs, w->seed, w->n_convs, w->n_users, w->interleave,
	       (double)w->raw_bytes / 1048576.0, (double)w->raw_bytes / w->n_msgs, w->digest,
	       rp->o->quick ? ", --quick" : "");
	printf("runs: import %u msgs/txn; %u appends per append scenario (%u threads in 3.); "
	       "%u reads; best of %u opens; %u fsyncs; %u searches per query class; durability "
	       "FULL in both; default options (convlog: 32 MiB block cache, 32 MiB memtable; "
	       "SQLite: 2 MB page cache)\n",
	       cfg->batch, cfg->appends, cfg->threads, cfg->reads, cfg->opens, cfg->fsyncs,
	       SEARCH_RUNS);
	printf("\n");
}

typedef char cell_row[5][128];

static void print_rows(const report *rp)
{
	static const char *const hdr[5] = {"scenario", "convlog", "sqlite",
					   "ratio (convlog/sqlite)", "unit"};
	static cell_row cells[N_ROWS];
	size_t wid[5];

	for (int k = 0; k < 5; k++)
		wid[k] = strlen(hdr[k]);
	for (size_t i = 0; i < N_ROWS; i++) {
		const row *r = &rows[i];
		char lb[128];
		snprintf(cells[i][0], 128, "%s", row_label(rp, r, lb, sizeof(lb)));
		fmt_val(cells[i][1], 128, rp, r, 0);
		if (r->shared)
			snprintf(cells[i][2], 128, "(same disk)");
		else
			fmt_val(cells[i][2], 128, rp, r, 1);
		fmt_ratio(cells[i][3], 128, rp, r);
		snprintf(cells[i][4], 128, "%s%s%s", r->unit, *better(r) ? ", " : "", better(r));
		for (int k = 0; any_row(rp, r) && k < 5; k++)
			if (strlen(cells[i][k]) > wid[k])
				wid[k] = strlen(cells[i][k]);
	}
	printf("%-*s | %*s | %*s | %*s | %s\n", (int)wid[0], hdr[0], (int)wid[1], hdr[1],
	       (int)wid[2], hdr[2], (int)wid[3], hdr[3], hdr[4]);
	for (size_t k = 0; k < wid[0] + wid[1] + wid[2] + wid[3] + 12 + wid[4]; k++)
		putchar('-');
	putchar('\n');
	for (size_t i = 0; i < N_ROWS; i++) {
		if (!any_row(rp, &rows[i]))
			continue;
		printf("%-*s | %*s | %*s | %*s | %s\n", (int)wid[0], cells[i][0], (int)wid[1],
		       cells[i][1], (int)wid[2], cells[i][2], (int)wid[3], cells[i][3], cells[i][4]);
	}
	printf("\n");
}

/* ---- search comparison ---- */

/* Mean share of hits the two engines' top 20 have in common, over the
 * instances both answered; *differ: instances whose hit counts differ. */
static double top_overlap(const report *rp, int c, uint32_t *differ)
{
	const search_facts *a = &rp->res[ENG_CONVLOG].s, *b = &rp->res[ENG_SQLITE].s;
	double sum = 0;
	uint32_t n = 0;

	*differ = 0;
	for (uint32_t i = 0; i < rp->qs->n[c]; i++) {
		uint32_t na = a->ntop[c][i], nb = b->ntop[c][i], same = 0;
		if (na != nb)
			(*differ)++;
		if (!na && !nb)
			continue;
		for (uint32_t x = 0; x < na; x++)
			for (uint32_t y = 0; y < nb; y++)
				if (a->top[c][i][x] == b->top[c][i][y]) {
					same++;
					break;
				}
		sum += (double)same / (double)(na > nb ? na : nb);
		n++;
	}
	return n ? sum / n : 0;
}

/* The convlog count is capped at the sanity cap; SQLite's is exact. */
static int sanity_ok(const report *rp, int c, uint32_t i)
{
	const search_facts *a = &rp->res[ENG_CONVLOG].s, *b = &rp->res[ENG_SQLITE].s;
	double cap = rp->qs->sanity_cap;
	double want = b->count[c][i] < cap ? b->count[c][i] : cap;

	return a->count[c][i] == want && a->set_hash[c][i] == b->set_hash[c][i];
}

static const char *sq_form_name(int form)
{
	return form ? "ORDER BY rank" : "ORDER BY bm25()";
}

static int have_search(const report *rp)
{
	return rp->qs && rp->res[ENG_CONVLOG].s.have && rp->res[ENG_SQLITE].s.have;
}

static double per_query(const report *rp, const double *v, int c)
{
	return rp->qs->runs ? v[c] / rp->qs->runs : 0;
}

static void print_search_class(const report *rp, int c)
{
	const search_facts *a = &rp->res[ENG_CONVLOG].s, *b = &rp->res[ENG_SQLITE].s;
	const query_set *qs = rp->qs;
	uint32_t differ, bad = 0, checked = 0;
	double ov = top_overlap(rp, c, &differ);

	printf("  %-6s e.g. %s", sq_class_names[c], qs->n[c] ? qs->q[c][0] : "(none found)");
	for (uint32_t i = 1; i < 3 && i < qs->n[c]; i++)
		printf(", %s", qs->q[c][i]);
	printf(": hits/query convlog %.1f, sqlite %.1f; convlog scored %.0f docs/query; "
	       "snippet bytes/query %.0f vs %.0f; top-20 overlap %.0f%%",
	       per_query(rp, a->hits, c), per_query(rp, b->hits, c),
	       per_query(rp, a->candidates, c), per_query(rp, a->snippet_bytes, c),
	       per_query(rp, b->snippet_bytes, c), ov * 100);
	if (differ)
		printf(" (%u queries with different hit counts)", differ);
	printf("; sqlite: %s reported (the other: p50 %.0f us, p95 %.0f us)\n",
	       sq_form_name(b->form[c]), b->other_p50[c], b->other_p95[c]);
	for (uint32_t i = 0; i < SQ_SANITY && i < qs->n[c]; i++) {
		checked++;
		bad += !sanity_ok(rp, c, i);
	}
	printf("         all matches, %u queries: ", checked);
	for (uint32_t i = 0; i < checked; i++)
		printf("%s%s sqlite %.0f convlog %.0f%s %s", i ? "; " : "", qs->q[c][i],
		       b->count[c][i], a->count[c][i],
		       b->count[c][i] > qs->sanity_cap ? " (capped)" : "",
		       sanity_ok(rp, c, i) ? "match" : "MISMATCH");
	printf("\n");
}

static void print_search_notes(const report *rp)
{
	const results *c = &rp->res[ENG_CONVLOG], *s = &rp->res[ENG_SQLITE];

	if (c->xhave[X_INDEX_FILES])
		printf("full-text index: convlog %.0f segment files in index/ after close, "
		       "%.1f MiB (%.1f MiB allocated); right after the import %.0f files, %.1f MiB, "
		       "then the pending tiered merges ran (convlog_index_merge, %.1f s, untimed) "
		       "before searching\n",
		       c->x[X_INDEX_FILES], c->v[M_INDEX_BYTES] / 1048576.0,
		       c->x[X_INDEX_ALLOC] / 1048576.0, c->x[X_INDEX_PRE_FILES],
		       c->x[X_INDEX_PRE_BYTES] / 1048576.0, c->x[X_INDEX_MERGE_S]);
	if (s->have[M_INDEX_BYTES])
		printf("full-text index: sqlite %s, %.1f MiB\n",
		       s->s.index_via_dbstat
			       ? "FTS5 shadow tables' pages (dbstat, after the import)"
			       : "database size minus the database without FTS5",
		       s->v[M_INDEX_BYTES] / 1048576.0);
	if (s->s.index_via_dbstat && s->xhave[X_NOFTS_DISK] && s->have[M_DISK_BYTES])
		printf("  (for reference: sqlite database %.1f MiB - without FTS5 %.1f MiB = "
		       "%.1f MiB, both after the import)\n",
		       s->v[M_DISK_BYTES] / 1048576.0, s->x[X_NOFTS_DISK] / 1048576.0,
		       (s->v[M_DISK_BYTES] - s->x[X_NOFTS_DISK]) / 1048576.0);
	if (!have_search(rp))
		return;
	printf("search: %u timed runs per class over its instances (common: the 10 most frequent "
	       "words, %u runs each; others %u distinct queries), after closing and reopening each "
	       "store and one warm-up query per class; same queries in both engines.\n"
	       "  convlog: convlog_search(), limit 20, BM25; each hit has conv id, seq, score, "
	       "role, created_at and a 24-word snippet with [ ] marks (read from the message).\n"
	       "  sqlite: SELECT rowid, snippet(messages_fts, 0, '[', ']', '...', 24) FROM "
	       "messages_fts WHERE messages_fts MATCH ? ORDER BY bm25(messages_fts) LIMIT 20, and "
	       "the same ORDER BY rank (both bm25), each class reporting the faster by p50; FTS5 "
	       "reads each hit's row from messages for its snippet; default FTS5 (no prefix "
	       "index), not optimized after the import.\n",
	       rp->qs->runs, rp->qs->n[SQ_COMMON] ? rp->qs->runs / rp->qs->n[SQ_COMMON] : 0,
	       rp->qs->n[SQ_PHRASE]);
	for (int k = 0; k < SQ_CLASSES; k++)
		print_search_class(rp, k);
	printf("  (all matches: newest first, up to %u per query, compared as sets; "
	       "top-20 overlap: share of the same messages in both engines' top 20)\n",
	       rp->qs->sanity_cap);
}

static void print_compact_notes(const report *rp)
{
	const results *c = &rp->res[ENG_CONVLOG], *s = &rp->res[ENG_SQLITE];
	uint32_t dict_n = rp->w->n_msgs / 2 < DICT_MSGS ? rp->w->n_msgs / 2 : DICT_MSGS;
	int full = (rp->o->cfg.compact_flags & CONVLOG_COMPACT_FULL) != 0;

	if (c->have[M_COMPACT_MS]) {
		printf("compaction (16.): convlog_compact %s, after convlog_checkpoint: %.0f "
		       "segments rewritten into %.0f compacted, %.0f records moved, %.0f segment "
		       "files after; disk %.1f -> %.1f MiB\n",
		       full ? "with CONVLOG_COMPACT_FULL" : "with default options (--compact-default)",
		       c->x[X_COMPACT_REWRITTEN], c->x[X_COMPACT_WRITTEN], c->x[X_COMPACT_MOVED],
		       c->x[X_COMPACT_SEGS_AFTER], c->x[X_COMPACT_DISK_BEFORE] / 1048576.0,
		       c->v[M_COMPACT_DISK] / 1048576.0);
		if (!full && c->x[X_COMPACT_REWRITTEN] == 0)
			printf("  (nothing to rewrite: without CONVLOG_COMPACT_FULL the active log "
			       "segment is left alone, and it holds the whole log; drop "
			       "--compact-default)\n");
	}
	if (s->have[M_COMPACT_MS])
		printf("  sqlite: VACUUM after wal_checkpoint(TRUNCATE); disk %.1f -> %.1f MiB "
		       "measured after another wal_checkpoint(TRUNCATE), which took %.0f ms "
		       "(not in 16.)\n",
		       s->x[X_COMPACT_DISK_BEFORE] / 1048576.0, s->v[M_COMPACT_DISK] / 1048576.0,
		       s->x[X_VACUUM_CKPT_MS]);
	if (c->xhave[X_TAIL_COMPACT_CHECK])
		printf("  read check after 16. (both engines returned the same data): tail read %s "
		       "(%.0f msgs; contents only, since append_4t's concurrent appends may take "
		       "their seqs in another order in each engine)\n",
		       match(rp, X_TAIL_COMPACT_CHECK), c->x[X_TAIL_COMPACT_MSGS]);
	if (c->xhave[X_EDITS])
		printf("edit and reclaim (17.): %.0f messages given new content of the same "
		       "length, 1000 a transaction (convlog_msg_supersede: %.0f msgs/s; sqlite "
		       "UPDATE with the FTS5 trigger: %.0f msgs/s); convlog's compaction rewrote "
		       "%.0f segments, moved %.0f records\n",
		       c->x[X_EDITS], c->x[X_EDIT_RATE], s->x[X_EDIT_RATE], c->x[X_EDIT_REWRITTEN],
		       c->x[X_EDIT_MOVED]);
	if (c->xhave[X_ARCH_CONVS]) {
		printf("convlog warm vs cold: %.0f conversations (every other one) archived, "
		       "convlog_compact(CONVLOG_COMPACT_ARCHIVE%s) %.0f ms, %.0f cold segments "
		       "written; segment files: warm %.1f MiB, cold %.1f MiB, log %.1f MiB\n",
		       c->x[X_ARCH_CONVS], full ? " | CONVLOG_COMPACT_FULL" : "",
		       c->x[X_ARCH_COMPACT_MS], c->x[X_ARCH_COLD_WRITTEN],
		       c->x[X_WARM_SEG_BYTES] / 1048576.0, c->x[X_COLD_SEG_BYTES] / 1048576.0,
		       c->x[X_LOG_SEG_BYTES] / 1048576.0);
		printf("  warm tier: content bytes / segment bytes ");
		if (c->xhave[X_WARM_RATIO])
			printf("%.2f", c->x[X_WARM_RATIO]);
		else
			printf("- (no warm segment)");
		printf(" (%.1f MiB of content); cold tier: ", c->x[X_WARM_CONTENT] / 1048576.0);
		if (c->xhave[X_COLD_RATIO])
			printf("%.2f", c->x[X_COLD_RATIO]);
		else
			printf("- (no cold segment)");
		printf(" (%.1f MiB of content)\n", c->x[X_COLD_CONTENT] / 1048576.0);
		if (c->x[X_LOG_SEG_BYTES] * 100 > c->x[X_WARM_SEG_BYTES] + c->x[X_COLD_SEG_BYTES])
			printf("  (log segments still hold %.1f MiB: the content counted above is not "
			       "all in the tiers' segments%s)\n",
			       c->x[X_LOG_SEG_BYTES] / 1048576.0,
			       full ? "" : "; without --compact-default all of it moves");
	}
	if (c->xhave[X_DICT_MSG_RATIO])
		printf("zstd dictionary on small frames: %.0f KiB trained on %u messages, %u other "
		       "messages (%.1f MiB) compressed at level %d: one frame per message %.0f "
		       "bytes without, %.0f with (dictionary on single-message frames: bytes with "
		       "/ without %.3f); 32 KiB frames of the same messages concatenated %.0f "
		       "without, %.0f with (%.3f)\n",
		       c->x[X_DICT_SIZE] / 1024.0, dict_n, dict_n,
		       c->x[X_DICT_RAW] / 1048576.0, DICT_LEVEL, c->x[X_DICT_MSG_PLAIN],
		       c->x[X_DICT_MSG_DICT], c->x[X_DICT_MSG_RATIO], c->x[X_DICT_CHUNK_PLAIN],
		       c->x[X_DICT_CHUNK_DICT], c->x[X_DICT_CHUNK_RATIO]);
	if (c->xhave[X_SCEN_ANON_PEAK] || s->xhave[X_SCEN_ANON_PEAK])
		printf("memory of the compact scenario (run after 9. was taken, on a fresh open): "
		       "peak anonymous convlog %.1f MiB, sqlite %.1f MiB\n",
		       c->x[X_SCEN_ANON_PEAK] / 1048576.0, s->x[X_SCEN_ANON_PEAK] / 1048576.0);
}

static void print_notes(const report *rp)
{
	const results *c = &rp->res[ENG_CONVLOG], *s = &rp->res[ENG_SQLITE];

	if (c->xhave[X_APPEND1_SYNCS])
		printf("convlog log syncs, 1 thread: %.0f for %.0f commits\n", c->x[X_APPEND1_SYNCS],
		       c->x[X_APPEND1_N]);
	if (c->xhave[X_APPEND4_SYNCS])
		printf("convlog log syncs, %u threads: %.0f for %.0f commits (group commit)\n",
		       rp->o->cfg.threads, c->x[X_APPEND4_SYNCS], c->x[X_APPEND4_N]);
	if (c->xhave[X_SEGMENT_BYTES])
		printf("convlog disk: segments %.1f MiB, LMDB %.1f MiB (apparent total %.1f MiB); "
		       "sqlite apparent %.1f MiB\n",
		       c->x[X_SEGMENT_BYTES] / 1048576.0, c->x[X_META_BYTES] / 1048576.0,
		       c->x[X_DISK_APPARENT] / 1048576.0, s->x[X_DISK_APPARENT] / 1048576.0);
	if (s->xhave[X_NOFTS_DISK])
		printf("sqlite without FTS5: %.1f MiB on disk\n", s->x[X_NOFTS_DISK] / 1048576.0);
	if (c->xhave[X_TAIL_CHECK] || c->xhave[X_RECENT_CHECK])
		printf("read checks (both engines returned the same data): tail read %s "
		       "(%.0f msgs), recent conversations %s (%.0f convs)\n",
		       match(rp, X_TAIL_CHECK), c->x[X_TAIL_MSGS], match(rp, X_RECENT_CHECK),
		       c->x[X_RECENT_CONVS]);
	if (c->xhave[X_THREAD_CHECK])
		printf("thread walk (5b.): %.0f conversations of >= %d turns forked at their middle "
		       "turn, %d turns appended to each (convlog_conv_fork; sqlite: a conversations "
		       "row with parent_id and fork_seq, walked with a recursive CTE); %u walks of a "
		       "random fork: %s (%.0f msgs, %.1f MiB of content; convlog %.0f msgs, sqlite "
		       "%.0f)\n",
		       c->x[X_THREAD_FORKS], FORK_MIN_TURNS, FORK_TURNS, rp->o->cfg.reads,
		       match_walks(rp), c->x[X_THREAD_MSGS], c->x[X_THREAD_BYTES] / 1048576.0,
		       c->x[X_THREAD_MSGS], s->x[X_THREAD_MSGS]);
	print_search_notes(rp);
	print_compact_notes(rp);
	printf("harness baseline RSS (plan, before the engines; included in both 9.): %.1f MiB\n",
	       rp->harness_rss_kib / 1024.0);
}

static void print_table(const report *rp)
{
	print_header(rp);
	print_rows(rp);
	print_notes(rp);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_num(int have, double v)
{
	if (have)
		printf("%.6g", v);
	else
		printf("null");
}

static void json_extra(const results *r)
{
	static const char *const names[] = {
		"tail_read_check", "recent_check", "append_1t_syncs", "append_4t_syncs",
		"append_1t_commits", "append_4t_commits", "disk_apparent_bytes", "segment_bytes",
		"meta_bytes", "nofts_disk_bytes", "tail_read_msgs", "recent_convs", "index_files",
		"index_alloc_bytes", "index_files_before_merges", "index_bytes_before_merges",
		"index_merge_seconds", "compaction_disk_bytes_before",
		"compaction_segments_rewritten", "compaction_segments_written",
		"compaction_records_moved", "compaction_segments_after", "vacuum_checkpoint_ms",
		"tail_read_after_compaction_check", "tail_read_after_compaction_msgs",
		"edited_msgs", "edits_per_sec", "edit_compaction_segments_rewritten",
		"edit_compaction_records_moved", "compact_scenario_peak_rss_bytes",
		"compact_scenario_peak_anon_bytes", "archived_convs", "archive_compaction_ms",
		"archive_cold_segments_written", "warm_content_bytes", "cold_content_bytes",
		"warm_segment_bytes", "cold_segment_bytes", "log_segment_bytes",
		"warm_content_per_segment_byte", "cold_content_per_segment_byte", "dict_bytes",
		"dict_test_raw_bytes", "dict_msg_frames_bytes_without",
		"dict_msg_frames_bytes_with", "dict_msg_frames_with_vs_without",
		"dict_32k_frames_bytes_without",
		"dict_32k_frames_bytes_with", "dict_32k_frames_with_vs_without", "thread_forks",
		"thread_walk_check", "thread_walk_msgs", "thread_walk_content_bytes"};
	_Static_assert(sizeof(names) / sizeof(names[0]) == X_COUNT, "a name per extra");
	int first = 1;

	putchar('{');
	for (int x = 0; x < X_COUNT; x++) {
		if (!r->xhave[x])
			continue;
		printf("%s\"%s\":%.17g", first ? "" : ",", names[x], r->x[x]);
		first = 0;
	}
	putchar('}');
}

static void json_search_engine(const report *rp, int eng)
{
	const search_facts *f = &rp->res[eng].s;

	putchar('{');
	for (int c = 0; c < SQ_CLASSES; c++) {
		printf("%s\"%s\":{\"hits_per_query\":%.6g,\"snippet_bytes_per_query\":%.6g,"
		       "\"mean_us\":%.6g",
		       c ? "," : "", sq_class_names[c], per_query(rp, f->hits, c),
		       per_query(rp, f->snippet_bytes, c), f->mean_us[c]);
		if (eng == ENG_CONVLOG)
			printf(",\"candidates_per_query\":%.6g", per_query(rp, f->candidates, c));
		else
			printf(",\"reported_form\":\"%s\",\"other_form_p50_us\":%.6g,"
			       "\"other_form_p95_us\":%.6g",
			       sq_form_name(f->form[c]), f->other_p50[c], f->other_p95[c]);
		printf("}");
	}
	putchar('}');
}

/* ,"search":{...} when both engines searched. */
static void json_search(const report *rp)
{
	const query_set *qs = rp->qs;

	if (!have_search(rp))
		return;
	printf(",\"search\":{\"runs_per_class\":%u,\"top_k\":%d,\"sanity_cap\":%u,\"queries\":{",
	       qs->runs, SQ_TOP, qs->sanity_cap);
	for (int c = 0; c < SQ_CLASSES; c++) {
		printf("%s\"%s\":[", c ? "," : "", sq_class_names[c]);
		for (uint32_t i = 0; i < qs->n[c]; i++) {
			if (i)
				putchar(',');
			json_str(qs->q[c][i]);
		}
		putchar(']');
	}
	printf("},\"convlog\":");
	json_search_engine(rp, ENG_CONVLOG);
	printf(",\"sqlite\":");
	json_search_engine(rp, ENG_SQLITE);
	printf(",\"top20_overlap\":{");
	for (int c = 0; c < SQ_CLASSES; c++) {
		uint32_t differ;
		double ov = top_overlap(rp, c, &differ);
		printf("%s\"%s\":{\"overlap\":%.4f,\"queries_with_different_hit_counts\":%u}",
		       c ? "," : "", sq_class_names[c], ov, differ);
	}
	printf("},\"all_matches\":[");
	int first = 1;
	for (int c = 0; c < SQ_CLASSES; c++)
		for (uint32_t i = 0; i < SQ_SANITY && i < qs->n[c]; i++) {
			printf("%s{\"class\":\"%s\",\"query\":", first ? "" : ",",
			       sq_class_names[c]);
			json_str(qs->q[c][i]);
			printf(",\"sqlite\":%.0f,\"convlog\":%.0f,\"match\":%s}",
			       rp->res[ENG_SQLITE].s.count[c][i],
			       rp->res[ENG_CONVLOG].s.count[c][i],
			       sanity_ok(rp, c, i) ? "true" : "false");
			first = 0;
		}
	printf("],\"sqlite_index_via_dbstat\":%s}",
	       rp->res[ENG_SQLITE].s.index_via_dbstat ? "true" : "false");
}

static void print_json(const report *rp)
{
	const workload *w = rp->w;
	const bench_cfg *cfg = &rp->o->cfg;
	char kernel[600];

	snprintf(kernel, sizeof(kernel), "%s %s %s", rp->un.sysname, rp->un.release,
		 rp->un.machine);
	printf("{\"bench\":\"convlog-bench\",\"machine\":{\"nproc\":%ld,\"kernel\":", rp->nproc);
	json_str(kernel);
	printf(",\"fs\":");
	json_str(fs_type_name(rp->o->dir));
	printf(",\"cpu\":");
	json_str(rp->cpu);
	printf(",\"mem_bytes\":%" PRIu64, rp->mem_bytes);
	printf(",\"sqlite\":\"%s\",\"convlog\":\"%s\"},", sqlite3_libversion(), convlog_version());
	printf("\"params\":{\"messages\":%" PRIu32 ",\"seed\":%" PRIu64 ",\"quick\":%s,\"only\":",
	       w->n_msgs, w->seed, rp->o->quick ? "true" : "false");
	if (rp->o->only)
		json_str(rp->o->only);
	else
		printf("null");
	printf(",\"corpus\":");
	json_str(corpus_name(w));
	printf(",\"corpus_training_digest\":\"%016" PRIx64 "\"", w->corpus_digest);
	printf(",\"conversations\":%" PRIu32 ",\"users\":%" PRIu32 ",\"interleave\":%" PRIu32
	       ",\"raw_text_bytes\":%" PRIu64 ",\"corpus_digest\":\"%016" PRIx64 "\""
	       ",\"import_batch\":%u,\"appends\":%u,\"threads\":%u,\"reads\":%u,\"opens\":%u"
	       ",\"fsyncs\":%u,\"durability\":\"full\",\"compact_full\":%s},",
	       w->n_convs, w->n_users, w->interleave, w->raw_bytes, w->digest, cfg->batch,
	       cfg->appends, cfg->threads, cfg->reads, cfg->opens, cfg->fsyncs,
	       cfg->compact_flags & CONVLOG_COMPACT_FULL ? "true" : "false");
	printf("\"results\":{");
	int first = 1;
	for (size_t i = 0; i < N_ROWS; i++) {
		const row *r = &rows[i];
		char ratio[64], lb[128];
		if (!any_row(rp, r))
			continue;
		printf("%s\"%s\":{\"label\":", first ? "" : ",", r->key);
		first = 0;
		json_str(row_label(rp, r, lb, sizeof(lb)));
		printf(",\"unit\":\"%s\",\"better\":", r->unit);
		if (r->higher_better < 0)
			printf("null");
		else
			printf("\"%s\"", r->higher_better ? "higher" : "lower");
		if (r->shared) {
			printf(",\"value\":");
			json_num(1, row_val(rp, r, 0) / r->scale);
			printf("}");
			continue;
		}
		printf(",\"convlog\":");
		json_num(row_have(rp, r, 0), row_val(rp, r, 0) / r->scale);
		printf(",\"sqlite\":");
		json_num(row_have(rp, r, 1), row_val(rp, r, 1) / r->scale);
		fmt_ratio(ratio, sizeof(ratio), rp, r);
		if (strcmp(ratio, "-"))
			printf(",\"ratio\":%.6g}", row_val(rp, r, 0) / row_val(rp, r, 1));
		else
			printf(",\"ratio\":null}");
	}
	printf("},\"extra\":{\"convlog\":");
	json_extra(&rp->res[0]);
	printf(",\"sqlite\":");
	json_extra(&rp->res[1]);
	printf(",\"tail_read_check\":\"%s\",\"recent_check\":\"%s\""
	       ",\"tail_read_after_compaction_check\":\"%s\",\"harness_rss_bytes\":%ld",
	       match(rp, X_TAIL_CHECK), match(rp, X_RECENT_CHECK), match(rp, X_TAIL_COMPACT_CHECK),
	       rp->harness_rss_kib * 1024);
	printf(",\"thread_walk_check\":\"%s\"}", match_walks(rp));
	json_search(rp);
	printf("}");
}

/* Without dbstat, FTS5's size is the database's minus the one without FTS5. */
static void index_fallback(results *s, const workload *w)
{
	double d;

	if (s->have[M_INDEX_BYTES] || !s->have[M_DISK_BYTES] || !s->xhave[X_NOFTS_DISK])
		return;
	d = s->v[M_DISK_BYTES] - s->x[X_NOFTS_DISK];
	res_set(s, M_INDEX_BYTES, d);
	res_set(s, M_INDEX_RATIO, d / (double)w->raw_bytes);
}

/* ---- several scales ---- */

/* 20000 -> "20k", 3000000 -> "3M". */
static void scale_name(char *buf, size_t n, uint32_t m)
{
	if (m % 1000000 == 0)
		snprintf(buf, n, "%uM", m / 1000000);
	else if (m >= 1000000 && m % 100000 == 0)
		snprintf(buf, n, "%.1fM", m / 1e6);
	else if (m % 1000 == 0)
		snprintf(buf, n, "%uk", m / 1000);
	else
		snprintf(buf, n, "%u", m);
}

#define GROWTH_COLS (2 + 3 * MAX_SCALES + 1)
typedef char growth_row[GROWTH_COLS][128];

/* One row of the growth table: the label, each scale's values and ratio,
 * convlog's growth from the first scale to the last, the unit. */
static void growth_cells(const report *reps, uint32_t n, const row *r, char (*cell)[128])
{
	const report *a = &reps[0], *z = &reps[n - 1];
	uint32_t k = 1;
	char lb[128];

	snprintf(cell[0], 128, "%s", row_label(a, r, lb, sizeof(lb)));
	for (uint32_t i = 0; i < n; i++, k += 3) {
		fmt_val(cell[k], 128, &reps[i], r, 0);
		if (r->shared)
			snprintf(cell[k + 1], 128, "(disk)");
		else
			fmt_val(cell[k + 1], 128, &reps[i], r, 1);
		fmt_ratio(cell[k + 2], 128, &reps[i], r);
	}
	if (row_have(a, r, 0) && row_have(z, r, 0) && row_val(a, r, 0) != 0)
		snprintf(cell[k], 128, "%.2fx", row_val(z, r, 0) / row_val(a, r, 0));
	else
		snprintf(cell[k], 128, "-");
	snprintf(cell[k + 1], 128, "%s%s%s", r->unit, *better(r) ? ", " : "", better(r));
}

static int any_scale(const report *reps, uint32_t n, const row *r)
{
	for (uint32_t i = 0; i < n; i++)
		if (any_row(&reps[i], r))
			return 1;
	return 0;
}

static void print_growth_line(char (*cell)[128], uint32_t ncols, const size_t *wid)
{
	for (uint32_t k = 0; k < ncols; k++) {
		if (k == 0)
			printf("%-*s", (int)wid[k], cell[k]);
		else if (k == ncols - 1)
			printf(" | %s", cell[k]);
		else
			printf(" | %*s", (int)wid[k], cell[k]);
	}
	putchar('\n');
}

/* For every row: each engine at each scale, the ratio, and how convlog's
 * value grew from the smallest scale to the largest. */
static void print_growth(const report *reps, uint32_t n)
{
	static growth_row cells[N_ROWS + 1];
	uint32_t ncols = 1 + 3 * n + 2;
	size_t wid[GROWTH_COLS] = {0}, total = 0;
	char a[32], z[32];

	scale_name(a, sizeof(a), reps[0].messages);
	scale_name(z, sizeof(z), reps[n - 1].messages);
	snprintf(cells[0][0], 128, "scenario");
	for (uint32_t i = 0; i < n; i++) {
		char m[32];
		scale_name(m, sizeof(m), reps[i].messages);
		snprintf(cells[0][1 + 3 * i], 128, "convlog %s", m);
		snprintf(cells[0][2 + 3 * i], 128, "sqlite %s", m);
		snprintf(cells[0][3 + 3 * i], 128, "ratio %s", m);
	}
	snprintf(cells[0][1 + 3 * n], 128, "convlog %s/%s", z, a);
	snprintf(cells[0][2 + 3 * n], 128, "unit");
	for (size_t i = 0; i < N_ROWS; i++)
		growth_cells(reps, n, &rows[i], cells[i + 1]);
	for (uint32_t k = 0; k < ncols; k++) {
		wid[k] = 0;
		for (size_t i = 0; i <= N_ROWS; i++)
			if ((i == 0 || any_scale(reps, n, &rows[i - 1])) && strlen(cells[i][k]) > wid[k])
				wid[k] = strlen(cells[i][k]);
		total += wid[k] + 3;
	}
	printf("growth with store size (messages %s to %s): each engine's value at each scale, "
	       "the ratio convlog/sqlite, and convlog's value at %s over its value at %s\n",
	       a, z, z, a);
	print_growth_line(cells[0], ncols, wid);
	for (size_t k = 0; k < total; k++)
		putchar('-');
	putchar('\n');
	for (size_t i = 0; i < N_ROWS; i++)
		if (any_scale(reps, n, &rows[i]))
			print_growth_line(cells[i + 1], ncols, wid);
	printf("\n");
}

/* Builds the workload of `messages` and runs both engines on it. */
static void run_scale(opts *o, report *rp, workload *w, query_set *qs, uint32_t messages)
{
	double t0 = now_us();

	rp->o = o;
	rp->w = w;
	rp->messages = messages;
	wl_build(w, o->seed, messages, o->interleave);
	wl_digest(w);
	bench_log("workload: %u messages, %u conversations, %u users, %.1f MiB of text, "
		  "digest %016" PRIx64 " (%.1f s); stores in %s",
		  w->n_msgs, w->n_convs, w->n_users, (double)w->raw_bytes / 1048576.0, w->digest,
		  (now_us() - t0) / 1e6, o->cfg.dir);
	if (o->cfg.scenarios & SC_SEARCH) {
		t0 = now_us();
		sq_build(w, SEARCH_RUNS, SEARCH_SANITY_CAP, qs);
		o->cfg.qs = qs;
		rp->qs = qs;
		bench_log("search queries: %u common, %u phrase, %u prefix, %u and, %u rare "
			  "(%.1f s)",
			  qs->n[SQ_COMMON], qs->n[SQ_PHRASE], qs->n[SQ_PREFIX], qs->n[SQ_AND],
			  qs->n[SQ_RARE], (now_us() - t0) / 1e6);
	}
	rp->harness_rss_kib = peak_rss_kib();
	if (o->cfg.scenarios & SC_FSYNC) {
		double unused;
		fsync_floor(o->cfg.dir, o->cfg.fsyncs, 4096, &rp->fsync_p50, &rp->fsync_p99);
		fsync_floor(o->cfg.dir, o->cfg.fsyncs, 512, &rp->fsync_small_p50, &unused);
		rp->have_fsync = 1;
		bench_log("[disk] append+fdatasync: 4 KiB p50 %.0f us, p99 %.0f us; 512 B p50 %.0f us",
			  rp->fsync_p50, rp->fsync_p99, rp->fsync_small_p50);
	}
	if (o->cfg.scenarios & ~(uint32_t)(SC_FSYNC | SC_IMPORT_NOFTS)) {
		if (run_child(o, w, ENG_CONVLOG, &rp->res[ENG_CONVLOG]) != 0) {
			cleanup_dir(o);
			bench_die("the convlog run failed");
		}
	}
	if (o->cfg.scenarios & ~(uint32_t)SC_FSYNC) {
		if (run_child(o, w, ENG_SQLITE, &rp->res[ENG_SQLITE]) != 0) {
			cleanup_dir(o);
			bench_die("the SQLite run failed");
		}
	}
	index_fallback(&rp->res[ENG_SQLITE], w);
}

/* With --scales each scale's stores go to a directory of their own. */
static void scale_dir(opts *o, char *buf, size_t n, uint32_t messages)
{
	if (!o->n_scales) {
		o->cfg.dir = o->dir;
		return;
	}
	snprintf(buf, n, "%s/scale-%u", o->dir, messages);
	dir_make(buf);
	o->cfg.dir = buf;
}

static void write_plots(const opts *o, const report *reps, uint32_t n)
{
	plot_scale ps[MAX_SCALES];

	for (uint32_t i = 0; i < n; i++) {
		ps[i].messages = reps[i].messages;
		ps[i].res = reps[i].res;
	}
	plot_write(o->plot_dir, ps, n, o->cfg.threads);
}

/* Prints `pre`, rp's JSON object (if rp), then `post`. */
static void json_piece(const char *pre, const report *rp, const char *post)
{
	fputs(pre, stdout);
	if (rp)
		print_json(rp);
	fputs(post, stdout);
}

/* The same piece of JSON to stdout (--json) and to --json-out's file,
 * which print_json reaches as stdout for the time of the call. */
static void json_emit(const opts *o, int fd, const char *pre, const report *rp, const char *post)
{
	int saved;

	if (o->json)
		json_piece(pre, rp, post);
	if (fd < 0)
		return;
	fflush(stdout);
	if ((saved = dup(1)) < 0 || dup2(fd, 1) < 0)
		bench_die("--json-out: dup: %s", strerror(errno));
	json_piece(pre, rp, post);
	if (fflush(stdout) != 0)
		bench_die("--json-out %s: %s", o->json_out, strerror(errno));
	if (dup2(saved, 1) < 0)
		bench_die("--json-out: dup2: %s", strerror(errno));
	close(saved);
}

int main(int argc, char **argv)
{
	static report reps[MAX_SCALES];
	static opts o;
	static workload w;
	static query_set qs;
	static char sdir[4300];
	int json_fd = -1;
	uint32_t n;

	parse_args(argc, argv, &o);
	setup_dir(&o);
	n = o.n_scales ? o.n_scales : 1;
	if (o.json_out && (json_fd = open(o.json_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
					  0644)) < 0)
		bench_die("--json-out %s: %s", o.json_out, strerror(errno));
	if (o.n_scales)
		json_emit(&o, json_fd, "{\"scales\":[", NULL, "");
	for (uint32_t i = 0; i < n; i++) {
		report *rp = &reps[i];
		uint32_t messages = o.n_scales ? o.scales[i] : o.messages;

		machine_init(rp);
		scale_dir(&o, sdir, sizeof(sdir), messages);
		if (o.n_scales)
			bench_log("scale %u of %u: %u messages", i + 1, n, messages);
		run_scale(&o, rp, &w, &qs, messages);
		json_emit(&o, json_fd, i ? "," : "", rp, o.n_scales ? "" : "\n");
		if (!o.json)
			print_table(rp);
		fflush(stdout);
		if (o.n_scales && !o.keep)
			dir_remove(sdir);
		wl_free(&w);
		rp->w = NULL;
		rp->qs = NULL;
	}
	if (o.n_scales)
		json_emit(&o, json_fd, "]}", NULL, "\n");
	if (o.n_scales && !o.json)
		print_growth(reps, n);
	if (json_fd >= 0 && close(json_fd) != 0)
		bench_die("--json-out %s: %s", o.json_out, strerror(errno));
	fflush(stdout);
	if (o.plot_dir)
		write_plots(&o, reps, n);
	cleanup_dir(&o);
	return 0;
}
