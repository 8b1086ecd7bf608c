/*
 * Text from outside (a provider's answer, curl's error text) made safe to
 * log and to publish (docs/api.md §2.2): valid UTF-8 cut on a character
 * boundary, so building an event from it cannot fail; the plaintext code
 * removed wherever a provider echoes it; the destination number masked in
 * whatever common writing the provider uses (+14155550123, 14155550123,
 * (415) 555-0123, 415.555.0123, 0044 7700 900123, 07700 900123, %2B1415...).
 */
#ifndef OTPFLOW_SCRUB_H
#define OTPFLOW_SCRUB_H

#include <stddef.h>

/* Replaces every occurrence of code ("" or NULL: none) in s with '*'. */
void scrub_code(char *s, const char *code);

/*
 * Replaces with '*' every digit of s that belongs to the destination
 * number e164 ("+" and 7-15 digits; anything else: nothing happens), in
 * full or as its national part (the last digits, without a country code
 * of 1-3 digits), written with or without spaces, dashes, dots, slashes
 * or brackets between the digits and inside longer runs of digits.
 */
void scrub_number(char *s, const char *e164);

/*
 * Copies outside text (len bytes at src, any bytes) into dst (size >= 1
 * bytes with the NUL) as valid UTF-8 cut on a character boundary, then
 * scrubs the code and the number (either may be NULL). Returns the bytes
 * written. Never fails.
 */
size_t scrub_text(char *dst, size_t size, const char *src, size_t len,
		  const char *code, const char *e164);

#endif
