#include <string.h>
#include <xxhash.h>

#include "os/os.h"
#include "util/err.h"
#include "util/uuid.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

CONVLOG_API int convlog_uuid_parse(const char *text, convlog_uuid *out)
{
	static const int dash[] = {8, 13, 18, 23};
	int di = 0, bi = 0;

	if (!text || !out)
		return cvl_err(CONVLOG_EINVAL, "uuid_parse: NULL argument");
	if (strlen(text) != 36)
		return cvl_err(CONVLOG_EINVAL, "'%.64s' is not a UUID (expected 36 characters)",
			       text);
	for (int i = 0; i < 36;) {
		if (di < 4 && i == dash[di]) {
			if (text[i] != '-')
				return cvl_err(CONVLOG_EINVAL,
					       "'%s' is not a UUID (expected '-' at %d)", text, i);
			di++;
			i++;
			continue;
		}
		int hi = hexval(text[i]), lo = hexval(text[i + 1]);
		if (hi < 0 || lo < 0)
			return cvl_err(CONVLOG_EINVAL,
				       "'%s' is not a UUID (bad hex digit at %d)", text, i);
		out->bytes[bi++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

CONVLOG_API void convlog_uuid_format(const convlog_uuid *id, char out[CONVLOG_UUID_STRLEN])
{
	static const char hex[] = "0123456789abcdef";
	int o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id->bytes[i] >> 4];
		out[o++] = hex[id->bytes[i] & 15];
	}
	out[o] = '\0';
}

const char *cvl_uuid_str(const convlog_uuid *id, char buf[CONVLOG_UUID_STRLEN])
{
	convlog_uuid_format(id, buf);
	return buf;
}

CONVLOG_API int convlog_uuid_is_nil(const convlog_uuid *id)
{
	for (int i = 0; i < 16; i++)
		if (id->bytes[i])
			return 0;
	return 1;
}

int cvl_uuid_v7(convlog_uuid *out, int64_t ms)
{
	uint64_t t = (uint64_t)ms;
	int rc = cvl_os_random(out->bytes + 6, 10);

	if (rc)
		return rc;
	for (int i = 0; i < 6; i++)
		out->bytes[i] = (unsigned char)(t >> (40 - 8 * i));
	out->bytes[6] = (unsigned char)(0x70 | (out->bytes[6] & 0x0f));
	out->bytes[8] = (unsigned char)(0x80 | (out->bytes[8] & 0x3f));
	return 0;
}

CONVLOG_API int convlog_uuid_generate(convlog_uuid *out)
{
	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "uuid_generate: NULL argument");
	return cvl_uuid_v7(out, cvl_os_now_ms());
}

void cvl_uuid_derive(convlog_uuid *out, const convlog_uuid *a, const convlog_uuid *b)
{
	uint8_t in[32];
	XXH128_canonical_t c;

	memcpy(in, a->bytes, 16);
	memcpy(in + 16, b->bytes, 16);
	XXH128_canonicalFromHash(&c, XXH3_128bits(in, sizeof(in)));
	memcpy(out->bytes, c.digest, 16);
	out->bytes[6] = (uint8_t)((out->bytes[6] & 0x0f) | 0x80); /* version 8 */
	out->bytes[8] = (uint8_t)((out->bytes[8] & 0x3f) | 0x80); /* variant */
}
