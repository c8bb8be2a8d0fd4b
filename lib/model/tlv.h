/* Tagged fields: key varint = field << 3 | wire type, then a varint or a
 * length-prefixed byte string (format-spec.md §6.1).  Used for record bodies
 * and LMDB values alike. */
#ifndef CVL_MODEL_TLV_H
#define CVL_MODEL_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CVL_WT_VARINT 0
#define CVL_WT_BYTES 2

typedef struct cvl_tlv {
	const uint8_t *p, *end;
} cvl_tlv;

typedef struct cvl_tlv_item {
	uint32_t field;
	int wt;
	uint64_t v;          /* CVL_WT_VARINT */
	const uint8_t *data; /* CVL_WT_BYTES */
	size_t len;
} cvl_tlv_item;

static inline void cvl_tlv_init(cvl_tlv *t, const uint8_t *p, size_t n)
{
	t->p = p;
	t->end = p + n;
}

/* 1 with *it filled, 0 at the end, -1 on malformed input. */
int cvl_tlv_next(cvl_tlv *t, cvl_tlv_item *it);

int cvl_tlv_put_u(cvl_buf *b, uint32_t field, uint64_t v);
int cvl_tlv_put_i(cvl_buf *b, uint32_t field, int64_t v); /* zigzag */
int cvl_tlv_put_bytes(cvl_buf *b, uint32_t field, const void *p, size_t n);
/* Skips NULL strings. */
int cvl_tlv_put_str(cvl_buf *b, uint32_t field, const char *s);

/* Bump allocator for building one packed result allocation. */
typedef struct cvl_pack {
	uint8_t *base;
	size_t off, cap;
} cvl_pack;

/* Reserves `n` bytes aligned to 8 (base NULL: only counts). */
void *cvl_pack_take(cvl_pack *pk, size_t n);
/* Copies n bytes and a NUL; returns the copy (NULL while counting). */
char *cvl_pack_str(cvl_pack *pk, const uint8_t *p, size_t n);

#endif
