/*
 * Fixed-buffer JSON builder. Strings are escaped per RFC 8259; control
 * characters become \u00XX and bytes that are not valid UTF-8 become U+FFFD,
 * so whatever a caller passes, the output is valid JSON.
 */
#include "jsonbuf.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

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
			uint32_t cp;
			size_t len = utf8_decode(s + i, n - i, &cp);

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
