/* Strict UTF-8 decoding and safe copies (see utf8.h). */
#include "utf8.h"

#include <string.h>

size_t utf8_decode(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c, min;
	size_t n;

	if (len == 0)
		return 0;
	c = u[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) { /* 0xC0, 0xC1: overlong only */
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) { /* above 0xF4: > U+10FFFF */
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, 0xC0/0xC1 or 0xF5-0xFF */
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (u[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

bool utf8_count(const char *s, size_t len, size_t *count)
{
	size_t off = 0, n = 0;
	uint32_t cp;

	while (off < len) {
		size_t used = utf8_decode(s + off, len - off, &cp);

		if (used == 0)
			return false;
		off += used;
		n++;
	}
	*count = n;
	return true;
}

size_t utf8_copy(char *dst, size_t size, const char *src, size_t len)
{
	size_t in = 0, out = 0;
	uint32_t cp;

	while (in < len) {
		size_t used = utf8_decode(src + in, len - in, &cp);

		if (used == 0 || cp == 0) { /* one bad byte -> '?' */
			if (out + 1 >= size)
				break;
			dst[out++] = '?';
			in++;
			continue;
		}
		if (out + used >= size)
			break;
		memcpy(dst + out, src + in, used);
		out += used;
		in += used;
	}
	dst[out] = '\0';
	return out;
}
