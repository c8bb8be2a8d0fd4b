/* Intrusive chained hash table.  Nodes are owned by the caller; the table
 * only links them.  Growth failure is tolerated (chains get longer), so
 * insert cannot fail once the table is initialised. */
#ifndef CVL_UTIL_HTAB_H
#define CVL_UTIL_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct cvl_hnode {
	struct cvl_hnode *next;
	uint64_t hash;
} cvl_hnode;

typedef struct cvl_htab {
	cvl_hnode **slots;
	size_t nslots; /* power of two */
	size_t count;
} cvl_htab;

typedef int (*cvl_hnode_eq)(const cvl_hnode *node, const void *key);

int cvl_htab_init(cvl_htab *h, size_t initial);
void cvl_htab_free(cvl_htab *h); /* frees the slot array, not the nodes */
cvl_hnode *cvl_htab_find(const cvl_htab *h, uint64_t hash, cvl_hnode_eq eq,
			 const void *key);
void cvl_htab_insert(cvl_htab *h, cvl_hnode *node);
void cvl_htab_remove(cvl_htab *h, cvl_hnode *node);

/* Calls fn on every node; fn may free the node but not otherwise change
 * the table. */
void cvl_htab_each(const cvl_htab *h, void (*fn)(cvl_hnode *, void *), void *ud);

#endif
