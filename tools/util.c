/* util.c - shared helpers of the convlog tool (see util.h). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "util.h"

void tool_err(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "convlog %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_lib_err(const char *cmd, int rc, const char *context)
{
	const char *msg = convlog_errmsg();

	if (!msg || !*msg)
		msg = convlog_strerror(rc);
	if (context)
		tool_err(cmd, "%s: %s", context, msg);
	else
		tool_err(cmd, "%s", msg);
	return TOOL_FAIL;
}

int tool_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "convlog %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'convlog %s --help'.\n", cmd);
	return TOOL_USAGE;
}

int tool_getopt_error(const char *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return tool_usage(cmd, "option '%s' needs a value", arg);
	if (optopt && strncmp(arg, "--", 2) != 0)
		return tool_usage(cmd, "unknown option '-%c'", optopt);
	return tool_usage(cmd, "unknown option '%s'", arg);
}

/* the store under the scoped handle tool_open handed out */
static convlog_db *scoped_base;

int tool_open(const char *cmd, const char *path, unsigned flags, int durability,
	      convlog_db **out)
{
	convlog_options *opts = NULL;
	int rc;

	*out = NULL;
	rc = convlog_options_new(&opts);
	if (rc)
		return tool_lib_err(cmd, rc, path);
	rc = convlog_options_set_open_flags(opts, flags);
	if (!rc)
		rc = convlog_options_set_durability(opts, durability);
	if (rc) {
		tool_lib_err(cmd, rc, path);
		goto out;
	}
	rc = convlog_open(path, opts, out);
	if (rc)
		tool_lib_err(cmd, rc, NULL);
	const char *user = getenv("CONVLOG_SCOPE_USER"), *org = getenv("CONVLOG_SCOPE_ORG");
	if (!rc && ((user && *user) || (org && *org))) {
		convlog_db *scoped;
		rc = convlog_scope_open(*out, org && *org ? org : NULL, user && *user ? user : NULL,
					&scoped);
		if (rc) {
			tool_lib_err(cmd, rc, NULL);
			convlog_close(*out);
			*out = NULL;
		} else {
			scoped_base = *out;
			*out = scoped;
		}
	}
out:
	convlog_options_free(opts);
	return rc ? TOOL_FAIL : TOOL_OK;
}

void tool_close(convlog_db *db)
{
	convlog_close(db);
	if (db && scoped_base) {
		convlog_close(scoped_base);
		scoped_base = NULL;
	}
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

typedef struct tm_parts {
	int64_t year;
	unsigned mon, day, hour, min, sec, ms;
} tm_parts;

static void split_ms(int64_t ms, tm_parts *p)
{
	int64_t secs = ms / 1000, rem = ms % 1000;

	if (rem < 0) {
		rem += 1000;
		secs--;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &p->year, &p->mon, &p->day);
	p->hour = (unsigned)(sod / 3600);
	p->min = (unsigned)(sod / 60 % 60);
	p->sec = (unsigned)(sod % 60);
	p->ms = (unsigned)rem;
}

void tool_time_format(int64_t ms, char out[TOOL_TIME_STRLEN])
{
	tm_parts p;

	split_ms(ms, &p);
	snprintf(out, TOOL_TIME_STRLEN, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (long long)p.year, p.mon, p.day, p.hour, p.min, p.sec, p.ms);
}

void tool_time_short(int64_t ms, char out[TOOL_TIME_STRLEN])
{
	tm_parts p;

	split_ms(ms, &p);
	snprintf(out, TOOL_TIME_STRLEN, "%04lld-%02u-%02u %02u:%02u", (long long)p.year, p.mon,
		 p.day, p.hour, p.min);
}

/* Reads exactly n digits at *s. */
static int digits(const char **s, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*s)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (unsigned)(c - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int expect(const char **s, char a, char b)
{
	if (**s != a && **s != b)
		return -1;
	(*s)++;
	return 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* The date and time of day part; leaves *s after the seconds. */
static int parse_datetime(const char **s, tm_parts *p, const char **why)
{
	unsigned y;

	*why = "expected YYYY-MM-DDTHH:MM:SS";
	if (digits(s, 4, &y) || expect(s, '-', '-') || digits(s, 2, &p->mon) ||
	    expect(s, '-', '-') || digits(s, 2, &p->day) || expect(s, 'T', 't') ||
	    digits(s, 2, &p->hour) || expect(s, ':', ':') || digits(s, 2, &p->min) ||
	    expect(s, ':', ':') || digits(s, 2, &p->sec))
		return -1;
	p->year = y;
	*why = "date or time out of range";
	if (p->mon < 1 || p->mon > 12 || p->day < 1 || p->day > days_in_month(y, p->mon) ||
	    p->hour > 23 || p->min > 59 || p->sec > 59)
		return -1;
	p->ms = 0;
	if (**s == '.') {
		int n = 0;
		(*s)++;
		while ((*s)[n] >= '0' && (*s)[n] <= '9')
			n++;
		*why = "a fraction needs 1 to 9 digits";
		if (n < 1 || n > 9)
			return -1;
		for (int i = 0; i < 3; i++)
			p->ms = p->ms * 10 + (unsigned)(i < n ? (*s)[i] - '0' : 0);
		*s += n;
	}
	return 0;
}

int tool_time_parse(const char *s, int64_t *ms, const char **why)
{
	tm_parts p;
	int64_t off = 0;

	if (parse_datetime(&s, &p, why))
		return -1;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1;
		unsigned oh, om;
		*why = "expected a zone offset +HH:MM or -HH:MM";
		if (digits(&s, 2, &oh) || expect(&s, ':', ':') || digits(&s, 2, &om))
			return -1;
		if (oh > 23 || om > 59) {
			*why = "zone offset out of range";
			return -1;
		}
		off = sign * (int64_t)(oh * 60 + om) * 60;
	} else {
		*why = "expected Z or a zone offset after the time";
		return -1;
	}
	if (*s) {
		*why = "unexpected characters after the time";
		return -1;
	}
	int64_t secs = days_from_civil(p.year, p.mon, p.day) * 86400 + p.hour * 3600 +
		       p.min * 60 + p.sec - off;
	*ms = secs * 1000 + p.ms;
	return 0;
}

/* ---- misc ---- */

const char *tool_uuid_str(const convlog_uuid *id, char out[CONVLOG_UUID_STRLEN])
{
	convlog_uuid_format(id, out);
	return out;
}

int tool_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

const char *tool_cost_format(int64_t micro, char out[TOOL_COST_STRLEN])
{
	uint64_t m = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;

	snprintf(out, TOOL_COST_STRLEN, "%s%llu.%06llu", micro < 0 ? "-" : "",
		 (unsigned long long)(m / 1000000), (unsigned long long)(m % 1000000));
	return out;
}

int tool_conv_lookup(const char *cmd, convlog_db *db, const char *arg, convlog_conv **out)
{
	convlog_uuid id;
	int rc;

	*out = NULL;
	if (convlog_uuid_parse(arg, &id) == 0) {
		rc = convlog_conv_get(db, &id, out);
		if (rc != CONVLOG_ENOTFOUND)
			return rc ? tool_lib_err(cmd, rc, NULL) : TOOL_OK;
	}
	rc = convlog_conv_get_by_external(db, arg, out);
	if (rc == CONVLOG_ENOTFOUND) {
		tool_err(cmd, "no conversation has the id or external_id '%s'", arg);
		return TOOL_FAIL;
	}
	return rc ? tool_lib_err(cmd, rc, NULL) : TOOL_OK;
}

int tool_parse_seq(const char *cmd, const char *what, const char *s, int min1, uint32_t *out)
{
	uint64_t v;

	if (tool_parse_u64(s, CONVLOG_MAX_SEQ, &v) || (min1 && v == 0))
		return tool_usage(cmd, "%s needs a number from %d to %u", what, min1 ? 1 : 0,
				  CONVLOG_MAX_SEQ);
	*out = (uint32_t)v;
	return 0;
}

void tool_human_size(uint64_t bytes, char *out, size_t n)
{
	static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(out, n, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, n, "%.1f %s", v, units[u]);
}

/* Display width of one code point: 0..2. */
static int cp_width(utf8proc_int32_t cp)
{
	if (cp < 0x20 || cp == 0x7f)
		return 1; /* shown as a space */
	int w = utf8proc_charwidth(cp);
	return w < 0 ? 1 : w;
}

int tool_width(const char *s)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s), i, k;
	utf8proc_int32_t cp;
	int total = 0;

	for (i = 0; i < len; i += k > 0 ? k : 1) {
		k = utf8proc_iterate(p + i, len - i, &cp);
		total += k > 0 ? cp_width(cp) : 1;
	}
	return total;
}

int tool_fit(FILE *f, const char *s, int width)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s), i = 0, k;
	utf8proc_int32_t cp;
	int total = tool_width(s), used = 0;
	int room = total <= width ? width : width - 3;
	for (i = 0; i < len; i += k) {
		k = utf8proc_iterate(p + i, len - i, &cp);
		if (k <= 0) {
			k = 1;
			cp = '?';
		}
		int w = cp_width(cp);
		if (used + w > room)
			break;
		if (cp < 0x20 || cp == 0x7f)
			fputc(' ', f);
		else
			fwrite(p + i, 1, (size_t)k, f);
		used += w;
	}
	if (total > width && width >= 3) {
		fputs("...", f);
		used += 3;
	}
	return used;
}

void tool_print_text(FILE *f, const char *s, size_t n, const char *indent)
{
	int bol = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (bol && c != '\n')
			fputs(indent, f); /* no trailing blanks on empty lines */
		bol = c == '\n';
		if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	if (!bol)
		fputc('\n', f);
}
