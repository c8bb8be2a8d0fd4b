/* LMDB key encodings (format-spec.md §7.3). */
#ifndef CVL_META_KEYS_H
#define CVL_META_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "convlog.h"

#define CVL_KEY_TEXT_INLINE 200 /* longer text is replaced by its hash */
#define CVL_KEY_MAX 256

/* Text component: u8 length + bytes, or 0xFF + XXH3-128 of the bytes. */
size_t cvl_key_text(uint8_t *out, const char *s, size_t n);

/* conv + seq (msg table). */
size_t cvl_key_msg(uint8_t *out, const convlog_uuid *conv, uint32_t seq);

/* Descending-time component. */
void cvl_key_desc_time(uint8_t *out, int64_t ms);
int64_t cvl_key_get_desc_time(const uint8_t *p);

/* One index entry of a conversation. */
typedef struct cvl_ikey {
	uint8_t table;
	uint8_t len;
	uint8_t k[CVL_KEY_MAX];
} cvl_ikey;

typedef struct cvl_ikeys {
	cvl_ikey *v;
	size_t n, cap;
} cvl_ikeys;

void cvl_ikeys_free(cvl_ikeys *ks);

/* Every secondary-index key of conversation `c` (NULL: none). */
int cvl_conv_index_keys(const convlog_conv *c, cvl_ikeys *out);

/* msg_children key: conv + parent seq + child seq (all big-endian). */
size_t cvl_key_child(uint8_t *out, const convlog_uuid *conv, uint32_t parent, uint32_t seq);

#endif
