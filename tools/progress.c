/* progress.c - the progress line of long commands (see progress.h). */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

double progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_start(progress *p, const char *what, const char *unit, uint64_t total, int enable)
{
	p->what = what;
	p->unit = unit;
	p->on = enable && isatty(2);
	p->total = total;
	p->t0 = progress_now();
	p->last = 0;
	p->drawn = 0;
}

static void hms(double s, char *out, size_t n)
{
	unsigned long t = s < 0 ? 0 : (unsigned long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, n, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%lu:%02lu", t / 60, t % 60);
}

void progress_update(progress *p, uint64_t done, uint64_t items)
{
	char d[32], t[32], r[32], eta[32];
	double now, el, rate;

	if (!p->on)
		return;
	now = progress_now();
	if (now - p->last < 0.1)
		return;
	p->last = now;
	el = now - p->t0;
	rate = el > 0 ? (double)done / el : 0;
	tool_human_size(done, d, sizeof(d));
	tool_human_size((uint64_t)rate, r, sizeof(r));
	if (p->total) {
		int pct = done >= p->total ? 100 : (int)(done * 100 / p->total);
		int fill = pct * 24 / 100;
		tool_human_size(p->total, t, sizeof(t));
		hms(rate > 0 ? (double)(p->total - (done < p->total ? done : p->total)) / rate : 0,
		    eta, sizeof(eta));
		fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s/%s %s/s %.0f %s/s ETA %s \033[K",
			p->what, fill, "########################", 24 - fill, "", pct, d, t, r,
			el > 0 ? (double)items / el : 0, p->unit, eta);
	} else {
		fprintf(stderr, "\r%s %s %s/s %llu %s, %.0f/s \033[K", p->what, d, r,
			(unsigned long long)items, p->unit, el > 0 ? (double)items / el : 0);
	}
	fflush(stderr);
	p->drawn = 1;
}

void progress_clear(progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->drawn = 0;
	}
}
