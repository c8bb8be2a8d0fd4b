/* Compression dictionaries of cold segments: one file each next to the
 * segments, `segments/dict-XXXXXXXX.zdict` (format-spec.md §3.4). */
#ifndef CVL_LOG_DICT_H
#define CVL_LOG_DICT_H

#include <stddef.h>
#include <stdint.h>

#define CVL_DICT_HEADER 32
#define CVL_DICT_MAX (1u << 20)

void cvl_dict_path(char *buf, size_t n, const char *dir, uint32_t id);
/* 0 and *id if `name` is a dictionary file name, else -1. */
int cvl_dict_parse_name(const char *name, uint32_t *id);
/* Writes dictionary `id` (zstd dictionary bytes whose own dictionary id is
 * `id`) durably: temporary file, fdatasync, rename, directory fsync. */
int cvl_dict_write(const char *dir, uint32_t id, const void *dict, size_t len);
/* Reads and checks dictionary `id`; *out is cvl_malloc'ed.
 * CONVLOG_ENOTFOUND if there is no such file, CONVLOG_ECORRUPT if damaged. */
int cvl_dict_read(const char *dir, uint32_t id, uint8_t **out, size_t *len);

#endif
