/* Conversation encoding (TLV), decoding into one packed allocation, and
 * validation of caller input. */
#ifndef CVL_MODEL_CONV_H
#define CVL_MODEL_CONV_H

#include "convlog.h"
#include "model/check.h"
#include "util/buf.h"

enum {
	CF_ID = 1, CF_EXTERNAL_ID = 2, CF_ORG = 3, CF_USER = 4, CF_DEVICE = 5,
	CF_SESSION = 6, CF_IROLE = 7, CF_RROLE = 8, CF_TITLE = 9, CF_TOPIC = 10,
	CF_SYSPROMPT = 11, CF_STATUS = 12, CF_PREV_STATUS = 13, CF_TAG = 14,
	CF_RATING = 15, CF_PARENT = 16, CF_FORK_SEQ = 17, CF_DEPTH = 18, CF_TIP = 19,
	CF_CURSOR = 20, CF_METADATA = 21, CF_CREATED = 22, CF_UPDATED = 23,
	CF_ACTIVITY = 24, CF_ARCHIVED = 25, CF_DELETED = 26, CF_MSG_COUNT = 27,
	CF_TOKENS = 28, CF_COST = 29, CF_LAST_MSG = 30,
	CF_MASK = 60, /* patch records: CONVLOG_CONV_* bits */
	CF_AT = 61,   /* patch/status records: time of the change */
	CF_STAMPS = 62, /* conv_merge records (format 4): unit stamps */
	CF_BORN = 63    /* conv_merge records (format 4): creation stamp */
};

/* Field groups for cvl_conv_encode. */
#define CVL_CG_STATIC 1 /* descriptive fields, status, archived/deleted times */
#define CVL_CG_HOT 2    /* tip_seq, updated_at, last_activity_at */
#define CVL_CG_AGG 4    /* message_count, token_total, cost_total, last_message_at */

int cvl_conv_encode(const convlog_conv *c, unsigned groups, cvl_buf *out);

/* Encodes only the fields selected by `mask` (CONVLOG_CONV_*); absent
 * values are omitted, which a patch reads as "clear". */
int cvl_conv_encode_fields(const convlog_conv *c, uint64_t mask, cvl_buf *out);

/* Decodes TLV bytes into a new packed conversation (convlog_conv_free).
 * Fields not present keep convlog_conv_init() defaults.  Returns 0,
 * CONVLOG_ENOMEM, or -1 with *why for malformed input. */
int cvl_conv_decode(const uint8_t *p, size_t n, convlog_conv **out, const char **why);

/* Decodes number-only TLV (cstat values) over an existing struct.
 * -1 with *why on malformed input or string fields. */
int cvl_conv_overlay(convlog_conv *c, const uint8_t *p, size_t n, const char **why);

/* Reads the mask and time of a patch record body. */
int cvl_conv_patch_meta(const uint8_t *p, size_t n, uint64_t *mask, int64_t *at);

/*
 * Validates the fields of `in` selected by `mask` and writes into *out a
 * shallow copy whose metadata is canonical JSON and whose tags and cursors
 * are sorted and de-duplicated (allocations kept in `pr`).  `who` names
 * the conversation in messages.
 */
int cvl_conv_prepare(const char *who, const convlog_conv *in, uint64_t mask,
		     convlog_conv *out, cvl_prep *pr);

/* Lifecycle: 0 if old -> new is allowed by convlog.h's diagram (deleted
 * and restore are handled by their own calls), else CONVLOG_ETRANSITION. */
int cvl_status_transition_ok(int old_status, int new_status);

int cvl_status_valid(int s);

#endif
