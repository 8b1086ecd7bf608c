/*
 * Per-client-IP rate limits for ingest (docs/api.md §1.4), counted the way Nhost
 * Auth counts them (services/auth/go/middleware/ratelimit/sliding_window.go):
 * a sliding-window estimate over two fixed windows aligned on multiples of
 * the interval since the epoch. A request at elapsed time e into window w is
 * refused when count(w) >= burst, or when
 *
 *	floor(min(count(w-1), burst) * (interval - e) / interval)
 *		+ count(w) >= burst
 *
 * Refused requests are not counted. Rules are checked in order and the first
 * refusal stops counting: rules before it have counted the request, rules
 * after it have not (Nhost's middleware chain does the same).
 *
 * The module owns a fixed table of at most max_clients clients, allocated at
 * creation and never grown: when it is full, the least recently seen client
 * of the shard is forgotten (its counters start again from zero).
 */
#ifndef OTPFLOW_RATELIMIT_H
#define OTPFLOW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#define RATELIMIT_MAX_RULES 8
/* Longest burst and interval accepted (keeps the arithmetic in 64 bits). */
#define RATELIMIT_MAX_BURST (1u << 30)
#define RATELIMIT_MAX_INTERVAL_MS (1LL << 32)
#define RATELIMIT_MAX_CLIENTS (1u << 24)
/* Client keys are compared on at most this many bytes (an IPv6 address in
 * text, INET6_ADDRSTRLEN - 1); longer keys are limited by their prefix. */
#define RATELIMIT_KEY_MAX 45

struct ratelimit_rule {
	unsigned burst; /* requests allowed per interval; 0 refuses
				  * everything, as Nhost does with a 0 limit */
	long long interval_ms; /* window length, >= 1 */
};

struct ratelimit;

/*
 * Creates a limiter applying rules[0..nrules) in that order to every check.
 * The rules are copied. All memory for max_clients clients is allocated
 * here (64 + 16 * nrules bytes each, plus 4 to 8 of hash buckets). Returns
 * NULL when out of memory or when an argument is outside the limits above
 * (1..MAX_RULES rules, burst <= MAX_BURST, 1 <= interval_ms <=
 * MAX_INTERVAL_MS, 1 <= max_clients <= MAX_CLIENTS; callers validate
 * configuration first).
 * Free with ratelimit_free().
 */
struct ratelimit *ratelimit_new(const struct ratelimit_rule *rules,
				size_t nrules, size_t max_clients);

/* Frees a limiter; NULL is allowed. No check may be running. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Counts one request of client (a NUL-terminated key, normally an IP address
 * in text, e.g. "2001:db8::1"; NULL counts as "") against every rule at
 * now_ms, read from one millisecond clock for the limiter's whole life
 * (Nhost aligns windows on the Unix epoch; a monotonic clock only shifts
 * where windows start). A time older than one another thread already used
 * counts as the start of that newer window.
 *
 * Returns true if the request is allowed (*retry_after_s set to 0), false if
 * a rule refuses it, with *retry_after_s set to the seconds (>= 1, rounded
 * up) until every rule, as it stands, would allow it: the longest of the
 * refusing rules' waits (Nhost sends no Retry-After; this is otpflow's).
 * retry_after_s may be NULL. Thread-safe: clients are spread over
 * independently locked shards.
 */
bool ratelimit_check(struct ratelimit *rl, const char *client, long long now_ms,
		     unsigned *retry_after_s);

/*
 * ratelimit_check against only the rules whose bit (1u << index) is set in
 * rules, in order; the others neither count nor refuse. Nhost applies a
 * different set per route (every route: global; SMS routes: SMS; sign-ups:
 * sign-ups; sign-ins: brute force), all on one client's counters.
 */
bool ratelimit_check_rules(struct ratelimit *rl, const char *client,
			   unsigned rules, long long now_ms,
			   unsigned *retry_after_s);

/* Number of clients currently held (<= max_clients). Thread-safe. */
size_t ratelimit_clients(const struct ratelimit *rl);

/* Bytes allocated by the limiter, fixed at creation (for tests and docs). */
size_t ratelimit_memory(const struct ratelimit *rl);

#endif
