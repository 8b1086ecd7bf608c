/*
 * options.displayName validation (docs/api.md §1.2 row 9): valid UTF-8, 1 to 32 code
 * points, each one a letter, number or symbol by Unicode general category or
 * one of " ,.'-" -- Nhost's ^[\p{L}\p{N}\p{S} ,.'-]+$ with maxLength 32.
 * Also the small strict UTF-8 decoder it is built on, for other checks that
 * count characters rather than bytes (e.g. locale length, row 10).
 */
#ifndef OTPFLOW_DISPLAY_NAME_H
#define OTPFLOW_DISPLAY_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most code points a display name may have (Nhost's maxLength). */
#define DISPLAY_NAME_MAX_CHARS 32

/*
 * Whether the len bytes at s are an acceptable display name. s need not be
 * NUL-terminated; a NUL byte inside it makes the name invalid. s may be NULL
 * only when len is 0 (which is invalid: a name has at least one character).
 */
bool display_name_valid(const char *s, size_t len);

/*
 * Whether the single code point cp may appear in a display name.
 */
bool display_name_char_allowed(uint32_t cp);

/*
 * Decode one UTF-8 sequence from the len bytes at s into *cp. Returns the
 * number of bytes used (1-4), or 0 if s does not start with a complete,
 * well-formed sequence (overlong forms, surrogates, values above U+10FFFF,
 * stray continuation bytes and truncation are all rejected; U+0000 is
 * decoded like any other code point). s and cp must not be NULL when len > 0.
 */
size_t display_name_utf8_decode(const char *s, size_t len, uint32_t *cp);

/*
 * Count the code points in the len bytes at s into *count. Returns false if
 * the bytes are not well-formed UTF-8 (then *count is unspecified). s may be
 * NULL only when len is 0; count must not be NULL.
 */
bool display_name_utf8_length(const char *s, size_t len, size_t *count);

/*
 * The generated category table (ingest/unicode_table.c, written by
 * scripts/gen-unicode-table.py): sorted, non-overlapping, non-adjacent,
 * inclusive ranges of the code points in general categories L*, N* and S*.
 */
struct display_name_range {
	uint32_t lo;
	uint32_t hi;
};

extern const struct display_name_range display_name_ranges[];
extern const size_t display_name_ranges_count;
/* Unicode version the table was generated from, e.g. "14.0.0". */
extern const char display_name_unicode_version[];

#endif
