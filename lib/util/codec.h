/* Explicit little/big-endian fields and LEB128 varints.  Decoders take an
 * end pointer and never read past it. */
#ifndef CVL_UTIL_CODEC_H
#define CVL_UTIL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define CVL_VARINT_MAX 10

static inline void cvl_put_u16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cvl_put_u32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void cvl_put_u64le(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t cvl_get_u16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t cvl_get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t cvl_get_u64le(const uint8_t *p)
{
	return (uint64_t)cvl_get_u32le(p) | (uint64_t)cvl_get_u32le(p + 4) << 32;
}

static inline void cvl_put_u32be(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void cvl_put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint32_t cvl_get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	       (uint32_t)p[3];
}

static inline uint64_t cvl_get_u64be(const uint8_t *p)
{
	return (uint64_t)cvl_get_u32be(p) << 32 | cvl_get_u32be(p + 4);
}

/* Order-preserving map of a signed time to unsigned (for sort keys). */
static inline uint64_t cvl_i64_sortable(int64_t v)
{
	return (uint64_t)v ^ (UINT64_C(1) << 63);
}

static inline int64_t cvl_i64_from_sortable(uint64_t v)
{
	return (int64_t)(v ^ (UINT64_C(1) << 63));
}

static inline uint64_t cvl_zigzag(int64_t v)
{
	/* the sign as an all-ones mask without a signed shift */
	return ((uint64_t)v << 1) ^ ((uint64_t)0 - ((uint64_t)v >> 63));
}

static inline int64_t cvl_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Writes v as LEB128 into p (room for CVL_VARINT_MAX); returns bytes used. */
static inline size_t cvl_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline size_t cvl_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Reads a varint from [*pp, end); advances *pp. Returns 0 or -1 if
 * truncated or longer than 10 bytes / 64 bits. */
static inline int cvl_varint_get(const uint8_t **pp, const uint8_t *end,
				 uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return -1;
		uint8_t c = *p++;
		if (shift == 63 && c > 1)
			return -1;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

#endif
