#include <string.h>

#include "index/bitpack.h"

unsigned cvl_bits_needed(const uint32_t *v, size_t n)
{
	uint32_t all = 0;

	for (size_t i = 0; i < n; i++)
		all |= v[i];
	return all ? 32u - (unsigned)__builtin_clz(all) : 0;
}

void cvl_pack(const uint32_t *v, size_t n, unsigned b, uint8_t *out)
{
	uint64_t acc = 0;
	unsigned have = 0;
	size_t o = 0;

	memset(out, 0, cvl_packed_size(n, b));
	if (!b)
		return;
	for (size_t i = 0; i < n; i++) {
		acc |= (uint64_t)v[i] << have;
		have += b;
		while (have >= 8) {
			out[o++] = (uint8_t)acc;
			acc >>= 8;
			have -= 8;
		}
	}
	if (have)
		out[o] = (uint8_t)acc;
}

void cvl_unpack(const uint8_t *in, size_t n, unsigned b, uint32_t *v)
{
	uint64_t acc = 0, mask = b >= 32 ? 0xffffffffu : ((1u << b) - 1);
	unsigned have = 0;
	size_t o = 0;

	if (!b) {
		memset(v, 0, n * sizeof(*v));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		while (have < b) {
			acc |= (uint64_t)in[o++] << have;
			have += 8;
		}
		v[i] = (uint32_t)(acc & mask);
		acc >>= b;
		have -= b;
	}
}
