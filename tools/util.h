/*
 * util.h - helpers shared by the convlog subcommands: error reporting,
 * exit codes, RFC 3339 times, UUIDs, number and size formatting, opening a
 * store.  Only the public convlog API is used.
 */
#ifndef CONVLOG_TOOL_UTIL_H
#define CONVLOG_TOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "convlog.h"

/* Exit codes of every subcommand. */
#define TOOL_OK 0    /* success */
#define TOOL_FAIL 1  /* a problem was found or the operation failed */
#define TOOL_USAGE 2 /* bad command line */

/* Buffer size for tool_time_format(): "2025-06-06T10:00:00.000Z" + NUL. */
#define TOOL_TIME_STRLEN 32

#if defined(__GNUC__)
#define TOOL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TOOL_PRINTF(a, b)
#endif

/* "convlog CMD: message\n" on stderr. */
void tool_err(const char *cmd, const char *fmt, ...) TOOL_PRINTF(2, 3);

/*
 * Reports a failed library call: "convlog CMD: CONTEXT: errmsg" where
 * errmsg is convlog_errmsg() (or convlog_strerror(rc) when empty).
 * CONTEXT may be NULL.  Returns TOOL_FAIL.
 */
int tool_lib_err(const char *cmd, int rc, const char *context);

/* Usage error: message plus a hint to --help on stderr.  Returns TOOL_USAGE. */
int tool_usage(const char *cmd, const char *fmt, ...) TOOL_PRINTF(2, 3);

/*
 * Reports a getopt_long() failure (c is '?' or ':') as a usage error for
 * `cmd`; call it right after getopt_long returned c.  Returns TOOL_USAGE.
 */
int tool_getopt_error(const char *cmd, int c, char **argv);

/*
 * Opens STORE for a subcommand: `flags` are CONVLOG_OPEN_* (0 = existing
 * store, writable), `durability` a CONVLOG_DURABILITY_*.  Reports errors.
 * Returns TOOL_OK or TOOL_FAIL.
 */
int tool_open(const char *cmd, const char *path, unsigned flags, int durability,
	      convlog_db **out);
/* With CONVLOG_SCOPE_USER and/or CONVLOG_SCOPE_ORG in the environment,
 * tool_open hands out a scoped handle (convlog_scope_open): every command
 * then sees and changes only that user's or org's conversations.
 * tool_close closes it and the store under it.  Accepts NULL. */
void tool_close(convlog_db *db);

/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void tool_time_format(int64_t ms, char out[TOOL_TIME_STRLEN]);

/* Short human form "YYYY-MM-DD HH:MM" (UTC) for tables. */
void tool_time_short(int64_t ms, char out[TOOL_TIME_STRLEN]);

/*
 * Parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)" into ms
 * since the epoch (fractions beyond milliseconds are truncated).
 * Returns 0, or -1 with a reason in `why` (static string).
 */
int tool_time_parse(const char *s, int64_t *ms, const char **why);

/* Lowercase canonical UUID text of `id` (thin wrapper for brevity). */
const char *tool_uuid_str(const convlog_uuid *id, char out[CONVLOG_UUID_STRLEN]);

/*
 * Parses a decimal unsigned integer (no sign, no spaces) no larger than
 * `max`.  Returns 0 or -1.
 */
int tool_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Buffer size for tool_cost_format(): sign, 13 digits, ".", 6 digits, NUL. */
#define TOOL_COST_STRLEN 24

/* Integer micro-USD as USD with 6 decimals ("0.001815").  Returns out. */
const char *tool_cost_format(int64_t micro, char out[TOOL_COST_STRLEN]);

/*
 * Finds conversation `arg` of `db` by UUID, then by external_id, like
 * every command's CONV operand.  Reports errors for `cmd` ("no
 * conversation has the id or external_id 'x'").  *out: convlog_conv_free().
 * Returns TOOL_OK or TOOL_FAIL.
 */
int tool_conv_lookup(const char *cmd, convlog_db *db, const char *arg, convlog_conv **out);

/*
 * Parses a message seq operand or option value, 0..CONVLOG_MAX_SEQ
 * (1.. when `min1`).  Returns 0, or TOOL_USAGE after reporting "WHAT
 * needs a number from M to N" for `cmd`.
 */
int tool_parse_seq(const char *cmd, const char *what, const char *s, int min1, uint32_t *out);

/* "512 B", "1.5 KiB", "3.2 MiB", ... */
void tool_human_size(uint64_t bytes, char *out, size_t n);

/* Display columns of the UTF-8 string `s` as tool_fit() counts them. */
int tool_width(const char *s);

/*
 * Writes at most `width` display columns of the UTF-8 string `s` to `f`,
 * replacing control characters with spaces and ending a cut string with
 * "...".  Returns the columns written.
 */
int tool_fit(FILE *f, const char *s, int width);

/* Writes `s` (n bytes) with control characters other than \n and \t
 * shown as \xHH, each line prefixed by `indent`. */
void tool_print_text(FILE *f, const char *s, size_t n, const char *indent);

#endif
