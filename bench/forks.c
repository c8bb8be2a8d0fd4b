/*
 * forks.c - the plan of the thread-walk scenario (5b.), the same in both
 * engines: which conversations are forked, at which message, and the hash
 * that checks both engines walked the same threads.
 */
#include <stdlib.h>

#include "bench.h"

uint32_t fork_plan(const workload *w, uint32_t want, fork_pick *out)
{
	uint32_t eligible = 0, n = 0;
	uint8_t *taken;
	rng r;

	for (uint32_t i = 0; i < w->n_convs; i++)
		eligible += w->convs[i].nturns >= FORK_MIN_TURNS;
	if (want > eligible)
		want = eligible;
	if (!want)
		return 0;
	if (!(taken = calloc(w->n_convs, 1)))
		bench_die("out of memory");
	rng_seed(&r, w->seed, 'F', 0, 0);
	while (n < want) {
		uint32_t ci = rng_below(&r, w->n_convs);
		if (taken[ci] || w->convs[ci].nturns < FORK_MIN_TURNS)
			continue;
		taken[ci] = 1;
		out[n].conv = ci;
		out[n].fork_seq = w->convs[ci].nturns / 2;
		n++;
	}
	free(taken);
	return n;
}

/* FNV-1a over the seq, the length and every content byte. */
uint64_t walk_hash_msg(uint64_t h, uint32_t seq, const char *content, size_t len)
{
	uint64_t pre[2] = {seq, len};

	if (!h)
		h = 0xcbf29ce484222325ull;
	for (int k = 0; k < 2; k++)
		for (int b = 0; b < 8; b++) {
			h ^= (uint8_t)(pre[k] >> (8 * b));
			h *= 0x100000001b3ull;
		}
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)content[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Summed over walks, each tied to its position, so that two engines agree
 * only if every walk returned the same messages. */
uint64_t walk_check_add(uint64_t check, uint32_t walk, uint64_t h)
{
	return check + mix64(h ^ ((uint64_t)walk * 0x9e3779b97f4a7c15ull));
}
