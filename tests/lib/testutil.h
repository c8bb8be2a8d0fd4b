/* Helpers shared by the Check suites. */
#ifndef CVL_TESTUTIL_H
#define CVL_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "convlog.h"

/* Asserts a convlog call returned 0, printing convlog_errmsg() if not. */
#define CK_OK(expr)                                                                  \
	do {                                                                         \
		int _rc = (expr);                                                    \
		ck_assert_msg(_rc == 0, "%s -> %d (%s): %s", #expr, _rc,             \
			      convlog_strerror(_rc), convlog_errmsg());              \
	} while (0)

/* Asserts a call failed with `code`. */
#define CK_ERR(expr, code)                                                           \
	do {                                                                         \
		int _rc = (expr);                                                    \
		ck_assert_msg(_rc == (code), "%s -> %d (%s), expected %d: %s", #expr,  \
			      _rc, convlog_strerror(_rc), (code), convlog_errmsg());   \
	} while (0)

/* A fresh empty directory path under $TMPDIR (the directory itself is not
 * created, so convlog_open creates it); removed by tu_rmrf. Static buffer
 * per call site is the caller's: pass a char[256]. */
void tu_tmppath(char *out, size_t n, const char *tag);
void tu_rmrf(const char *path);

/* Options with small sizes so tests exercise flushes and roll-overs. */
convlog_options *tu_opts(int durability);

convlog_db *tu_open(const char *path, convlog_options *opts);

/* Creates a conversation with the given user (may be NULL); returns id. */
convlog_uuid tu_conv(convlog_db *db, const char *user, const char *title);

/* Appends a message with `role` and `content`; returns its seq. */
uint32_t tu_msg(convlog_db *db, const convlog_uuid *conv, const char *role,
		const char *content);

/* Runs convlog_verify and fails the test on any problem (printing them). */
void tu_verify_clean(convlog_db *db);

/* Deterministic PRNG (xorshift64*). */
uint64_t tu_rand(uint64_t *state);

/* Runs a suite; returns the number of failures (for main). */
int tu_run(Suite *s);

#endif
