/*
 * text.h - the human-readable forms shared by several subcommands: the
 * conversation header and message blocks of show, thread and children,
 * and the conversation table of ls and session (documented in convlog(1)).
 */
#ifndef CONVLOG_TOOL_TEXT_H
#define CONVLOG_TOOL_TEXT_H

#include <stdint.h>

#include "convlog.h"

/* "conversation ID" then one indented line per field that is set. */
void text_conv_header(const convlog_conv *c);

/*
 * One message block: a blank line, "[seq] role (name) time" with the usage
 * details, then the content indented by four spaces.  A message whose
 * conv_id is not `self` (one a fork inherits) is marked "(from ID)".
 */
void text_msg(const convlog_msg *m, const convlog_uuid *self);

/*
 * Writes every message of `it` to stdout as text_msg() blocks or, with
 * `json`, as JSONL message lines (the format of export).  Reports
 * errors for `cmd`.  *count (optional) receives the number written.
 * Returns TOOL_OK or TOOL_FAIL.
 */
int text_msgs(const char *cmd, convlog_msg_iter *it, const convlog_uuid *self, int json,
	      uint64_t *count);

/* Columns of the conversation table: the time column shows last activity,
 * or created_at when `created` is set. */
void text_table_header(int created);
void text_table_row(const convlog_conv *c, int created);

#endif
