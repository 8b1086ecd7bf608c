/*
 * Scrubbing outside text (see scrub.h). Numbers are found on the digits
 * alone: each run of digits and separators becomes a digit string (with
 * the position of each digit), in which the destination's digits are
 * searched, longest form first.
 */
#include "scrub.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define E164_MIN_DIGITS 7
#define E164_MAX_DIGITS 15
#define NATIONAL_MIN_DIGITS 7
#define COUNTRY_MAX_DIGITS 3

void scrub_code(char *s, const char *code)
{
	char *p;

	if (!code || !code[0])
		return;
	while ((p = strstr(s, code)) != NULL)
		memset(p, '*', strlen(code));
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Characters that may stand between the digits of one written number. */
static bool is_separator(char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
	       c == '/' || c == '+' || c == '%';
}

/* The digits of e164 into out; their count, 0 if it is not E.164. */
static size_t e164_digits(const char *e164, char out[E164_MAX_DIGITS + 1])
{
	size_t n = 0;

	if (!e164 || e164[0] != '+')
		return 0;
	for (const char *p = e164 + 1; *p; p++) {
		if (!is_digit(*p) || n == E164_MAX_DIGITS)
			return 0;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n >= E164_MIN_DIGITS ? n : 0;
}

/* Masks every occurrence of pattern (k digits) in the run's digits. */
static void mask_run(char *s, char *digits, const size_t *pos, size_t n,
		     const char *pattern, size_t k)
{
	for (size_t i = 0; i + k <= n; i++) {
		if (memcmp(digits + i, pattern, k) != 0)
			continue;
		for (size_t j = i; j < i + k; j++) {
			s[pos[j]] = '*';
			digits[j] = '*';
		}
		i += k - 1;
	}
}

/* One run of digits (and separators) of s: its digits and their places. */
static void scrub_run(char *s, char *digits, const size_t *pos, size_t n,
		      const char *e, size_t elen)
{
	size_t shortest = elen - COUNTRY_MAX_DIGITS;

	if (shortest < NATIONAL_MIN_DIGITS)
		shortest = NATIONAL_MIN_DIGITS;
	/* The full number first, then without 1..3 country code digits. */
	for (size_t k = elen; k >= shortest && k <= elen; k--)
		mask_run(s, digits, pos, n, e + (elen - k), k);
}

void scrub_number(char *s, const char *e164)
{
	char e[E164_MAX_DIGITS + 1];
	size_t elen = e164_digits(e164, e), len = strlen(s), n = 0;
	size_t *pos;
	char *digits;

	if (!elen || len < NATIONAL_MIN_DIGITS)
		return;
	pos = malloc(len * sizeof(*pos));
	digits = malloc(len);
	if (!pos || !digits) {
		/* Never leak it: without memory, mask every digit. */
		for (char *p = s; *p; p++)
			if (is_digit(*p))
				*p = '*';
		goto out;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && is_digit(s[i])) {
			pos[n] = i;
			digits[n++] = s[i];
		} else if (i == len || !is_separator(s[i])) {
			scrub_run(s, digits, pos, n, e, elen);
			n = 0;
		}
	}
out:
	free(pos);
	free(digits);
}

size_t scrub_text(char *dst, size_t size, const char *src, size_t len,
		  const char *code, const char *e164)
{
	size_t n = utf8_copy(dst, size, src ? src : "", src ? len : 0);

	scrub_code(dst, code);
	scrub_number(dst, e164);
	return n;
}
