#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

void tu_tmppath(char *out, size_t n, const char *tag)
{
	static int counter;
	const char *dir = getenv("TMPDIR");

	snprintf(out, n, "%s/convlog-%s-%d-%d", dir && *dir ? dir : "/tmp", tag, (int)getpid(),
		 counter++);
	tu_rmrf(out);
}

void tu_rmrf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s failed\n", cmd);
}

convlog_options *tu_opts(int durability)
{
	convlog_options *o;

	ck_assert_int_eq(convlog_options_new(&o), 0);
	CK_OK(convlog_options_set_durability(o, durability));
	CK_OK(convlog_options_set_segment_size(o, 1u << 20));
	CK_OK(convlog_options_set_memtable_size(o, 64u << 10));
	CK_OK(convlog_options_set_frame_size(o, 4096));
	CK_OK(convlog_options_set_block_cache_size(o, 1u << 20));
	return o;
}

convlog_db *tu_open(const char *path, convlog_options *opts)
{
	convlog_db *db = NULL;

	CK_OK(convlog_open(path, opts, &db));
	return db;
}

convlog_uuid tu_conv(convlog_db *db, const char *user, const char *title)
{
	convlog_conv c;
	convlog_uuid id;

	convlog_conv_init(&c);
	c.user_id = user;
	c.title = title;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	return id;
}

uint32_t tu_msg(convlog_db *db, const convlog_uuid *conv, const char *role, const char *content)
{
	convlog_msg m;
	uint32_t seq = 0;

	convlog_msg_init(&m);
	m.conv_id = *conv;
	m.role = role;
	m.content = content;
	m.content_len = strlen(content);
	CK_OK(convlog_msg_append(db, NULL, &m, &seq));
	return seq;
}

static void print_problem(void *ud, const char *where, const char *what)
{
	(void)ud;
	fprintf(stderr, "verify: %s: %s\n", where, what);
}

void tu_verify_clean(convlog_db *db)
{
	uint64_t n = 0;

	CK_OK(convlog_verify(db, print_problem, NULL, &n));
	ck_assert_msg(n == 0, "verify found %llu problems", (unsigned long long)n);
}

uint64_t tu_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}
