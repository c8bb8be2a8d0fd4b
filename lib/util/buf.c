#include <string.h>

#include "convlog.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/codec.h"
#include "util/err.h"

void cvl_buf_init(cvl_buf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX;
}

void cvl_buf_free(cvl_buf *b)
{
	cvl_free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int cvl_buf_reserve(cvl_buf *b, size_t extra)
{
	size_t need, ncap;
	uint8_t *np;

	if (extra > b->max || b->len > b->max - extra)
		return cvl_err(CONVLOG_ETOOBIG, "buffer would exceed its limit of %zu bytes",
			       b->max);
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	np = cvl_realloc(b->p, ncap);
	if (!np)
		return cvl_err(CONVLOG_ENOMEM, "out of memory growing a buffer to %zu bytes",
			       ncap);
	b->p = np;
	b->cap = ncap;
	return 0;
}

int cvl_buf_append(cvl_buf *b, const void *p, size_t n)
{
	int rc = cvl_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int cvl_buf_put_u8(cvl_buf *b, uint8_t v)
{
	return cvl_buf_append(b, &v, 1);
}

int cvl_buf_put_varint(cvl_buf *b, uint64_t v)
{
	uint8_t tmp[CVL_VARINT_MAX];

	return cvl_buf_append(b, tmp, cvl_varint_put(tmp, v));
}

int cvl_buf_put_u32le(cvl_buf *b, uint32_t v)
{
	uint8_t tmp[4];

	cvl_put_u32le(tmp, v);
	return cvl_buf_append(b, tmp, 4);
}

int cvl_buf_put_u64le(cvl_buf *b, uint64_t v)
{
	uint8_t tmp[8];

	cvl_put_u64le(tmp, v);
	return cvl_buf_append(b, tmp, 8);
}

uint8_t *cvl_buf_detach(cvl_buf *b, size_t *len)
{
	uint8_t *p = b->p;

	if (len)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}
