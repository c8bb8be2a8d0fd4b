/*
 * foreign.h - conversion of other products' chat exports into the convlog
 * JSONL objects that 'convlog import' applies (convlog(1), JSONL FORMAT).
 *
 * The importer parses one source conversation at a time (an element of
 * the top-level array of a ChatGPT or Claude.ai conversations.json, or one
 * line of an OpenAI chat-completions JSONL file) and hands it here.  The
 * converter checks it and returns the conversation line and its message
 * lines, which then go through the same strict parser and the same
 * per-conversation transaction as the convlog format, so a conversion is
 * atomic and importing the same export twice changes nothing.
 *
 * Nothing from the source is dropped: a source field with a convlog field
 * of its own is mapped to it; everything else is kept in the conversation's
 * or message's metadata (documented in convlog(1), IMPORT FORMATS).
 */
#ifndef CONVLOG_TOOL_FOREIGN_H
#define CONVLOG_TOOL_FOREIGN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum foreign_format {
	FOREIGN_AUTO = 0,
	FOREIGN_CONVLOG,  /* convlog JSONL: not converted, handled by the importer */
	FOREIGN_CHATGPT,  /* ChatGPT conversations.json: array of conversations */
	FOREIGN_CLAUDE,   /* Claude.ai conversations.json: array of conversations */
	FOREIGN_OPENAI    /* JSONL, one {"messages": [...]} per line */
} foreign_format;

/* "convlog", "chatgpt", "claude", "openai" (and "auto"). */
const char *foreign_name(foreign_format f);

/* Parses a --format value; returns 0, or -1 when unknown. */
int foreign_parse_name(const char *s, foreign_format *out);

/*
 * Guesses the format of one parsed source item: `first` is the first
 * element of a top-level array (`in_array` = 1) or the first JSONL line
 * (`in_array` = 0).  Returns FOREIGN_AUTO when it cannot tell.
 */
foreign_format foreign_detect(const json_t *first, int in_array);

/*
 * Converts one source conversation `src` of format `fmt` (CHATGPT, CLAUDE
 * or OPENAI).  `index` is its 0-based position in the file (array element
 * or line) and `raw`/`raw_len` its exact source bytes (used to derive
 * stable ids where the source has none).  `now_ms` is the time used where
 * the source has no time at all (OpenAI).
 *
 * On success returns 0 and sets *out to a new JSON array (caller decrefs):
 * element 0 is a "conversation" object and the rest are "message" objects
 * in seq order (1, 2, ...), every one valid input for jsonl_conv_parse() /
 * jsonl_msg_parse().  On bad input returns -1 with a message in err that
 * names the position inside the conversation (for example
 * "mapping node \"abc\": parent \"xyz\" is not in the mapping") and does
 * not name the conversation itself (the importer prefixes that).
 */
int foreign_convert(foreign_format fmt, const json_t *src, long index, const char *raw,
		    size_t raw_len, int64_t now_ms, json_t **out, char *err, size_t errlen);

/*
 * A name for a source conversation in error messages, before or after a
 * failed conversion: its id (and title when it has one), e.g.
 * "6650a3b1-... (\"Trip to Lisbon\")".  Writes into out; never fails.
 */
void foreign_describe(foreign_format fmt, const json_t *src, char *out, size_t n);

#endif
