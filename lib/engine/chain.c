/* A fork's seq space: seqs up to its fork_seq belong to its parent (and so
 * on up the fork chain); later seqs are its own. */
#include <string.h>

#include "engine/db.h"
#include "util/err.h"
#include "util/uuid.h"

int cvl_chain_load(cvl_view *v, const convlog_conv *c, cvl_chain *ch)
{
	convlog_conv *p = NULL;
	convlog_uuid next;
	char s[CONVLOG_UUID_STRLEN], s2[CONVLOG_UUID_STRLEN];
	int rc = 0;

	ch->n = 1;
	ch->c[0].id = c->id;
	ch->c[0].fork_seq = convlog_uuid_is_nil(&c->parent_id) ? 0 : c->fork_seq;
	next = c->parent_id;
	while (!convlog_uuid_is_nil(&next) && ch->c[ch->n - 1].fork_seq > 0) {
		if (ch->n == CVL_CHAIN_MAX)
			return cvl_err(CONVLOG_ECORRUPT, "conversation %s: fork chain deeper than %d",
				       cvl_uuid_str(&c->id, s), CVL_CHAIN_MAX);
		/* a fork reads the prefix it inherits whatever scope the parent
		 * lies in: that prefix is part of the fork */
		const struct cvl_scope *scope = v->scope;
		v->scope = NULL;
		rc = cvl_conv_load(v, &next, &p);
		v->scope = scope;
		if (rc == CONVLOG_ENOTFOUND)
			return cvl_err(CONVLOG_ECORRUPT,
				       "conversation %s: parent %s of a fork does not exist",
				       cvl_uuid_str(&c->id, s), cvl_uuid_str(&next, s2));
		if (rc)
			return rc;
		ch->c[ch->n].id = p->id;
		ch->c[ch->n].fork_seq = convlog_uuid_is_nil(&p->parent_id) ? 0 : p->fork_seq;
		next = p->parent_id;
		ch->n++;
		convlog_conv_free(p);
		p = NULL;
	}
	return 0;
}

const convlog_uuid *cvl_chain_owner(const cvl_chain *ch, uint32_t seq)
{
	for (int i = 0; i < ch->n; i++)
		if (seq > ch->c[i].fork_seq)
			return &ch->c[i].id;
	return &ch->c[ch->n - 1].id;
}

/* The highest seq of ch->c[i]'s own messages visible from ch->c[0]. */
uint32_t cvl_chain_limit(const cvl_chain *ch, int i)
{
	uint32_t lim = UINT32_MAX;

	for (int k = 0; k < i; k++)
		if (ch->c[k].fork_seq < lim)
			lim = ch->c[k].fork_seq;
	return lim;
}
