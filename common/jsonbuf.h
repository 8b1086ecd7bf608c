/*
 * A JSON text builder over a caller-owned fixed buffer: appends raw text and
 * escaped strings, never allocates, and records overflow instead of writing
 * past the cap. Used where jansson's allocations are not wanted (log lines,
 * error bodies on the request path).
 */
#ifndef OTPFLOW_JSONBUF_H
#define OTPFLOW_JSONBUF_H

#include <stdbool.h>
#include <stddef.h>

struct jsonbuf {
	char *buf; /* caller-owned, cap bytes */
	size_t len; /* bytes written so far (no NUL is kept) */
	size_t cap;
	bool overflow; /* an append did not fit; len stops growing */
};

void jsonbuf_init(struct jsonbuf *jb, char *buf, size_t cap);

/* Appends text verbatim. */
void jsonbuf_raw(struct jsonbuf *jb, const char *text);

/* Appends a quoted JSON string of a NUL-terminated string. */
void jsonbuf_str(struct jsonbuf *jb, const char *s);

/* As jsonbuf_str for n bytes; invalid UTF-8 bytes are written as U+FFFD. */
void jsonbuf_strn(struct jsonbuf *jb, const char *s, size_t n);

/* Appends a decimal integer. */
void jsonbuf_int(struct jsonbuf *jb, long long v);

#endif
