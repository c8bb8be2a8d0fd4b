/*
 * bench.h - convlog-bench: the same deterministic chat-history workload run
 * against convlog and against SQLite (WAL + FTS5), figure by figure.
 *
 * Files:
 *   main.c          flags, scenario order, the two engine child processes,
 *                   the table and JSON output
 *   workload.c      the deterministic corpus (users, conversations, turns,
 *                   Zipfian text) and the append stream
 *   markov.c        the real-text corpus: an order-2 word Markov model of
 *                   the fortune files and the walk that generates text
 *   util.c          clocks, percentiles, directories, the fdatasync floor
 *   search.c        the full-text query instances (drawn from the corpus)
 *                   and the cross-engine comparison of their results
 *   dict.c          the zstd dictionary experiment of the compact scenario
 *   convlog_side.c  every scenario against libconvlog
 *   sqlite_side.c   every scenario against SQLite
 *
 * Each engine runs in its own child process (fork) so that its peak RSS
 * is its own; the parent only holds the workload plan.
 */
#ifndef CONVLOG_BENCH_H
#define CONVLOG_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* ---- failure: print and exit 1 (a benchmark, not a library) ---- */

void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void bench_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- deterministic random numbers ---- */

typedef struct rng {
	uint64_t s[4];
} rng;

uint64_t mix64(uint64_t x);
/* Seeds `r` from the bench seed and up to three stream selectors. */
void rng_seed(rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
uint64_t rng_next(rng *r);
/* Uniform in [0, n). */
uint32_t rng_below(rng *r, uint32_t n);
/* Uniform in [0, 1). */
double rng_unit(rng *r);

/* Walker/Vose alias table: O(1) sampling from a fixed distribution. */
typedef struct alias_table {
	uint32_t n;
	double *prob;
	uint32_t *alias;
} alias_table;

/* Zipf(s) over ranks 0..n-1 (rank 0 most frequent). */
void alias_zipf(alias_table *t, uint32_t n, double s);
uint32_t alias_sample(const alias_table *t, rng *r);
void alias_free(alias_table *t);

/* ---- the workload ---- */

#define WL_ROLE_SYSTEM 0
#define WL_ROLE_USER 1
#define WL_ROLE_ASSISTANT 2
#define WL_ROLE_TOOL 3

#define WL_MAX_CONTENT 16384 /* generated content never exceeds this */
#define WL_T0_MS 1700000000000LL

extern const char *const wl_role_names[4];

struct wl_markov; /* the text model (markov.c) */

typedef struct wl_conv {
	uint8_t id[16];
	char ids[37];        /* canonical text form of id */
	uint32_t user;       /* index into users */
	uint32_t nturns;     /* turns present in the corpus */
	int64_t created_at;  /* ms, first turn */
	int64_t updated_at;  /* ms, last turn of the corpus */
	uint8_t model;       /* index into wl_models */
	uint8_t client;      /* index of the metadata variant */
	char *title;
	char *metadata;      /* JSON object */
} wl_conv;

typedef struct wl_event {
	uint32_t conv;
	uint16_t turn; /* 0-based: seq = turn + 1 */
	uint8_t role;
} wl_event;

typedef struct workload {
	uint64_t seed;
	uint32_t n_msgs;
	uint32_t n_users;
	uint32_t n_convs;
	uint32_t interleave; /* conversations open at once in the stream */
	wl_conv *convs;
	wl_event *events;    /* n_msgs, in arrival (= import) order */
	char **users;        /* "user-000042" */
	alias_table user_dist;
	/* vocabulary */
	uint32_t n_words;
	char **words;
	uint8_t *word_len;
	alias_table word_dist;
	uint32_t n_cjk, n_accent;
	char **cjk;
	char **accent;
	/* the text source, chosen by wl_build: an order-2 word Markov model
	 * trained on the fortune files when the machine has them, else the
	 * synthetic words above.  With the model, `words` holds the plain
	 * (all ASCII letters, lower-cased) words of the training text by
	 * frequency, for the search queries and the code blocks. */
	const char *corpus;       /* "fortunes-markov2 (N files, M words)" or "synthetic-zipf" */
	uint64_t corpus_digest;   /* XXH64 of the training files (0: synthetic) */
	struct wl_markov *markov; /* NULL: synthetic text */
	size_t markov_bytes;      /* memory the model holds */
	/* corpus totals (filled by wl_digest) */
	uint64_t raw_bytes;   /* sum of content lengths */
	uint64_t digest;      /* XXH64 over every generated field */
} workload;

/* One generated message, ready for either engine.  `content` points into
 * the caller's buffer. */
typedef struct wl_msg {
	uint32_t conv;        /* index into convs */
	uint32_t seq;         /* 1-based */
	uint8_t role;
	uint8_t id[16];
	char ids[37];
	const char *content;
	size_t len;
	int64_t token_count;  /* -1 = unknown */
	int64_t cost;         /* micro-USD, -1 = unknown */
	int64_t latency_ms;   /* -1 = unknown */
	const char *model;    /* NULL = none */
	int64_t created_at;
} wl_msg;

extern const char *const wl_models[4];

/* Where the fortune files are looked for; $CONVLOG_BENCH_FORTUNES, when
 * set, replaces it (empty: synthetic text). */
#define WL_FORTUNE_DIR "/usr/share/games/fortunes"

/* Builds the plan and the text source; logs which corpus it uses. */
void wl_build(workload *w, uint64_t seed, uint32_t n_msgs, uint32_t interleave);
void wl_free(workload *w);
/* Generates corpus message `i` (event order); content goes to buf
 * (WL_MAX_CONTENT bytes). */
void wl_corpus_msg(const workload *w, uint32_t i, char *buf, wl_msg *m);
/* Generates append `i` of thread `thread` in scenario `scen`: a turn for
 * a random existing conversation.  seq is left 0 (the engine assigns it);
 * created_at is 0 (the caller uses the clock). */
void wl_append_msg(const workload *w, uint32_t scen, uint32_t thread, uint32_t i,
		   char *buf, wl_msg *m);
/* A run of corpus messages generated ahead of a timed transaction. */
typedef struct wl_batch {
	wl_msg *m;
	uint32_t n, cap;
	char *arena;
	size_t used, arena_cap;
} wl_batch;

void wl_batch_fill(const workload *w, uint32_t first, uint32_t count, wl_batch *b);
/* Appends `count` appends of (scen, thread) starting at index `first`. */
void wl_batch_appends(const workload *w, uint32_t scen, uint32_t thread, uint32_t count,
		      wl_batch *b);
/* Up to `count` edits of the compact scenario from corpus message *next
 * on (advanced past them): the corpus messages wl_edited() picks, with
 * wl_edit_content() as their content. */
void wl_batch_edits(const workload *w, uint32_t *next, uint32_t count, wl_batch *b);
void wl_batch_free(wl_batch *b);

/* Random conversation index / user index (activity-weighted) for reads. */
uint32_t wl_pick_conv(const workload *w, rng *r);
uint32_t wl_pick_user(const workload *w, rng *r);
/* Generates the whole corpus once: raw_bytes and digest. */
void wl_digest(workload *w);
/* The compact scenario edits about one corpus message in ten: is message
 * `i` (import order) one of them? */
int wl_edited(const workload *w, uint32_t i);
/* The edited content of corpus message `i`: fresh text of exactly `len`
 * bytes (len < WL_MAX_CONTENT), valid UTF-8, into buf (len + 1 bytes). */
void wl_edit_content(const workload *w, uint32_t i, size_t len, char *buf);

/* ---- memory: exit on failure (workload.c) ---- */

void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* p with room for `need` elements of `size` bytes (capacity *cap). */
void *grow(void *p, size_t *cap, size_t need, size_t size);

/* ---- the real-text corpus (markov.c) ---- */

#define MK_BOS 0          /* token 0: start of a sentence (only a context) */
#define MK_EOS 1          /* token 1: end of a sentence (only a successor) */
#define MK_TOK_MAX 40     /* longer tokens (rulers, URLs) are dropped */

/* The model: its tokens and their unigram, pair and triple counts, as
 * cumulative tables (see markov.c). */
typedef struct wl_markov {
	uint32_t n_tok, n_pairs, n_tri;
	char *text;          /* token bytes, each NUL-terminated */
	uint32_t *tok_off;   /* n_tok */
	uint8_t *tok_len;    /* n_tok */
	uint32_t *uni_cum;   /* n_tok: cumulative token counts */
	uint32_t *bi_first;  /* n_tok + 1: pairs (a, .) are bi_first[a] ..< bi_first[a + 1] */
	uint32_t *bi_tok;    /* n_pairs + 1: b of pair (a, b); pair n_pairs is (BOS, BOS) */
	uint32_t *bi_cum;    /* n_pairs: cumulative counts within each a */
	uint32_t *tri_first; /* n_pairs + 2: pair p leads to tri_first[p] ..< tri_first[p + 1] */
	uint32_t *tri_pair;  /* n_tri: the pair (b, c) a step moves to */
	uint32_t *tri_cum;   /* n_tri: cumulative counts within each pair */
} wl_markov;

/* Interned strings: id -> bytes, bytes -> id. */
typedef struct strtab {
	char *text;
	size_t len, cap;
	uint32_t *off;
	uint8_t *slen;
	size_t n, ncap;
	uint32_t *slot; /* id + 1; 0: empty */
	uint32_t scap;
} strtab;

/* The id of s[0..n) (n < 256), added if new. */
uint32_t strtab_add(strtab *t, const char *s, size_t n);
void strtab_free(strtab *t);

/* Picks the fortune model (w->markov) or the synthetic words (NULL): sets
 * w->corpus, corpus_digest and markov_bytes, and says which. */
void mk_text_source(workload *w);
void mk_free(wl_markov *m);

typedef struct mk_state {
	uint32_t pair; /* the pair of the last two tokens; UINT32_MAX: unseen */
	uint32_t last; /* the last token */
} mk_state;

/* One step of the walk from s: the next token (MK_EOS ends a sentence). */
uint32_t mk_step(const wl_markov *m, mk_state *s, rng *r);

/* ---- timing and statistics ---- */

double now_us(void);          /* CLOCK_MONOTONIC, microseconds */
int64_t wall_ms(void);        /* CLOCK_REALTIME, milliseconds */

typedef struct lat {
	double *v;
	size_t n, cap;
} lat;

void lat_init(lat *l, size_t cap);
void lat_add(lat *l, double us);
void lat_merge(lat *dst, const lat *src);
/* Sorts, then the nearest-rank percentile (0..100). */
double lat_pct(lat *l, double pct);
void lat_free(lat *l);

/* ---- files ---- */

void dir_make(const char *path);
void dir_remove(const char *path); /* rm -rf; errors are fatal */
/* Allocated bytes (st_blocks * 512) and apparent bytes of a tree. */
void dir_usage(const char *path, uint64_t *alloc, uint64_t *apparent);
/* The same for the files directly in `dir` whose names end with `suffix`. */
void dir_usage_suffix(const char *dir, const char *suffix, uint64_t *alloc, uint64_t *apparent,
		      uint32_t *files);
const char *fs_type_name(const char *path);
long peak_rss_kib(void);
/* Peak RssAnon (KiB) between start and stop, sampled every 5 ms. */
void anon_sampler_start(void);
long anon_sampler_stop(void);

/* p50/p99 of `n` pwrite+fdatasync appends of `size` bytes (at most
 * 4096) to a fresh file. */
void fsync_floor(const char *dir, uint32_t n, size_t size, double *p50, double *p99);

/* ---- results ---- */

/* Full-text query classes (see search.c). */
enum { SQ_COMMON, SQ_PHRASE, SQ_PREFIX, SQ_AND, SQ_RARE, SQ_CLASSES };

enum metric {
	M_IMPORT_RATE,
	M_IMPORT_NOFTS_RATE,
	M_APPEND1_RATE,
	M_APPEND1_P50,
	M_APPEND1_P99,
	M_APPEND1_FLOOR, /* 512 B pwrite+fdatasync p50 right after the 1-thread appends */
	M_APPEND1_VS_FLOOR, /* M_APPEND1_P50 / M_APPEND1_FLOOR */
	M_APPEND4_RATE,
	M_APPEND4_P50,
	M_APPEND4_P99,
	M_TAIL_P50,
	M_TAIL_P99,
	M_RECENT_P50,
	M_RECENT_P99,
	M_THREAD_P50,     /* 5b. thread walk of a fork, root to tip */
	M_THREAD_P99,
	M_OPEN_FIRST,
	M_OPEN_BEST,
	M_DISK_BYTES,
	M_DISK_RATIO,
	M_FSYNC_P50,
	M_FSYNC_P99,
	M_FSYNC_SMALL_P50,
	M_RSS_PEAK,
	M_ANON_PEAK,
	/* full-text search: p50 and p95 per query class, in SQ_* order
	 * (M_SEARCH_P50 + 2 * class, M_SEARCH_P50 + 2 * class + 1) */
	M_SEARCH_P50,
	M_SEARCH_LAST = M_SEARCH_P50 + 2 * SQ_CLASSES - 1,
	M_INDEX_BYTES,    /* full-text index on disk */
	M_INDEX_RATIO,    /* ... / raw text bytes */
	M_TAIL_COMPACT_P50, /* 4. again after the compaction of 16. */
	M_COMPACT_MS,     /* convlog_compact / VACUUM of the loaded store */
	M_COMPACT_DISK,   /* allocated bytes after it */
	M_COMPACT_RATIO,  /* ... / raw text bytes in the store */
	M_EDIT_DISK,      /* after superseding / updating 10% of the messages */
	M_EDIT_COMPACT_DISK, /* ... and compacting / vacuuming again */
	M_EDIT_COMPACT_MS,
	M_COUNT
};

/* Extra per-engine facts (not compared). */
enum extra {
	X_TAIL_CHECK,      /* checksum of what tail reads returned */
	X_RECENT_CHECK,    /* checksum of what listings returned */
	X_APPEND1_SYNCS,   /* log syncs during the 1-thread appends */
	X_APPEND4_SYNCS,
	X_APPEND1_N,
	X_APPEND4_N,
	X_DISK_APPARENT,   /* apparent bytes (st_size) */
	X_SEGMENT_BYTES,   /* convlog_stats */
	X_META_BYTES,
	X_NOFTS_DISK,      /* SQLite without FTS: allocated bytes */
	X_TAIL_MSGS,       /* messages returned by all tail reads */
	X_RECENT_CONVS,    /* conversations returned by all listings */
	X_INDEX_FILES,     /* convlog: index segment files; sqlite: FTS5 shadow tables */
	X_INDEX_ALLOC,     /* allocated bytes of the same */
	X_INDEX_PRE_FILES, /* convlog: segment files right after the import ... */
	X_INDEX_PRE_BYTES, /* ... and their size, before pending merges ran */
	X_INDEX_MERGE_S,   /* convlog: seconds the pending merges took (untimed) */
	/* the compact scenario */
	X_COMPACT_DISK_BEFORE, /* allocated bytes right before 16. */
	X_COMPACT_REWRITTEN,   /* convlog: segments 16. rewrote ... */
	X_COMPACT_WRITTEN,     /* ... compacted segments it wrote ... */
	X_COMPACT_MOVED,       /* ... and records it moved */
	X_COMPACT_SEGS_AFTER,  /* convlog: segment files after 16. */
	X_VACUUM_CKPT_MS,      /* sqlite: the wal_checkpoint(TRUNCATE) after VACUUM (untimed) */
	X_TAIL_COMPACT_CHECK,  /* checksum of what the tail reads after 16. returned,
				* without seqs: append_4t's concurrent appends may
				* take theirs in another order in each engine */
	X_TAIL_COMPACT_MSGS,
	X_EDITS,               /* messages edited in 17. */
	X_EDIT_RATE,           /* ... per second, 1000 a transaction (untimed in the table) */
	X_EDIT_REWRITTEN,      /* convlog: segments the compaction of 17. rewrote ... */
	X_EDIT_MOVED,          /* ... and records it moved */
	X_SCEN_RSS_PEAK,       /* process peak RSS at the end of the compact scenario */
	X_SCEN_ANON_PEAK,      /* peak anonymous memory during it (not in 9.) */
	/* convlog: archive half the conversations, compact with CONVLOG_COMPACT_ARCHIVE */
	X_ARCH_CONVS,          /* conversations archived */
	X_ARCH_COMPACT_MS,
	X_ARCH_COLD_WRITTEN,   /* cold segments written */
	X_WARM_CONTENT,        /* content bytes of the conversations left warm */
	X_COLD_CONTENT,        /* content bytes of the archived conversations */
	X_WARM_SEG_BYTES,      /* segment files with flags 1 (compacted) ... */
	X_COLD_SEG_BYTES,      /* ... flags 3 (compacted, cold) ... */
	X_LOG_SEG_BYTES,       /* ... flags 0 (log) */
	X_WARM_RATIO,          /* X_WARM_CONTENT / X_WARM_SEG_BYTES */
	X_COLD_RATIO,          /* X_COLD_CONTENT / X_COLD_SEG_BYTES */
	/* zstd dictionary on small frames (dict.c) */
	X_DICT_SIZE,           /* bytes of the trained dictionary */
	X_DICT_RAW,            /* content bytes of the test messages */
	X_DICT_MSG_PLAIN,      /* each message its own level-3 frame, no dictionary */
	X_DICT_MSG_DICT,       /* ... with the dictionary */
	X_DICT_MSG_RATIO,      /* with / without */
	X_DICT_CHUNK_PLAIN,    /* the same messages concatenated, 32 KiB frames */
	X_DICT_CHUNK_DICT,
	X_DICT_CHUNK_RATIO,
	/* 5b. thread walk of a forked conversation */
	X_THREAD_FORKS,        /* forks made */
	X_THREAD_CHECK,        /* walk_check_add over every walk */
	X_THREAD_MSGS,         /* messages returned by all walks ... */
	X_THREAD_BYTES,        /* ... and their content bytes */
	X_COUNT
};

/* ---- full-text search ---- */

#define SQ_MAX 40          /* instances per class */
#define SQ_TOP 20          /* hits per query (top-k) */
#define SQ_SANITY 3        /* instances per class whose full match sets are compared */
#define SQ_QLEN 64

/* The query instances, the same for both engines (FTS5's syntax and
 * convlog's agree for these shapes: word, "a b", pre*, a b). */
typedef struct query_set {
	uint32_t n[SQ_CLASSES];
	char q[SQ_CLASSES][SQ_MAX][SQ_QLEN];
	char warm[SQ_CLASSES][SQ_QLEN]; /* one untimed warm-up query per class */
	uint32_t runs;                  /* timed runs per class, cycling over the instances */
	uint32_t sanity_cap;            /* newest matches compared per sanity query */
} query_set;

extern const char *const sq_class_names[SQ_CLASSES];

/* Picks the instances from the vocabulary and from generated messages. */
void sq_build(const workload *w, uint32_t runs, uint32_t sanity_cap, query_set *qs);
/* Identity of a message for comparing engines: conversation id and seq. */
uint64_t sq_key(const uint8_t conv_id[16], uint32_t seq);
/* The key of corpus message `i` (import order). */
uint64_t sq_key_of_event(const workload *w, uint32_t i);

/* What one engine's searches returned (compared by the parent). */
typedef struct search_facts {
	int have;
	double hits[SQ_CLASSES];          /* hits returned by the timed runs */
	double candidates[SQ_CLASSES];    /* convlog: documents scored, timed runs */
	double snippet_bytes[SQ_CLASSES]; /* snippet bytes returned, timed runs */
	double mean_us[SQ_CLASSES];
	/* first run of each instance: its hits, in rank order */
	uint32_t ntop[SQ_CLASSES][SQ_MAX];
	uint64_t top[SQ_CLASSES][SQ_MAX][SQ_TOP];
	/* sanity: total matches (sqlite: exact; convlog: up to sanity_cap) and
	 * an order-independent hash of the newest min(total, cap) matches */
	double count[SQ_CLASSES][SQ_SANITY];
	uint64_t set_hash[SQ_CLASSES][SQ_SANITY];
	int index_via_dbstat;             /* sqlite: index size from dbstat */
	/* sqlite: both top-20 statements are timed and the faster (by p50)
	 * reported per class; form 0 ORDER BY bm25(), 1 ORDER BY rank */
	int form[SQ_CLASSES];
	double other_p50[SQ_CLASSES], other_p95[SQ_CLASSES]; /* the form not reported */
} search_facts;

#define ENG_CONVLOG 0
#define ENG_SQLITE 1

typedef struct results {
	double v[M_COUNT];
	int have[M_COUNT];
	double x[X_COUNT];
	int xhave[X_COUNT];
	search_facts s;
} results;

void res_set(results *r, int m, double v);
void res_xset(results *r, int x, double v);

/* ---- plots (plot.c) ---- */

/* One scale's figures, for the plots. */
typedef struct plot_scale {
	uint32_t messages;
	const results *res; /* [2], ENG_CONVLOG then ENG_SQLITE */
} plot_scale;

/* Writes one gnuplot data file per figure family, plots.gp, and (when
 * gnuplot runs) one PNG per family into `dir` (created if missing): each
 * figure against the store size, both engines.  `threads`: the writers of
 * append_4t, for its title.  Failures of gnuplot are reported on stderr,
 * never fatal. */
void plot_write(const char *dir, const plot_scale *s, uint32_t n, uint32_t threads);

/* ---- the search scenario's driver (search.c) ---- */

/* One top-k query's answer, as an engine reports it to the driver. */
typedef struct sq_hits {
	uint32_t n;
	uint64_t keys[SQ_TOP]; /* sq_key of each hit, in rank order */
	double candidates;     /* documents scored, if the engine says */
	double snippet_bytes;
} sq_hits;

/* An engine's side of the search scenario. */
typedef struct sq_engine {
	const char *name;
	void *ctx;
	/* the top SQ_TOP hits by relevance, each with a snippet */
	void (*top)(void *ctx, const char *query, sq_hits *h);
	/* matches in all (up to `cap`) and the hash of the newest min(total, cap) */
	void (*count)(void *ctx, const char *query, uint32_t cap, double *total, uint64_t *hash);
} sq_engine;

/* One warm-up query per class, then the timed runs of every class:
 * M_SEARCH_* and the hits in r->s. */
void sq_time(const query_set *qs, const sq_engine *e, results *r);
/* The cross-check: all matches of the first SQ_SANITY instances of each
 * class (r->s.count, r->s.set_hash). */
void sq_count(const query_set *qs, const sq_engine *e, results *r);
/* sq_time then sq_count. */
void sq_run(const query_set *qs, const sq_engine *e, results *r);
/* Order-independent accumulation of a set of keys. */
static inline uint64_t sq_hash_add(uint64_t h, uint64_t key)
{
	return h + mix64(key ^ 0x5bd1e995u);
}

/* ---- scenarios ---- */

#define SC_FSYNC (1u << 0)
#define SC_IMPORT (1u << 1)
#define SC_OPEN (1u << 2)
#define SC_DISK (1u << 3)
#define SC_TAIL (1u << 4)
#define SC_RECENT (1u << 5)
#define SC_APPEND1 (1u << 6)
#define SC_APPEND4 (1u << 7)
#define SC_IMPORT_NOFTS (1u << 8)
#define SC_SEARCH (1u << 9)
#define SC_COMPACT (1u << 10) /* mutates the store: runs last */
#define SC_THREAD (1u << 11)  /* adds forks: runs after the appends */

typedef struct bench_cfg {
	uint32_t scenarios;    /* SC_* to report */
	uint32_t batch;        /* messages per import transaction */
	uint32_t appends;      /* per append scenario (split across threads) */
	uint32_t threads;      /* append_4t threads */
	uint32_t reads;        /* iterations of tail / recent */
	uint32_t opens;        /* best-of */
	uint32_t fsyncs;
	uint32_t tail_n;       /* messages per tail read */
	uint32_t recent_n;     /* conversations per listing */
	const char *dir;       /* bench directory */
	const query_set *qs;   /* full-text queries (SC_SEARCH) */
	unsigned compact_flags; /* convlog_compact_opts.flags of SC_COMPACT (0: opts NULL) */
} bench_cfg;

/* Runs the selected scenarios of one engine in the current process. */
void convlog_run(const workload *w, const bench_cfg *cfg, results *r);
void sqlite_run(const workload *w, const bench_cfg *cfg, results *r);

/* The dictionary experiment of the compact scenario: X_DICT_*. */
#define DICT_MSGS 2000             /* messages compressed, and trained on */
#define DICT_CAPACITY (64u << 10)  /* dictionary size */
#define DICT_CHUNK (32u << 10)     /* convlog's log frame size */
#define DICT_LEVEL 3
void dict_experiment(const workload *w, results *r);

/* Scenario ids used to separate the append streams of the scenarios. */
#define APPEND_STREAM_1T 1
#define APPEND_STREAM_4T 4
#define APPEND_STREAM_FORK 5 /* thread k of it: the turns of fork k */

/* The thread-walk scenario (forks.c): FORK_COUNT conversations of at least
 * FORK_MIN_TURNS corpus turns, picked with the bench rng, are forked at
 * their middle turn (fork_seq = nturns / 2) and get FORK_TURNS turns of
 * their own; then cfg->reads walks of a random fork from its root to its
 * tip are timed. */
#define FORK_COUNT 200
#define FORK_MIN_TURNS 10
#define FORK_TURNS 3

typedef struct fork_pick {
	uint32_t conv;     /* index into convs: the parent */
	uint32_t fork_seq; /* parent message the fork starts after */
} fork_pick;

/* Fills out[0..n) (n = the return value, at most `want`) with distinct
 * conversations; the same picks in both engines. */
uint32_t fork_plan(const workload *w, uint32_t want, fork_pick *out);
/* Hash of one walk: call per message, in order, starting from h = 0. */
uint64_t walk_hash_msg(uint64_t h, uint32_t seq, const char *content, size_t len);
/* Accumulates walk number `walk`'s hash into the scenario's check. */
uint64_t walk_check_add(uint64_t check, uint32_t walk, uint64_t h);

/* How many of `total` appends thread `t` of `nthreads` performs (each
 * thread has its own deterministic stream, see wl_batch_appends). */
uint32_t appends_for_thread(uint32_t total, uint32_t nthreads, uint32_t t);

/* Checksums that both engines must agree on. */
uint64_t check_msg(uint32_t seq, const char *content, size_t len);
uint64_t check_conv(uint32_t pos, int64_t updated_at, const char *title);

#endif
