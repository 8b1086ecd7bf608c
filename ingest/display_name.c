/*
 * Display name validation: the character-class test for Nhost's displayName pattern ^[\p{L}\p{N}\p{S} ,.'-]+$ with
 * maxLength 32 (code points). The category ranges come from the generated
 * unicode_table.c; this file owns the decoding, the five ASCII extras and the
 * length rule. Only whole code points count: a combining mark (category M*)
 * or a zero-width joiner (Cf) is rejected, as Nhost's regular expression does.
 */
#include "display_name.h"

#include "utf8.h"

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
		size_t used = utf8_decode(s + off, len - off, &cp);

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
