#include "convlog.h"
#include "log/record.h"
#include "util/codec.h"

int cvl_record_encode(cvl_buf *out, uint8_t type, uint64_t lsn, uint64_t hlc,
		      uint64_t origin, const uint8_t *body, size_t body_len)
{
	uint8_t fixed[CVL_REC_FIXED];
	int rc;

	fixed[0] = type;
	fixed[1] = 0;
	cvl_put_u64le(fixed + 2, lsn);
	cvl_put_u64le(fixed + 10, hlc);
	cvl_put_u64le(fixed + 18, origin);
	rc = cvl_buf_put_varint(out, CVL_REC_FIXED + (uint64_t)body_len);
	if (rc)
		return rc;
	rc = cvl_buf_append(out, fixed, sizeof(fixed));
	if (rc)
		return rc;
	return cvl_buf_append(out, body, body_len);
}

static int known_type(uint8_t t)
{
	return (t >= CVL_REC_CONV_PUT && t <= CVL_REC_SYNC_PEER) || cvl_record_msg_keyed(t);
}

int cvl_record_decode(const uint8_t **pp, const uint8_t *end, cvl_record *out,
		      const char **why)
{
	const uint8_t *p = *pp;
	uint64_t len;

	if (cvl_varint_get(&p, end, &len) != 0) {
		*why = "record length is not a valid varint";
		return -1;
	}
	if (len < CVL_REC_FIXED || len > (uint64_t)(end - p)) {
		*why = "record length runs past the frame";
		return -1;
	}
	out->type = p[0];
	if (!known_type(out->type)) {
		*why = "unknown record type";
		return -1;
	}
	if (p[1] != 0) {
		*why = "record flags are not zero";
		return -1;
	}
	out->lsn = cvl_get_u64le(p + 2);
	out->hlc = cvl_get_u64le(p + 10);
	out->origin = cvl_get_u64le(p + 18);
	out->body = p + CVL_REC_FIXED;
	out->body_len = (size_t)len - CVL_REC_FIXED;
	*pp = p + len;
	return 0;
}

const char *cvl_record_type_name(uint8_t type)
{
	switch (type) {
	case CVL_REC_CONV_PUT: return "conv_put";
	case CVL_REC_CONV_PATCH: return "conv_patch";
	case CVL_REC_CONV_STATUS: return "conv_status";
	case CVL_REC_MSG_APPEND: return "msg_append";
	case CVL_REC_MSG_SUPERSEDE: return "msg_supersede";
	case CVL_REC_CONV_PURGE: return "conv_purge";
	case CVL_REC_CONV_DETACH: return "conv_detach";
	case CVL_REC_MSG_ADOPT: return "msg_adopt";
	case CVL_REC_CONV_MERGE: return "conv_merge";
	case CVL_REC_SYNC_PEER: return "sync_peer";
	case CVL_REC_MSG_DROP: return "msg_drop";
	default: return "unknown";
	}
}
