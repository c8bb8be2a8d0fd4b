#include "convlog.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/htab.h"

int cvl_htab_init(cvl_htab *h, size_t initial)
{
	size_t n = 16;

	while (n < initial)
		n <<= 1;
	h->slots = cvl_calloc(n, sizeof(*h->slots));
	if (!h->slots)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a hash table");
	h->nslots = n;
	h->count = 0;
	return 0;
}

void cvl_htab_free(cvl_htab *h)
{
	cvl_free(h->slots);
	h->slots = NULL;
	h->nslots = h->count = 0;
}

cvl_hnode *cvl_htab_find(const cvl_htab *h, uint64_t hash, cvl_hnode_eq eq,
			 const void *key)
{
	cvl_hnode *n = h->slots[hash & (h->nslots - 1)];

	for (; n; n = n->next)
		if (n->hash == hash && eq(n, key))
			return n;
	return NULL;
}

static void grow(cvl_htab *h)
{
	size_t nn = h->nslots * 2;
	cvl_hnode **ns = cvl_calloc(nn, sizeof(*ns));

	if (!ns)
		return;
	for (size_t i = 0; i < h->nslots; i++) {
		cvl_hnode *n = h->slots[i];
		while (n) {
			cvl_hnode *next = n->next;
			size_t j = n->hash & (nn - 1);
			n->next = ns[j];
			ns[j] = n;
			n = next;
		}
	}
	cvl_free(h->slots);
	h->slots = ns;
	h->nslots = nn;
}

void cvl_htab_insert(cvl_htab *h, cvl_hnode *node)
{
	size_t i;

	if (h->count >= h->nslots)
		grow(h);
	i = node->hash & (h->nslots - 1);
	node->next = h->slots[i];
	h->slots[i] = node;
	h->count++;
}

void cvl_htab_remove(cvl_htab *h, cvl_hnode *node)
{
	cvl_hnode **pp = &h->slots[node->hash & (h->nslots - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			h->count--;
			return;
		}
	}
}

void cvl_htab_each(const cvl_htab *h, void (*fn)(cvl_hnode *, void *), void *ud)
{
	for (size_t i = 0; i < h->nslots; i++) {
		for (cvl_hnode *n = h->slots[i], *next; n; n = next) {
			next = n->next; /* fn may free n */
			fn(n, ud);
		}
	}
}
