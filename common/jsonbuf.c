/*
 * Fixed-buffer JSON builder. Strings are escaped per RFC 8259; control
 * characters become \u00XX and bytes that are not valid UTF-8 become U+FFFD,
 * so whatever a caller passes, the output is valid JSON.
 */
#include "jsonbuf.h"

#include <stdio.h>
#include <string.h>

void jsonbuf_init(struct jsonbuf *jb, char *buf, size_t cap)
{
	jb->buf = buf;
	jb->len = 0;
	jb->cap = cap;
	jb->overflow = false;
}

static void put(struct jsonbuf *jb, const char *p, size_t n)
{
	if (jb->overflow || n > jb->cap - jb->len) {
		jb->overflow = true;
		return;
	}
	memcpy(jb->buf + jb->len, p, n);
	jb->len += n;
}

void jsonbuf_raw(struct jsonbuf *jb, const char *text)
{
	put(jb, text, strlen(text));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

void jsonbuf_strn(struct jsonbuf *jb, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	put(jb, "\"", 1);
	while (i < n && !jb->overflow) {
		size_t run = i;

		/* Copy the longest run that needs no escaping at once. */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 &&
		       p[run] != '"' && p[run] != '\\')
			run++;
		put(jb, s + i, run - i);
		i = run;
		if (i >= n)
			break;
		if (p[i] == '"' || p[i] == '\\') {
			char esc[2] = { '\\', (char)p[i] };
			put(jb, esc, 2);
			i++;
		} else if (p[i] < 0x20) {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			put(jb, esc, 6);
			i++;
		} else {
			size_t len = utf8_seq_len(p + i, n - i);
			if (len) {
				put(jb, s + i, len);
				i += len;
			} else {
				put(jb, "\xEF\xBF\xBD", 3);
				i++;
			}
		}
	}
	put(jb, "\"", 1);
}

void jsonbuf_str(struct jsonbuf *jb, const char *s)
{
	jsonbuf_strn(jb, s, strlen(s));
}

void jsonbuf_int(struct jsonbuf *jb, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);
	put(jb, num, (size_t)n);
}
