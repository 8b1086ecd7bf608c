/*
 * Phone numbers: normalisation to E.164, the country-prefix allow list and
 * log masking (docs/api.md §1.3). The normalised number is the identity of a
 * number everywhere downstream (Kafka key, per-number limits, SMS
 * destination), so normalisation is strict and total: it accepts exactly the forms
 * docs/api.md §1.3 lists and rejects everything else rather than guessing.
 */
#include "phone.h"

#include <string.h>

/* Characters people use to group digits; they carry no meaning. */
static bool phone_is_separator(char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

static bool phone_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool phone_normalise(const char *in, size_t in_len, char *out, size_t out_size)
{
	/*
	 * Digits as written, before the "00" rewrite: room for "00" plus the
	 * longest number, and one more so an over-long input is detected.
	 */
	char digits[2 + PHONE_MAX_DIGITS + 1];
	size_t ndigits = 0;
	bool plus = false;
	size_t i, skip = 0;

	if (out_size > 0)
		out[0] = '\0';
	if (!out || (!in && in_len > 0))
		return false;

	for (i = 0; i < in_len; i++) {
		char c = in[i];

		if (phone_is_separator(c))
			continue;
		if (c == '+') {
			/* Only as the first significant character, once. */
			if (plus || ndigits > 0)
				return false;
			plus = true;
			continue;
		}
		if (!phone_is_digit(c))
			return false; /* letters, NUL, other punctuation */
		if (ndigits == sizeof(digits))
			return false; /* too long whatever the prefix */
		digits[ndigits++] = c;
	}

	if (!plus) {
		/* International prefix "00" stands for '+'; nothing else does. */
		if (ndigits < 2 || digits[0] != '0' || digits[1] != '0')
			return false;
		skip = 2;
	}
	ndigits -= skip;
	if (ndigits < PHONE_MIN_DIGITS || ndigits > PHONE_MAX_DIGITS)
		return false;
	if (digits[skip] == '0')
		return false; /* country codes start with 1-9 */
	if (out_size < 1 + ndigits + 1)
		return false;

	out[0] = '+';
	memcpy(out + 1, digits + skip, ndigits);
	out[1 + ndigits] = '\0';
	return true;
}

bool phone_has_allowed_prefix(const char *e164, const char *prefix_list)
{
	const char *p = prefix_list;
	bool any = false;

	if (!prefix_list)
		return true;

	while (*p) {
		const char *start, *end;

		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		if (*p == ',')
			p++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == start)
			continue; /* blank item, e.g. a trailing comma */
		any = true;
		/* Prefixes are compared on the digits after the '+'. */
		if (*start == '+')
			start++;
		if (e164[0] == '+' &&
		    strncmp(e164 + 1, start, (size_t)(end - start)) == 0)
			return true;
	}
	return !any;
}

/* A valid normalised number: '+', 8-15 digits, the first 1-9. */
static bool phone_is_e164(const char *s, size_t len)
{
	size_t i;

	if (len < 1 + PHONE_MIN_DIGITS || len > 1 + PHONE_MAX_DIGITS)
		return false;
	if (s[0] != '+' || s[1] < '1' || s[1] > '9')
		return false;
	for (i = 2; i < len; i++)
		if (!phone_is_digit(s[i]))
			return false;
	return true;
}

void phone_mask(const char *e164, char *out, size_t out_size)
{
	const size_t keep_head = 5, keep_tail = 2;
	size_t len, i, n;
	bool valid;

	if (out_size == 0)
		return;
	if (!e164) {
		out[0] = '\0';
		return;
	}

	len = strlen(e164);
	valid = phone_is_e164(e164, len);
	n = len < out_size - 1 ? len : out_size - 1;
	for (i = 0; i < n; i++) {
		bool show = valid && (i < keep_head || i >= len - keep_tail);

		out[i] = show ? e164[i] : '*';
	}
	out[n] = '\0';
}
