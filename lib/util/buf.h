/* Growable byte buffer with a hard cap. */
#ifndef CVL_UTIL_BUF_H
#define CVL_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cvl_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max; /* 0 = SIZE_MAX */
} cvl_buf;

void cvl_buf_init(cvl_buf *b, size_t max);
void cvl_buf_free(cvl_buf *b);
static inline void cvl_buf_reset(cvl_buf *b) { b->len = 0; }

/* Makes room for `extra` more bytes. CONVLOG_ENOMEM or CONVLOG_ETOOBIG. */
int cvl_buf_reserve(cvl_buf *b, size_t extra);
int cvl_buf_append(cvl_buf *b, const void *p, size_t n);
int cvl_buf_put_u8(cvl_buf *b, uint8_t v);
int cvl_buf_put_varint(cvl_buf *b, uint64_t v);
int cvl_buf_put_u32le(cvl_buf *b, uint32_t v);
int cvl_buf_put_u64le(cvl_buf *b, uint64_t v);

/* Takes ownership of the bytes; `b` becomes empty. */
uint8_t *cvl_buf_detach(cvl_buf *b, size_t *len);

#endif
