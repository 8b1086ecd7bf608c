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
