/* Backoff arithmetic and header codecs (see retry.h). */
#include "retry.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DAY_MS (24LL * 3600 * 1000)

int64_t retry_backoff_ms(const struct retry_policy *p, int attempts, double rnd,
			 int64_t retry_after_ms)
{
	int64_t base = p->initial_ms;
	int64_t delay;

	for (int i = 1; i < attempts && base < p->max_ms; i++)
		base *= 2;
	if (base > p->max_ms)
		base = p->max_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	delay = base / 2 + (int64_t)((double)(base - base / 2) * rnd);
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	return delay;
}

int retry_too_late(const struct retry_policy *p, int64_t now_ms,
		   int64_t expires_at_ms)
{
	return now_ms > expires_at_ms - p->expiry_margin_ms;
}

enum retry_verdict retry_decide(const struct retry_policy *p, int attempts,
				int64_t now_ms, int64_t delay_ms,
				int64_t expires_at_ms, int64_t *next_ms)
{
	if (attempts >= p->max_attempts)
		return RETRY_EXHAUSTED;
	if (retry_too_late(p, now_ms + delay_ms, expires_at_ms))
		return RETRY_EXPIRED;
	*next_ms = now_ms + delay_ms;
	return RETRY_AGAIN;
}

int64_t retry_after_parse(const char *value, int64_t now_ms)
{
	struct tm tm;
	const char *end;
	int64_t ms;

	if (!value)
		return 0;
	while (*value == ' ')
		value++;
	if (*value >= '0' && *value <= '9') {
		long long secs = 0;

		for (; *value >= '0' && *value <= '9'; value++)
			if (secs < DAY_MS)
				secs = secs * 10 + (*value - '0');
		while (*value == ' ')
			value++;
		if (*value)
			return 0;
		ms = secs * 1000;
		return ms > DAY_MS ? DAY_MS : ms;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return 0;
	ms = (int64_t)timegm(&tm) * 1000 - now_ms;
	if (ms < 0)
		return 0;
	return ms > DAY_MS ? DAY_MS : ms;
}

size_t retry_hdr_int32(int32_t v, unsigned char out[4])
{
	uint32_t u = (uint32_t)v;

	for (int i = 0; i < 4; i++)
		out[i] = (unsigned char)(u >> (24 - 8 * i));
	return 4;
}

size_t retry_hdr_int64(int64_t v, unsigned char out[8])
{
	uint64_t u = (uint64_t)v;

	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(u >> (56 - 8 * i));
	return 8;
}

size_t retry_hdr_bigint(int64_t v, unsigned char out[8])
{
	unsigned char full[8];
	size_t skip = 0;

	retry_hdr_int64(v, full);
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

int retry_hdr_parse_attempts(const void *v, size_t len)
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

int64_t retry_hdr_parse_timestamp(const void *v, size_t len)
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
