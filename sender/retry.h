/*
 * Retry policy (docs/api.md §4): exponential backoff with jitter, honouring the
 * provider's Retry-After, bounded by the attempt budget and by the code's
 * expiry. Pure functions: the caller passes time and randomness. (The
 * retry headers' encodings are in common/headers.h.)
 */
#ifndef OTPFLOW_SENDER_RETRY_H
#define OTPFLOW_SENDER_RETRY_H

#include <stddef.h>
#include <stdint.h>

struct retry_policy {
	int max_attempts; /* provider attempts in all, >= 1 */
	int64_t initial_ms; /* delay after the first failed attempt */
	int64_t max_ms; /* cap of the exponential part */
	int64_t expiry_margin_ms;
};

enum retry_verdict { RETRY_AGAIN, RETRY_EXHAUSTED, RETRY_EXPIRED };

/*
 * Delay after `attempts` failed attempts (>= 1): initial * 2^(attempts-1)
 * capped at max, then "equal jitter" (half fixed, half uniform: rnd in
 * [0,1)), then at least retry_after_ms (the provider's Retry-After, 0 if
 * none; it may exceed max).
 */
int64_t retry_backoff_ms(const struct retry_policy *p, int attempts, double rnd,
			 int64_t retry_after_ms);

/*
 * What happens after a transient failure at now_ms, `attempts` attempts
 * done: RETRY_EXHAUSTED when the budget is spent, RETRY_EXPIRED when the
 * next attempt (now + delay) would be later than expires_at - margin, else
 * RETRY_AGAIN with *next_ms set.
 */
enum retry_verdict retry_decide(const struct retry_policy *p, int attempts,
				int64_t now_ms, int64_t delay_ms,
				int64_t expires_at_ms, int64_t *next_ms);

/* True when an attempt at now_ms is too late for a code expiring then. */
int retry_too_late(const struct retry_policy *p, int64_t now_ms,
		   int64_t expires_at_ms);

/*
 * Parses a Retry-After value (delta seconds or an HTTP-date) into
 * milliseconds from now_ms; 0 when absent or unparsable, capped at one day.
 */
int64_t retry_after_parse(const char *value, int64_t now_ms);

#endif
