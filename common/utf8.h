/*
 * UTF-8, strictly: the one decoder every check and every text built from
 * outside input goes through. Well-formed means what RFC 3629 says: no
 * overlong forms, no surrogates, nothing above U+10FFFF, no truncation.
 */
#ifndef OTPFLOW_UTF8_H
#define OTPFLOW_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes one sequence from the len bytes at s into *cp. Returns the bytes
 * used (1-4), or 0 if s does not start with a complete, well-formed
 * sequence (U+0000 decodes like any other code point). s and cp must not
 * be NULL when len > 0.
 */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp);

/*
 * Counts the code points of the len bytes at s into *count; false if they
 * are not well-formed UTF-8. s may be NULL only when len is 0.
 */
bool utf8_count(const char *s, size_t len, size_t *count);

/*
 * Copies outside text (len bytes at src, any bytes) into dst, which holds
 * size bytes with the NUL, so that the result is always well-formed UTF-8
 * without NUL bytes: a byte that does not start a well-formed sequence, or
 * a NUL, becomes '?', and the text is cut on a character boundary when it
 * does not fit. Returns the bytes written (without the NUL). size >= 1.
 */
size_t utf8_copy(char *dst, size_t size, const char *src, size_t len);

#endif
