/* Kafka header names, readers and Spring encodings (see headers.h). */
#include "headers.h"

#include <stdio.h>
#include <string.h>

const void *hdr_get(const rd_kafka_message_t *rkm, const char *name,
		    size_t *len)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *v = NULL;

	*len = 0;
	if (rd_kafka_message_headers(rkm, &hdrs) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_header_get_last(hdrs, name, &v, len) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
		*len = 0;
		return NULL;
	}
	return v;
}

bool hdr_str(const rd_kafka_message_t *rkm, const char *name, char *out,
	     size_t size)
{
	size_t len;
	const char *v = hdr_get(rkm, name, &len);

	out[0] = '\0';
	if (!v || len >= size || memchr(v, '\0', len))
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}

int64_t hdr_ms(const rd_kafka_message_t *rkm, const char *name)
{
	size_t len;
	const unsigned char *v = hdr_get(rkm, name, &len);
	int64_t n = 0;

	if (!v || len == 0 || len > 18)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

void hdr_add_str(rd_kafka_headers_t *hdrs, const char *name, const char *value)
{
	rd_kafka_header_add(hdrs, name, -1, value, -1);
}

void hdr_add_ms(rd_kafka_headers_t *hdrs, const char *name, int64_t n)
{
	char text[24];

	snprintf(text, sizeof(text), "%lld", (long long)n);
	rd_kafka_header_add(hdrs, name, -1, text, -1);
}

size_t hdr_int32(int32_t v, unsigned char out[4])
{
	uint32_t u = (uint32_t)v;

	for (int i = 0; i < 4; i++)
		out[i] = (unsigned char)(u >> (24 - 8 * i));
	return 4;
}

size_t hdr_int64(int64_t v, unsigned char out[8])
{
	uint64_t u = (uint64_t)v;

	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(u >> (56 - 8 * i));
	return 8;
}

size_t hdr_bigint(int64_t v, unsigned char out[8])
{
	unsigned char full[8];
	size_t skip = 0;

	hdr_int64(v, full);
	/* Minimal two's complement: drop redundant sign bytes. */
	while (skip < 7 && ((full[skip] == 0x00 && !(full[skip + 1] & 0x80)) ||
			    (full[skip] == 0xff && (full[skip + 1] & 0x80))))
		skip++;
	memcpy(out, full + skip, 8 - skip);
	return 8 - skip;
}

static int all_digits(const unsigned char *p, size_t len)
{
	if (!len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

int hdr_parse_attempts(const void *v, size_t len)
{
	const unsigned char *p = v;

	if (!p)
		return -1;
	if (len == 4)
		return (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			     (uint32_t)p[2] << 8 | p[3]);
	if (len == 1 && p[0] < '0')
		return p[0];
	if (all_digits(p, len) && len <= 9) {
		int n = 0;

		for (size_t i = 0; i < len; i++)
			n = n * 10 + (p[i] - '0');
		return n;
	}
	return -1;
}

int64_t hdr_parse_timestamp(const void *v, size_t len)
{
	const unsigned char *p = v;
	int64_t n = 0;

	if (!p || !len)
		return -1;
	if (len >= 10 && len <= 18 && all_digits(p, len)) {
		for (size_t i = 0; i < len; i++)
			n = n * 10 + (p[i] - '0');
		return n;
	}
	if (len > 8)
		return -1;
	n = (p[0] & 0x80) ? -1 : 0;
	for (size_t i = 0; i < len; i++)
		n = (int64_t)((uint64_t)n << 8 | p[i]);
	return n < 0 ? -1 : n;
}
