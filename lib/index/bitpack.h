/* Packing n unsigned values of b bits each, little-endian bit order. */
#ifndef CVL_INDEX_BITPACK_H
#define CVL_INDEX_BITPACK_H

#include <stddef.h>
#include <stdint.h>

/* Bits needed for the largest of v[0..n). */
unsigned cvl_bits_needed(const uint32_t *v, size_t n);

/* Bytes that n values of b bits take. */
static inline size_t cvl_packed_size(size_t n, unsigned b)
{
	return (n * b + 7) / 8;
}

/* Writes the packed values to out (cvl_packed_size(n, b) bytes). */
void cvl_pack(const uint32_t *v, size_t n, unsigned b, uint8_t *out);

/* Reads n values of b bits from in (which holds at least
 * cvl_packed_size(n, b) bytes). */
void cvl_unpack(const uint8_t *in, size_t n, unsigned b, uint32_t *v);

#endif
