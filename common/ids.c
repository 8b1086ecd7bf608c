/* UUIDs and trace context from getrandom(2). */
#include "ids.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static const char hexdig[] = "0123456789abcdef";

bool ids_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0)
			return false; /* EINTR is impossible for <= 256 bytes */
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
}

void ids_uuid_v4(char out[IDS_UUID_SIZE])
{
	unsigned char b[16];
	char h[32];

	ids_random(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	hex(b, sizeof(b), h);
	snprintf(out, IDS_UUID_SIZE, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8,
		 h + 12, h + 16, h + 20);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(hexdig, s[i]) || !s[i])
			return false;
	return true;
}

bool ids_uuid_valid(const char *s)
{
	static const size_t dashes[] = { 8, 13, 18, 23 };

	if (!s || strlen(s) != 36)
		return false;
	for (size_t i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dashes[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex(s + i, 1)) {
			return false;
		}
	}
	return true;
}

/* 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, ids not all zero */
static bool traceparent_valid(const char *s)
{
	if (!s || strlen(s) != 55 || strncmp(s, "00-", 3) != 0 ||
	    s[35] != '-' || s[52] != '-' || !is_hex(s + 3, 32) ||
	    !is_hex(s + 36, 16) || !is_hex(s + 53, 2))
		return false;
	return strspn(s + 3, "0") < 32 && strspn(s + 36, "0") < 16;
}

void ids_traceparent_child(const char *parent, char out[IDS_TRACEPARENT_SIZE])
{
	unsigned char span[8], trace[16];
	char span_hex[16], trace_hex[32];

	ids_random(span, sizeof(span));
	span[0] |= 1; /* never all zero */
	hex(span, sizeof(span), span_hex);
	if (traceparent_valid(parent)) {
		snprintf(out, IDS_TRACEPARENT_SIZE, "00-%.32s-%.16s-%.2s",
			 parent + 3, span_hex, parent + 53);
		return;
	}
	ids_random(trace, sizeof(trace));
	trace[0] |= 1;
	hex(trace, sizeof(trace), trace_hex);
	snprintf(out, IDS_TRACEPARENT_SIZE, "00-%.32s-%.16s-01", trace_hex,
		 span_hex);
}
