/*
 * Text analysis for the full-text index: turns UTF-8 text into normalised
 * terms with positions (format-spec.md §10).  The same analyzer runs on
 * message content at indexing time and on query terms at search time.
 *
 *  - Normalisation: NFKC, case folding, diacritics removed (utf8proc),
 *    with an ASCII fast path.
 *  - Word boundaries by Unicode category: letters and numbers (L*, N*,
 *    and Co) form words; everything else separates.  '_' and '.' inside an
 *    identifier separate its parts too (see below).
 *  - CJK (Han, Hiragana, Katakana, Hangul) runs are indexed as overlapping
 *    bigrams ("東京都" -> "東京", "京都"); a run of one character is a
 *    unigram.
 *  - Identifiers: a run of word characters joined by '_' or '.', or with
 *    camelCase humps ("getUserEmails", "get_user.emails", "HTTPServer"),
 *    yields its parts with consecutive positions (get, user, emails) AND
 *    the whole identifier, folded, at the position of its first part
 *    (getuseremails for camelCase; get_user.emails keeps its separators).
 *  - Optional Snowball stemming (libstemmer) of alphabetic words, chosen
 *    per store; a word whose stem differs also yields its unstemmed form
 *    (whole = 2) so prefix queries match the words as written.
 *  - Terms longer than CVL_TERM_MAX bytes are cut at a character boundary.
 */
#ifndef CVL_INDEX_ANALYZE_H
#define CVL_INDEX_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#define CVL_TERM_MAX 64
#define CVL_ANALYZER_VERSION 1 /* meta/text_analyzer: bump when terms change */

typedef struct cvl_token {
	const char *text; /* normalised term, not NUL-terminated; valid during the callback */
	uint32_t len;
	uint32_t pos;     /* 0-based position; parts of an identifier are consecutive,
	                     the whole identifier shares its first part's position */
	uint32_t start;   /* byte range of the source text it came from */
	uint32_t end;
	int whole;        /* 0: a word or identifier part; 1: the extra
	                     whole-identifier token; 2: with stemming, the
	                     word as written (folded, unstemmed) beside its
	                     stem, at the same position, for prefix queries */
} cvl_token;

typedef struct cvl_analyzer cvl_analyzer;

/* `stem_lang`: NULL or "" for no stemming, else a libstemmer language name
 * ("english", "french", ...).  CONVLOG_EINVAL for an unknown language. */
int cvl_analyzer_new(const char *stem_lang, cvl_analyzer **out);
void cvl_analyzer_free(cvl_analyzer *a);

/* Calls emit for each token in order; a non-zero return from emit stops
 * the walk and is returned.  The text must be valid UTF-8 (checked at
 * append); invalid bytes are treated as separators.  Not thread-safe: one
 * analyzer per thread. */
typedef int (*cvl_emit_fn)(void *ud, const cvl_token *t);
int cvl_analyze(cvl_analyzer *a, const char *text, size_t len, cvl_emit_fn emit, void *ud);

/* Normalises a query prefix ("prog" of prog*): folding only, no stemming,
 * no splitting.  Writes at most cap bytes to out; returns the length, or 0
 * if nothing indexable remains. */
size_t cvl_analyze_prefix(cvl_analyzer *a, const char *text, size_t len, char *out, size_t cap);

#endif
