/*
 * Lifecycle policies through convlog_lifecycle_sweep(): inactivity
 * timeouts, archival, maximum age and purge after a grace period, driven
 * by an explicit clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T0 1700000000000LL

static char path[256];
static convlog_db *db;

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_lifecycle p;

	convlog_lifecycle_init(&p);
	p.inactive_after_ms = HOUR;
	p.archive_after_ms = DAY;
	p.max_age_ms = 30 * DAY;
	p.purge_after_ms = 7 * DAY;
	CK_OK(convlog_options_set_lifecycle(o, &p));
	return o;
}

static void setup(void)
{
	convlog_options *o = opts();

	tu_tmppath(path, sizeof(path), "life");
	db = tu_open(path, o);
	convlog_options_free(o);
}

static void teardown(void)
{
	convlog_close(db);
	db = NULL;
	tu_rmrf(path);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static convlog_uuid conv_at(int64_t created, int status, const char *title)
{
	convlog_conv c;
	convlog_uuid id;

	convlog_conv_init(&c);
	c.created_at = created;
	c.status = status;
	c.title = title;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	return id;
}

static void msg_at(const convlog_uuid *id, int64_t at)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.conv_id = *id;
	m.role = "user";
	m.content = "hello";
	m.content_len = 5;
	m.created_at = at;
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
}

static int status_of(const convlog_uuid *id)
{
	convlog_conv *c;
	int s, rc = convlog_conv_get(db, id, &c);

	if (rc == CONVLOG_ENOTFOUND)
		return -1; /* purged */
	CK_OK(rc);
	s = c->status;
	convlog_conv_free(c);
	return s;
}

static convlog_sweep_stats sweep(int64_t now)
{
	convlog_sweep_stats s = {.version = CONVLOG_SWEEP_VERSION};

	CK_OK(convlog_lifecycle_sweep(db, now, &s));
	return s;
}

static void expect(convlog_sweep_stats s, uint64_t timed_out, uint64_t archived,
		   uint64_t deleted, uint64_t purged)
{
	ck_assert_uint_eq(s.timed_out, timed_out);
	ck_assert_uint_eq(s.archived, archived);
	ck_assert_uint_eq(s.deleted, deleted);
	ck_assert_uint_eq(s.purged, purged);
}

START_TEST(test_lifecycle__sweeps_apply_each_policy_once)
{
	convlog_uuid a = conv_at(T0, 0, "idle");
	convlog_uuid b = conv_at(T0, 0, "busy");
	convlog_uuid c = conv_at(T0, CONVLOG_STATUS_COMPLETED, "done");
	convlog_uuid d = conv_at(T0, CONVLOG_STATUS_ARCHIVED, "kept");
	convlog_uuid e = conv_at(T0 - 40 * DAY, 0, "ancient");
	convlog_uuid f = conv_at(T0, 0, "deleted");
	convlog_uuid fork;

	msg_at(&b, T0 + 150 * 60000LL); /* active at T0 + 2.5 h */
	msg_at(&a, T0);
	CK_OK(convlog_conv_fork(db, NULL, &e, 0, NULL, 0, &fork));
	CK_OK(convlog_conv_delete(db, NULL, &f));

	/* T0 + 3 h: a has been idle 3 h; e is 40 days old */
	expect(sweep(T0 + 3 * HOUR), 2, 1, 1, 0);
	ck_assert_int_eq(status_of(&a), CONVLOG_STATUS_INACTIVE_TIMEOUT);
	ck_assert_int_eq(status_of(&b), CONVLOG_STATUS_ACTIVE);
	ck_assert_int_eq(status_of(&c), CONVLOG_STATUS_COMPLETED);
	ck_assert_int_eq(status_of(&d), CONVLOG_STATUS_ARCHIVED);
	ck_assert_int_eq(status_of(&e), CONVLOG_STATUS_DELETED); /* timed out, archived, deleted */
	ck_assert_int_eq(status_of(&f), CONVLOG_STATUS_DELETED);
	convlog_conv *g;
	CK_OK(convlog_conv_get(db, &e, &g));
	ck_assert_int_eq(g->prev_status, CONVLOG_STATUS_ARCHIVED);
	convlog_conv_free(g);
	/* nothing more to do at the same time */
	expect(sweep(T0 + 3 * HOUR), 0, 0, 0, 0);

	/* two days later: everything idle is archived, b times out first */
	expect(sweep(T0 + 2 * DAY), 1, 3, 0, 0);
	ck_assert_int_eq(status_of(&a), CONVLOG_STATUS_ARCHIVED);
	ck_assert_int_eq(status_of(&b), CONVLOG_STATUS_ARCHIVED);
	ck_assert_int_eq(status_of(&c), CONVLOG_STATUS_ARCHIVED);

	/* new activity makes a conversation active again; it is not swept
	 * until it has been idle for the period */
	CK_OK(convlog_conv_set_status(db, NULL, &b, CONVLOG_STATUS_ACTIVE));
	msg_at(&b, T0 + 3 * DAY);
	expect(sweep(T0 + 3 * DAY + HOUR / 2), 0, 0, 0, 0);
	ck_assert_int_eq(status_of(&b), CONVLOG_STATUS_ACTIVE);

	/* eight days after the real clock (deleted_at and the fork's times
	 * are real): b and the fork time out and are archived, every 2023
	 * conversation is past the maximum age, and e and f, deleted earlier,
	 * are past the grace period; e's fork survives its parent */
	int64_t later = now_ms() + 8 * DAY;
	expect(sweep(later), 2, 2, 4, 2);
	ck_assert_int_eq(status_of(&e), -1);
	ck_assert_int_eq(status_of(&f), -1);
	ck_assert_int_eq(status_of(&a), CONVLOG_STATUS_DELETED);
	ck_assert_int_eq(status_of(&fork), CONVLOG_STATUS_ARCHIVED);
	tu_verify_clean(db);
	/* a week after that, the ones deleted for their age go */
	expect(sweep(later + 8 * DAY), 0, 0, 0, 4);
	ck_assert_int_eq(status_of(&a), -1);
	ck_assert_int_eq(status_of(&fork), CONVLOG_STATUS_ARCHIVED);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_lifecycle__bad_policies_and_handles_are_refused)
{
	convlog_options *o;
	convlog_lifecycle p;
	convlog_sweep_stats s = {.version = 99};

	CK_OK(convlog_options_new(&o));
	convlog_lifecycle_init(&p);
	p.purge_after_ms = -1;
	CK_ERR(convlog_options_set_lifecycle(o, &p), CONVLOG_EINVAL);
	convlog_lifecycle_init(&p);
	p.version = 2;
	CK_ERR(convlog_options_set_lifecycle(o, &p), CONVLOG_EINVAL);
	CK_ERR(convlog_options_set_lifecycle(o, NULL), CONVLOG_EINVAL);
	convlog_options_free(o);
	CK_ERR(convlog_lifecycle_sweep(db, 0, &s), CONVLOG_EINVAL);
	/* no policy: nothing happens */
	convlog_uuid a = conv_at(T0, 0, "idle");
	convlog_close(db);
	CK_OK(convlog_options_new(&o));
	db = tu_open(path, o);
	s.version = CONVLOG_SWEEP_VERSION;
	CK_OK(convlog_lifecycle_sweep(db, 0, &s));
	expect(s, 0, 0, 0, 0);
	ck_assert_int_eq(status_of(&a), CONVLOG_STATUS_ACTIVE);
	convlog_close(db);
	/* read-only handles do not sweep */
	convlog_options *ro = opts();
	CK_OK(convlog_options_set_open_flags(ro, CONVLOG_OPEN_READONLY));
	db = tu_open(path, ro);
	CK_ERR(convlog_lifecycle_sweep(db, 0, NULL), CONVLOG_EREADONLY);
	convlog_options_free(ro);
	convlog_options_free(o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lifecycle__sweeps_apply_each_policy_once);
	tcase_add_test(tc, test_lifecycle__bad_policies_and_handles_are_refused);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
