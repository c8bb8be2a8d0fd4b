/* Message trees (threads, children, tip) and forks (fork, replay). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "engine/msgiter.h"
#include "log/record.h"
#include "model/conv.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/uuid.h"

/* A snapshot and the conversation it shows, with its fork chain. */
typedef struct treectx {
	cvl_view v;
	convlog_conv *c;
	cvl_chain ch;
} treectx;

/* *db: the handle as given in, the store handle out. */
static int tree_open(convlog_db **db, const convlog_uuid *conv, treectx *t)
{
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	t->c = NULL;
	if ((rc = cvl_db_view(db, &t->v)))
		return rc;
	rc = cvl_conv_load(&t->v, conv, &t->c);
	if (rc == CONVLOG_ENOTFOUND)
		rc = cvl_err(rc, "conversation %s does not exist", cvl_uuid_str(conv, s));
	if (!rc)
		rc = cvl_chain_load(&t->v, t->c, &t->ch);
	if (rc) {
		convlog_conv_free(t->c);
		cvl_view_release(&t->v);
	}
	return rc;
}

/* parent_seq of message seq in the tree's seq space. */
static int parent_of(treectx *t, uint32_t seq, const convlog_uuid **owner, uint32_t *parent)
{
	uint8_t k[20];
	const uint8_t *val;
	size_t vl;
	cvl_msg_sum sum;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	*owner = cvl_chain_owner(&t->ch, seq);
	rc = cvl_view_get(&t->v, CVL_T_MSG, k, cvl_key_msg(k, *owner, seq), &val, &vl);
	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s is missing", seq,
			       cvl_uuid_str(*owner, s));
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(val, vl, seq, &sum) || sum.parent_seq >= seq)
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: bad summary", seq,
			       cvl_uuid_str(*owner, s));
	*parent = sum.parent_seq;
	return 0;
}

CONVLOG_API int convlog_msg_thread(convlog_db *db, const convlog_uuid *conv, uint32_t seq,
				   convlog_msg_iter **out)
{
	treectx t;
	cvl_msg_ref *refs = NULL;
	size_t n = 0, cap = 0;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	cvl_err_clear();
	if (!conv || !out)
		return cvl_err(CONVLOG_EINVAL, "msg_thread: NULL argument");
	*out = NULL;
	if ((rc = tree_open(&db, conv, &t)))
		return rc;
	if (seq == 0)
		seq = t.c->tip_seq;
	if (seq > t.c->message_count) {
		rc = cvl_err(CONVLOG_ENOTFOUND, "message %u of conversation %s does not exist", seq,
			     cvl_uuid_str(conv, s));
		goto fail;
	}
	/* walk up to the root: one summary lookup per message */
	while (seq) {
		const convlog_uuid *owner;
		uint32_t parent;
		if ((rc = parent_of(&t, seq, &owner, &parent)))
			goto fail;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			cvl_msg_ref *nr = cvl_realloc(refs, cap * sizeof(*nr));
			if (!nr) {
				rc = cvl_err(CONVLOG_ENOMEM, "out of memory walking a thread");
				goto fail;
			}
			refs = nr;
		}
		refs[n].conv = *owner;
		refs[n++].seq = seq;
		seq = parent;
	}
	for (size_t i = 0; i < n / 2; i++) {
		cvl_msg_ref tmp = refs[i];
		refs[i] = refs[n - 1 - i];
		refs[n - 1 - i] = tmp;
	}
	convlog_conv_free(t.c);
	return cvl_msg_iter_list(db, &t.v, refs, n, out);
fail:
	cvl_free(refs);
	convlog_conv_free(t.c);
	cvl_view_release(&t.v);
	return rc;
}

static int cmp_ref(const void *a, const void *b)
{
	uint32_t x = ((const cvl_msg_ref *)a)->seq, y = ((const cvl_msg_ref *)b)->seq;

	return x < y ? -1 : x > y;
}

/* Appends the children of `seq` stored under chain member i. */
static int children_of(treectx *t, int i, uint32_t seq, cvl_msg_ref **refs, size_t *n,
		       size_t *cap)
{
	const convlog_uuid *id = &t->ch.c[i].id;
	uint32_t lim = cvl_chain_limit(&t->ch, i);
	uint8_t k[24];
	cvl_vcur cur;
	int rc = cvl_vcur_open(&t->v, CVL_T_MSG_CHILDREN, &cur);

	if (rc)
		return rc;
	for (rc = cvl_vcur_seek(&cur, k, cvl_key_child(k, id, seq, 0)); rc == 0;
	     rc = cvl_vcur_next(&cur)) {
		if (cur.klen != 24 || memcmp(cur.key, k, 20) != 0)
			break;
		uint32_t child = cvl_get_u32be(cur.key + 20);
		if (child > lim)
			break;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			cvl_msg_ref *nr = cvl_realloc(*refs, *cap * sizeof(*nr));
			if (!nr) {
				rc = cvl_err(CONVLOG_ENOMEM, "out of memory listing children");
				break;
			}
			*refs = nr;
		}
		(*refs)[*n].conv = *id;
		(*refs)[(*n)++].seq = child;
	}
	cvl_vcur_close(&cur);
	return rc == CONVLOG_DONE ? 0 : rc;
}

CONVLOG_API int convlog_msg_children(convlog_db *db, const convlog_uuid *conv, uint32_t seq,
				     convlog_msg_iter **out)
{
	treectx t;
	cvl_msg_ref *refs = NULL;
	size_t n = 0, cap = 0;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	cvl_err_clear();
	if (!conv || !out)
		return cvl_err(CONVLOG_EINVAL, "msg_children: NULL argument");
	*out = NULL;
	if ((rc = tree_open(&db, conv, &t)))
		return rc;
	if (seq > t.c->message_count) {
		rc = cvl_err(CONVLOG_ENOTFOUND, "message %u of conversation %s does not exist", seq,
			     cvl_uuid_str(conv, s));
		goto fail;
	}
	for (int i = 0; i < t.ch.n && !rc; i++)
		rc = children_of(&t, i, seq, &refs, &n, &cap);
	if (rc)
		goto fail;
	if (n > 1)
		qsort(refs, n, sizeof(*refs), cmp_ref);
	convlog_conv_free(t.c);
	return cvl_msg_iter_list(db, &t.v, refs, n, out);
fail:
	cvl_free(refs);
	convlog_conv_free(t.c);
	cvl_view_release(&t.v);
	return rc;
}

CONVLOG_API int convlog_conv_set_tip(convlog_db *db, convlog_txn *txn, const convlog_uuid *conv,
				     uint32_t seq)
{
	convlog_conv f;

	cvl_err_clear();
	if (!conv)
		return cvl_err(CONVLOG_EINVAL, "conv_set_tip: NULL argument");
	convlog_conv_init(&f);
	f.tip_seq = seq;
	if (seq == 0)
		return cvl_err(CONVLOG_EINVAL, "conv_set_tip: seq 0 names no message");
	return convlog_conv_patch(db, txn, conv, &f, CONVLOG_CONV_TIP_SEQ);
}

#define FORK_FIELDS                                                                       \
	(CONVLOG_CONV_ORG_ID | CONVLOG_CONV_USER_ID | CONVLOG_CONV_DEVICE_ID |              \
	 CONVLOG_CONV_SESSION_ID | CONVLOG_CONV_INITIATOR_ROLE | CONVLOG_CONV_RESPONDER_ROLE | \
	 CONVLOG_CONV_TITLE | CONVLOG_CONV_TOPIC | CONVLOG_CONV_SYSTEM_PROMPT |              \
	 CONVLOG_CONV_TAGS | CONVLOG_CONV_METADATA)

/* The new conversation: the parent's descriptive fields, then overrides. */
static void fork_fields(convlog_conv *n, const convlog_conv *p, const convlog_conv *o,
			uint64_t mask)
{
	convlog_conv_init(n);
#define F(bit, field) n->field = (mask & (bit)) ? o->field : p->field
	F(CONVLOG_CONV_ORG_ID, org_id);
	F(CONVLOG_CONV_USER_ID, user_id);
	F(CONVLOG_CONV_DEVICE_ID, device_id);
	F(CONVLOG_CONV_SESSION_ID, session_id);
	F(CONVLOG_CONV_INITIATOR_ROLE, initiator_role);
	F(CONVLOG_CONV_RESPONDER_ROLE, responder_role);
	F(CONVLOG_CONV_TITLE, title);
	F(CONVLOG_CONV_TOPIC, topic);
	F(CONVLOG_CONV_SYSTEM_PROMPT, system_prompt);
	F(CONVLOG_CONV_METADATA, metadata);
#undef F
	n->tags = (mask & CONVLOG_CONV_TAGS) ? o->tags : p->tags;
	n->n_tags = (mask & CONVLOG_CONV_TAGS) ? o->n_tags : p->n_tags;
}

static int fork_in(convlog_db *db, convlog_txn *t, const convlog_uuid *conv, uint32_t fork_seq,
		   const convlog_conv *o, uint64_t mask, convlog_uuid *out_id)
{
	cvl_cstate *ps;
	convlog_conv n;
	char s[CONVLOG_UUID_STRLEN];
	int rc = cvl_actx_conv(&t->a, conv, &ps);

	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(rc, "conversation %s does not exist", cvl_uuid_str(conv, s));
	if (rc)
		return rc;
	if (mask & ~(uint64_t)FORK_FIELDS)
		return cvl_err(CONVLOG_EINVAL, "conv_fork: only descriptive fields can be overridden");
	if (mask && !o)
		return cvl_err(CONVLOG_EINVAL, "conv_fork: overrides are NULL with a non-zero mask");
	fork_fields(&n, ps->cur, o, mask);
	n.parent_id = *conv;
	n.fork_seq = fork_seq;
	return convlog_conv_create(db, t, &n, out_id);
}

CONVLOG_API int convlog_conv_fork(convlog_db *db, convlog_txn *txn, const convlog_uuid *conv,
				  uint32_t fork_seq, const convlog_conv *overrides, uint64_t mask,
				  convlog_uuid *out_id)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!conv)
		return cvl_err(CONVLOG_EINVAL, "conv_fork: NULL argument");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, fork_in(db, t, conv, fork_seq, overrides, mask, out_id));
}

/* The user turns of the active thread of `conv`, as an iterator. */
static int user_turns(convlog_db *db, const convlog_uuid *conv, convlog_msg_iter **out)
{
	treectx t;
	cvl_msg_ref *refs = NULL;
	size_t n = 0, cap = 0;
	uint32_t seq;
	int rc;

	if ((rc = tree_open(&db, conv, &t)))
		return rc;
	for (seq = t.c->tip_seq; seq && !rc;) {
		const convlog_uuid *owner;
		uint32_t parent;
		const uint8_t *val;
		size_t vl;
		uint8_t k[20];
		cvl_msg_sum sum;
		if ((rc = parent_of(&t, seq, &owner, &parent)) ||
		    (rc = cvl_view_get(&t.v, CVL_T_MSG, k, cvl_key_msg(k, owner, seq), &val, &vl)))
			break;
		cvl_msg_sum_decode(val, vl, seq, &sum);
		if (sum.role_len == 4 && memcmp(sum.role, "user", 4) == 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				cvl_msg_ref *nr = cvl_realloc(refs, cap * sizeof(*nr));
				if (!nr) {
					rc = cvl_err(CONVLOG_ENOMEM, "out of memory for a replay");
					break;
				}
				refs = nr;
			}
			refs[n].conv = *owner;
			refs[n++].seq = seq;
		}
		seq = parent;
	}
	convlog_conv_free(t.c);
	if (rc) {
		cvl_free(refs);
		cvl_view_release(&t.v);
		return rc;
	}
	for (size_t i = 0; i < n / 2; i++) {
		cvl_msg_ref tmp = refs[i];
		refs[i] = refs[n - 1 - i];
		refs[n - 1 - i] = tmp;
	}
	return cvl_msg_iter_list(db, &t.v, refs, n, out);
}

CONVLOG_API int convlog_conv_replay(convlog_db *db, convlog_txn *txn, const convlog_uuid *conv,
				    const char *system_prompt, convlog_uuid *out_id,
				    convlog_msg_iter **turns)
{
	convlog_conv o;
	convlog_uuid id;
	int rc;

	cvl_err_clear();
	if (!conv || !turns)
		return cvl_err(CONVLOG_EINVAL, "conv_replay: NULL argument");
	*turns = NULL;
	convlog_conv_init(&o);
	o.system_prompt = system_prompt;
	rc = convlog_conv_fork(db, txn, conv, 0, &o, system_prompt ? CONVLOG_CONV_SYSTEM_PROMPT : 0,
			       &id);
	if (rc)
		return rc;
	if (out_id)
		*out_id = id;
	/* the parent is committed state; its thread is read from a snapshot */
	return user_turns(db, conv, turns);
}
