#include <string.h>

#include "model/tlv.h"
#include "util/codec.h"

int cvl_tlv_next(cvl_tlv *t, cvl_tlv_item *it)
{
	uint64_t key, len;

	if (t->p == t->end)
		return 0;
	if (cvl_varint_get(&t->p, t->end, &key) != 0 || key >> 35)
		return -1;
	it->field = (uint32_t)(key >> 3);
	it->wt = (int)(key & 7);
	if (it->field == 0)
		return -1;
	switch (it->wt) {
	case CVL_WT_VARINT:
		return cvl_varint_get(&t->p, t->end, &it->v) == 0 ? 1 : -1;
	case CVL_WT_BYTES:
		if (cvl_varint_get(&t->p, t->end, &len) != 0 || len > (uint64_t)(t->end - t->p))
			return -1;
		it->data = t->p;
		it->len = (size_t)len;
		t->p += len;
		return 1;
	default:
		return -1;
	}
}

int cvl_tlv_put_u(cvl_buf *b, uint32_t field, uint64_t v)
{
	int rc = cvl_buf_put_varint(b, (uint64_t)field << 3 | CVL_WT_VARINT);

	return rc ? rc : cvl_buf_put_varint(b, v);
}

int cvl_tlv_put_i(cvl_buf *b, uint32_t field, int64_t v)
{
	return cvl_tlv_put_u(b, field, cvl_zigzag(v));
}

int cvl_tlv_put_bytes(cvl_buf *b, uint32_t field, const void *p, size_t n)
{
	int rc = cvl_buf_put_varint(b, (uint64_t)field << 3 | CVL_WT_BYTES);

	if (!rc)
		rc = cvl_buf_put_varint(b, n);
	return rc ? rc : cvl_buf_append(b, p, n);
}

int cvl_tlv_put_str(cvl_buf *b, uint32_t field, const char *s)
{
	return s ? cvl_tlv_put_bytes(b, field, s, strlen(s)) : 0;
}

void *cvl_pack_take(cvl_pack *pk, size_t n)
{
	size_t at = (pk->off + 7) & ~(size_t)7;

	pk->off = at + n;
	return pk->base ? pk->base + at : NULL;
}

char *cvl_pack_str(cvl_pack *pk, const uint8_t *p, size_t n)
{
	size_t at = pk->off;

	pk->off += n + 1;
	if (!pk->base)
		return NULL;
	if (n)
		memcpy(pk->base + at, p, n);
	pk->base[at + n] = '\0';
	return (char *)pk->base + at;
}
