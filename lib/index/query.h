/*
 * Search query language (format-spec.md §10.4):
 *
 *   query   := or
 *   or      := and ( "OR" and )*
 *   and     := unary ( ["AND"] unary )*        -- juxtaposition is AND
 *   unary   := ("NOT" | "-") unary | primary
 *   primary := "(" or ")" | PHRASE | FILTER | PREFIX | TERM
 *   PHRASE  := '"' text '"'                    -- exact phrase
 *   PREFIX  := word '*'                        -- prefix*
 *   FILTER  := name ':' value                   -- role: user: conv: session:
 *                                                  tag: model: after: before:
 *   value   := word | '"' text '"'
 *
 * Operators are case-sensitive upper-case words (AND, OR, NOT); anything
 * else is a term.  after:/before: take a date "YYYY-MM-DD" (UTC midnight)
 * or an RFC 3339 time; after: is inclusive, before: exclusive.  A query
 * must contain at least one positive text clause (filters alone, or only
 * negated clauses, are an error).
 *
 * Details:
 *  - The query is bytes.  ASCII whitespace separates; ( ) and " are
 *    syntax; '-' is syntax at the start of a word ("a-b" is one word).
 *    Every other byte, including all of UTF-8 >= 0x80, is a word byte; the
 *    parser does not validate UTF-8.
 *  - AND/OR/NOT are operators only as whole words ("ANDROID", "and" and
 *    "AND*" are text).  '-' must touch its operand: "-a", "-(a b)",
 *    '-"a b"'; "- a" is an error.  NOT and '-' may negate anything,
 *    filters included ("-role:system").
 *  - A phrase is every byte up to the next '"' (no escapes, so a phrase
 *    cannot contain '"'); an empty or all-whitespace phrase is an error.
 *  - A word ending in '*' is a PREFIX; a '*' anywhere else in a word, or
 *    alone, is an error.
 *  - A word containing ':' is a FILTER: the part before the first ':' must
 *    be one of the names above (lower case), else it is an error ("unknown
 *    filter 'http' at 4"): text containing ':' is searched by quoting it.
 *    The value is the rest of the word, taken verbatim (':' and '*' are
 *    plain bytes there), or a non-empty quoted string right after the ':'.
 *  - after:/before: accept YYYY-MM-DD, or YYYY-MM-DD(T|t|space)HH:MM:SS
 *    [.fraction](Z|z|+HH:MM|-HH:MM), years 0000-9999; fraction digits past
 *    milliseconds are truncated; second 60 (a leap second) counts as the
 *    next second.
 *  - The clause that drives the search must be positive text: the root
 *    must be a TERM, PHRASE or PREFIX, an AND with at least one such
 *    driving child, or an OR whose every side drives.  So "a OR -b" and
 *    "a OR role:x" are errors, while "(a OR -b) c" and
 *    "c (role:user OR role:assistant)" are valid (c drives, the OR narrows
 *    its results).  "NOT NOT a" does not drive.
 *  - Trees are normalised: a group of one clause is that clause, and AND
 *    inside AND (OR inside OR) is flattened into one n-ary node.
 *  - Each '(' and each NOT/'-' opens one nesting level.
 */
#ifndef CVL_INDEX_QUERY_H
#define CVL_INDEX_QUERY_H

#include <stddef.h>
#include <stdint.h>

enum cvl_qkind {
	CVL_Q_TERM,   /* text: a raw word, analyzed at search time */
	CVL_Q_PHRASE, /* text: the raw phrase text */
	CVL_Q_PREFIX, /* text: the raw prefix without '*' */
	CVL_Q_AND,
	CVL_Q_OR,
	CVL_Q_NOT,    /* one child */
	CVL_Q_FILTER  /* filter + text, the value as written; after/before
	                 also set time */
};

enum cvl_qfilter {
	CVL_F_ROLE = 1, CVL_F_USER, CVL_F_CONV, CVL_F_SESSION, CVL_F_TAG, CVL_F_MODEL,
	CVL_F_AFTER, CVL_F_BEFORE,
	CVL_F_SCOPE /* not in the language: a scoped handle's conversations */
};

typedef struct cvl_qnode {
	int kind;                  /* enum cvl_qkind */
	int filter;                /* enum cvl_qfilter for CVL_Q_FILTER */
	char *text;                /* NUL-terminated, owned by the tree; NULL for
	                              AND/OR/NOT */
	int64_t time;              /* after:/before: in ms since the epoch */
	struct cvl_qnode **kids;   /* AND/OR: two or more; NOT: one */
	size_t nkids;
	uint32_t at;               /* byte offset in the query, for messages: a word's
	                              first byte, a phrase's opening quote, a
	                              filter's name, a NOT's operator, an AND/OR's
	                              first operand (its '(' if parenthesised) */
} cvl_qnode;

/*
 * Parses `q` (UTF-8, NUL-terminated) into a tree (cvl_query_free).
 * On a syntax error returns CONVLOG_EINVAL with convlog_errmsg() naming
 * the problem and its byte position ("unbalanced '(' at 12", "unknown
 * filter 'color' at 5", "expected a date after 'after:' at 20", "empty
 * query"), and *err_at set to that position.  Also rejects queries over
 * 4096 bytes or nested deeper than 64 (CONVLOG_ETOOBIG), and returns
 * CONVLOG_ENOMEM if an allocation fails.  On any error *out is NULL and
 * nothing is leaked; err_at may be NULL.  Thread-safe (the message is the
 * calling thread's).
 */
int cvl_query_parse(const char *q, cvl_qnode **out, uint32_t *err_at);
void cvl_query_free(cvl_qnode *n);

#endif
