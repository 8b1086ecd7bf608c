/*
 * Display name validation: a strict UTF-8 decoder and the character-class
 * test for Nhost's displayName pattern ^[\p{L}\p{N}\p{S} ,.'-]+$ with
 * maxLength 32 (code points). The category ranges come from the generated
 * unicode_table.c; this file owns the decoding, the five ASCII extras and the
 * length rule. Only whole code points count: a combining mark (category M*)
 * or a zero-width joiner (Cf) is rejected, as Nhost's regular expression does.
 */
#include "display_name.h"

size_t display_name_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c, min;
	size_t n, i;

	if (len == 0)
		return 0;
	c = u[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 &&
		   c <= 0xDF) { /* 0xC0, 0xC1 only start overlongs */
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) { /* above 0xF4 exceeds U+10FFFF */
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, 0xC0/0xC1 or 0xF5-0xFF */
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (u[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

bool display_name_utf8_length(const char *s, size_t len, size_t *count)
{
	size_t off = 0, n = 0;

	while (off < len) {
		uint32_t cp;
		size_t used = display_name_utf8_decode(s + off, len - off, &cp);

		if (used == 0)
			return false;
		off += used;
		n++;
	}
	*count = n;
	return true;
}

bool display_name_char_allowed(uint32_t cp)
{
	size_t lo = 0, hi = display_name_ranges_count;

	switch (cp) {
	case ' ':
	case ',':
	case '.':
	case '\'':
	case '-':
		return true;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < display_name_ranges[mid].lo)
			hi = mid;
		else if (cp > display_name_ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool display_name_valid(const char *s, size_t len)
{
	size_t off = 0, chars = 0;

	if (len == 0 || !s)
		return false;
	while (off < len) {
		uint32_t cp;
		size_t used = display_name_utf8_decode(s + off, len - off, &cp);

		if (used == 0 || cp == 0)
			return false;
		if (++chars > DISPLAY_NAME_MAX_CHARS)
			return false;
		if (!display_name_char_allowed(cp))
			return false;
		off += used;
	}
	return true;
}
