/*
 * options.displayName validation (docs/api.md §1.2 row 6): valid UTF-8, 1 to 32 code
 * points, each one a letter, number or symbol by Unicode general category or
 * one of " ,.'-" -- Nhost's ^[\p{L}\p{N}\p{S} ,.'-]+$ with maxLength 32.
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
