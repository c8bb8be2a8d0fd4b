/*
 * usage.h - the usage analytics report of 'convlog stats --by': an aligned
 * table or one JSON object per group (documented in convlog(1)).
 */
#ifndef CONVLOG_TOOL_USAGE_H
#define CONVLOG_TOOL_USAGE_H

#include "convlog.h"

/* CONVLOG_GROUP_* of a --by name ("role", ...); -1 when unknown. */
int usage_group_parse(const char *name);

/* Runs `q` on `db` and prints the report.  Returns TOOL_OK or TOOL_FAIL. */
int usage_report(convlog_db *db, const convlog_usage_query *q, int json);

#endif
