/*
 * progress.h - a one-line progress display on standard error for long
 * commands (import): bytes done of the total, rate, items per second and
 * the time left, redrawn at most ten times a second, only on a terminal.
 */
#ifndef CONVLOG_TOOL_PROGRESS_H
#define CONVLOG_TOOL_PROGRESS_H

#include <stdint.h>

typedef struct progress {
	const char *what;  /* "import" */
	const char *unit;  /* what the items are: "conv" */
	int on;            /* drawing (stderr is a terminal and not disabled) */
	uint64_t total;    /* bytes expected; 0 = unknown (a pipe) */
	double t0, last;   /* start and last redraw (monotonic seconds) */
	int drawn;         /* a line is on the screen */
} progress;

/* Starts a display for `what` counting `unit`s; `enable` 0 turns it off.
 * `total` (bytes) may be 0. */
void progress_start(progress *p, const char *what, const char *unit, uint64_t total, int enable);

/* Redraws when due: `done` bytes and `items` finished so far. */
void progress_update(progress *p, uint64_t done, uint64_t items);

/* Erases the line (before other output and at the end). */
void progress_clear(progress *p);

/* Monotonic seconds. */
double progress_now(void);

#endif
