/*
 * plot.c - the figures against store size, as gnuplot data files, a
 * gnuplot script (plots.gp) and, when gnuplot is installed, PNGs.
 *
 * One family per PNG (for example the tail read's p50 and p99): a data
 * file <family>.dat with one line per scale, "messages" then, per figure
 * of the family, convlog's and SQLite's value ("-" where missing); both
 * engines on one plot, log-scale x.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

extern char **environ;

#define FAM_MAX 2 /* figures per family */

typedef struct family {
	char name[32];   /* file stem */
	char title[128];
	const char *unit;
	double scale;    /* shown = raw / scale */
	int higher_better;
	int logy;
	int n;
	int metric[FAM_MAX];
	const char *what[FAM_MAX]; /* "p50"; "" when the family has one figure */
} family;

static int fam_add(family *f, int nf, const char *name, const char *title, const char *unit,
		   double scale, int higher, int logy, int m0, const char *w0, int m1,
		   const char *w1)
{
	family *x = &f[nf];

	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", name);
	snprintf(x->title, sizeof(x->title), "%s", title);
	x->unit = unit;
	x->scale = scale;
	x->higher_better = higher;
	x->logy = logy;
	x->metric[0] = m0;
	x->what[0] = w0;
	x->n = 1;
	if (m1 >= 0) {
		x->metric[1] = m1;
		x->what[1] = w1;
		x->n = 2;
	}
	return nf + 1;
}

/* The families plotted; returns how many. */
static int families(family *f, uint32_t threads)
{
	char t[128];
	int n = 0;

	n = fam_add(f, n, "bulk_import", "1. bulk import, 1000 msgs/txn, full-text indexed",
		    "msgs/s", 1, 1, 0, M_IMPORT_RATE, "", -1, NULL);
	n = fam_add(f, n, "append_1t", "2. durable appends, 1 thread, commit latency", "us", 1, 0,
		    1, M_APPEND1_P50, "p50", M_APPEND1_P99, "p99");
	snprintf(t, sizeof(t), "3. durable appends, %u threads, commit latency", threads);
	n = fam_add(f, n, "append_4t", t, "us", 1, 0, 1, M_APPEND4_P50, "p50", M_APPEND4_P99,
		    "p99");
	n = fam_add(f, n, "tail_read", "4. tail read, last 50 msgs of a conversation", "us", 1, 0,
		    1, M_TAIL_P50, "p50", M_TAIL_P99, "p99");
	n = fam_add(f, n, "recent_convs", "5. a user's 20 most recent conversations", "us", 1, 0,
		    1, M_RECENT_P50, "p50", M_RECENT_P99, "p99");
	n = fam_add(f, n, "thread_walk", "5b. thread walk of a forked conversation, root to tip",
		    "us", 1, 0, 1, M_THREAD_P50, "p50", M_THREAD_P99, "p99");
	n = fam_add(f, n, "open", "6. open time", "us", 1, 0, 1, M_OPEN_FIRST,
		    "first after the load", M_OPEN_BEST, "best of 5 after checkpoint");
	n = fam_add(f, n, "disk_size", "7. disk size after checkpoint", "MiB", 1048576.0, 0, 0,
		    M_DISK_BYTES, "", -1, NULL);
	n = fam_add(f, n, "peak_rss", "9. peak RSS of the engine's process", "MiB", 1048576.0, 0,
		    0, M_RSS_PEAK, "", -1, NULL);
	for (int c = 0; c < SQ_CLASSES; c++) {
		char name[32];
		snprintf(name, sizeof(name), "search_%s", sq_class_names[c]);
		snprintf(t, sizeof(t), "%d. full-text search, %s query, top 20 + snippets", 10 + c,
			 sq_class_names[c]);
		n = fam_add(f, n, name, t, "us", 1, 0, 1, M_SEARCH_P50 + 2 * c, "p50",
			    M_SEARCH_P50 + 2 * c + 1, "p95");
	}
	n = fam_add(f, n, "compaction", "16. compaction of the loaded store (convlog_compact / "
		    "VACUUM)", "ms", 1, 0, 1, M_COMPACT_MS, "", -1, NULL);
	return n;
}

static int series_have(const plot_scale *s, uint32_t n, int metric, int eng)
{
	for (uint32_t i = 0; i < n; i++)
		if (s[i].res[eng].have[metric])
			return 1;
	return 0;
}

static int family_have(const plot_scale *s, uint32_t n, const family *f)
{
	for (int k = 0; k < f->n; k++)
		if (series_have(s, n, f->metric[k], 0) || series_have(s, n, f->metric[k], 1))
			return 1;
	return 0;
}

/* Text inside gnuplot's single quotes, where '' is a quote. */
static void gp_text(FILE *g, const char *s)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', g);
		fputc(*s, g);
	}
}

/* 'dir/name.ext' */
static void gp_path(FILE *g, const char *dir, const char *name, const char *ext)
{
	fputc('\'', g);
	gp_text(g, dir);
	fprintf(g, "/%s%s'", name, ext);
}

static void write_data(const char *dir, const plot_scale *s, uint32_t n, const family *f)
{
	char path[4200];
	FILE *d;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, f->name);
	if (!(d = fopen(path, "w")))
		bench_die("%s: %s", path, strerror(errno));
	fprintf(d, "# %s (%s); columns: messages", f->title, f->unit);
	for (int k = 0; k < f->n; k++)
		fprintf(d, ", convlog %s, sqlite %s", f->what[k], f->what[k]);
	fprintf(d, "; - = not measured\n");
	for (uint32_t i = 0; i < n; i++) {
		fprintf(d, "%u", s[i].messages);
		for (int k = 0; k < f->n; k++)
			for (int e = 0; e < 2; e++) {
				const results *r = &s[i].res[e];
				if (r->have[f->metric[k]])
					fprintf(d, " %.6g", r->v[f->metric[k]] / f->scale);
				else
					fprintf(d, " -");
			}
		fprintf(d, "\n");
	}
	if (fclose(d) != 0)
		bench_die("%s: %s", path, strerror(errno));
}

/* The terminal, the x axis (log, one tic per scale) and the line styles:
 * convlog blue, SQLite red; the second figure of a family dashed. */
static void script_head(FILE *g, const plot_scale *s, uint32_t n)
{
	double lo = s[0].messages, hi = s[n - 1].messages;

	fprintf(g, "# written by convlog-bench --plot-dir; redraw: gnuplot plots.gp\n"
		   "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		   "  set terminal pngcairo size 900,500 noenhanced font ',10'\n"
		   "} else {\n"
		   "  set terminal png size 900,500 noenhanced\n"
		   "}\n"
		   "set datafile missing '-'\n"
		   "set logscale x 10\n"
		   "set xrange [%.0f:%.0f]\n"
		   "set xlabel 'store size (messages, log scale)'\n"
		   "set grid\n"
		   "set key left top box opaque\n"
		   "set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.4\n"
		   "set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 1.4\n"
		   "set style line 3 lc rgb '#1f77b4' lw 2 pt 6 ps 1.4 dt 2\n"
		   "set style line 4 lc rgb '#d62728' lw 2 pt 4 ps 1.4 dt 2\n"
		   "set xtics (",
		lo / 1.6, hi * 1.6);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t m = s[i].messages;
		if (m % 1000000 == 0)
			fprintf(g, "%s'%uM' %u", i ? ", " : "", m / 1000000, m);
		else if (m % 1000 == 0)
			fprintf(g, "%s'%uk' %u", i ? ", " : "", m / 1000, m);
		else
			fprintf(g, "%s'%u' %u", i ? ", " : "", m, m);
	}
	fprintf(g, ")\n");
}

static void script_family(FILE *g, const char *dir, const plot_scale *s, uint32_t n,
			  const family *f)
{
	static const char *const eng[2] = {"convlog", "sqlite"};
	int first = 1;

	fprintf(g, "\nset output ");
	gp_path(g, dir, f->name, ".png");
	fprintf(g, "\nset title '");
	gp_text(g, f->title);
	fprintf(g, " (%s, %s is better)'\n", f->unit, f->higher_better ? "higher" : "lower");
	fprintf(g, "set ylabel '%s'\n", f->unit);
	if (f->logy)
		fprintf(g, "set logscale y 10\nset yrange [*:*]\n");
	else
		fprintf(g, "unset logscale y\nset yrange [0:*]\n");
	fprintf(g, "plot ");
	for (int k = 0; k < f->n; k++)
		for (int e = 0; e < 2; e++) {
			if (!series_have(s, n, f->metric[k], e))
				continue;
			fprintf(g, "%s", first ? "" : ", \\\n     ");
			gp_path(g, dir, f->name, ".dat");
			fprintf(g, " using 1:%d with linespoints ls %d title '%s%s%s'", 2 + 2 * k + e,
				1 + 2 * k + e, eng[e], *f->what[k] ? " " : "", f->what[k]);
			first = 0;
		}
	fprintf(g, "\n");
}

/* Runs gnuplot on the script; 0 when it made the PNGs. */
static int run_gnuplot(const char *script)
{
	char *argv[] = {"gnuplot", (char *)script, NULL};
	pid_t pid;
	int rc, status;

	rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (rc != 0) {
		bench_log("convlog-bench: cannot run gnuplot (%s)%s; PNGs skipped", strerror(rc),
			  rc == ENOENT ? ": install it with `sh tools/install-deps.sh bench` "
					 "(package gnuplot-nox)"
				       : "");
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bench_log("convlog-bench: gnuplot %s failed; some PNGs may be missing", script);
		return -1;
	}
	return 0;
}

void plot_write(const char *dir_arg, const plot_scale *s, uint32_t n, uint32_t threads)
{
	family f[32];
	int nf = families(f, threads), made = 0;
	char script[4200], dir[PATH_MAX];
	FILE *g;

	if (!n)
		return;
	dir_make(dir_arg);
	/* absolute paths in plots.gp: it runs from anywhere */
	if (!realpath(dir_arg, dir))
		bench_die("%s: %s", dir_arg, strerror(errno));
	snprintf(script, sizeof(script), "%s/plots.gp", dir);
	if (!(g = fopen(script, "w")))
		bench_die("%s: %s", script, strerror(errno));
	script_head(g, s, n);
	for (int i = 0; i < nf; i++) {
		if (!family_have(s, n, &f[i]))
			continue;
		write_data(dir, s, n, &f[i]);
		script_family(g, dir, s, n, &f[i]);
		made++;
	}
	if (fclose(g) != 0)
		bench_die("%s: %s", script, strerror(errno));
	if (made && run_gnuplot(script) == 0)
		bench_log("plots: %d PNGs, their data files and plots.gp in %s", made, dir);
	else
		bench_log("plots: %d data files and plots.gp in %s", made, dir);
}
