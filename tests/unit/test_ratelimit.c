/*
 * Unit tests for ingest/ratelimit: Nhost's sliding-window arithmetic (burst,
 * Retry-After, the previous window's weight), rule order, per-client
 * independence, the bounded LRU table, and exact counts under threads.
 */
#include "ratelimit.h"

#include "check.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>

#define MINUTE 60000LL
#define HOUR (60 * MINUTE)
/* A window start far from 0, as real clocks are (epoch-aligned windows). */
#define T0 (480000LL * HOUR)

static struct ratelimit *new_one(unsigned burst, long long interval,
				 size_t max_clients)
{
	struct ratelimit_rule rule = { burst, interval };
	struct ratelimit *rl = ratelimit_new(&rule, 1, max_clients);

	CHECK(rl != NULL);
	return rl;
}

static unsigned count_allowed(struct ratelimit *rl, const char *ip,
			      long long now, unsigned n)
{
	unsigned allowed = 0;

	for (unsigned i = 0; i < n; i++)
		allowed += ratelimit_check(rl, ip, now, NULL);
	return allowed;
}

static void test_invalid(void)
{
	struct ratelimit_rule nul = { 1, 0 },
			      big = { RATELIMIT_MAX_BURST + 1, 1 },
			      ok[RATELIMIT_MAX_RULES + 1] = { { 1, 1 } };

	CHECK(!ratelimit_new(&nul, 1, 10));
	CHECK(!ratelimit_new(&big, 1, 10));
	CHECK(!ratelimit_new(ok, 0, 10));
	CHECK(!ratelimit_new(ok, 1, 0));
	CHECK(!ratelimit_new(ok, 1, RATELIMIT_MAX_CLIENTS + 1));
	CHECK(!ratelimit_new(ok, RATELIMIT_MAX_RULES + 1, 10));
	CHECK(!ratelimit_new(NULL, 1, 10));
	ratelimit_free(NULL);
}

/* A burst of 0 refuses everything, as a 0 limit does in Nhost. */
static void test_zero_burst(void)
{
	struct ratelimit *rl = new_one(0, MINUTE, 10);
	unsigned ra = 0;

	if (!rl)
		return;
	CHECK(!ratelimit_check(rl, "192.0.2.1", T0 + 1000, &ra));
	CHECK_INT(ra, 60);
	CHECK(!ratelimit_check(rl, "192.0.2.1", T0 + 5 * MINUTE, &ra));
	ratelimit_free(rl);
}

static void test_burst_and_retry_after(void)
{
	struct ratelimit *rl = new_one(10, MINUTE, 100);
	long long t = T0 + 1000; /* 1 s into a window */
	unsigned ra = 12345;

	CHECK(rl != NULL);
	if (!rl)
		return;
	for (int i = 0; i < 10; i++) {
		CHECK(ratelimit_check(rl, "192.0.2.1", t + i, &ra));
		CHECK_INT(ra, 0);
	}
	/* The 11th within the window is refused until the next window:
	 * 59 s of this one (less the 9 ms used) plus 1 ms, rounded up. */
	CHECK(!ratelimit_check(rl, "192.0.2.1", t + 10, &ra));
	CHECK_INT(ra, 59);
	/* Refused requests are not counted, and do not extend the wait. */
	CHECK(!ratelimit_check(rl, "192.0.2.1", t + 30000, &ra));
	CHECK_INT(ra, 30);
	CHECK(!ratelimit_check(rl, "192.0.2.1", T0 + MINUTE - 1, &ra));
	CHECK_INT(ra, 1);
	/* At the next window's first millisecond the previous one still
	 * weighs a full burst; from the second, one request fits. */
	CHECK(!ratelimit_check(rl, "192.0.2.1", T0 + MINUTE, &ra));
	CHECK_INT(ra, 1);
	CHECK(ratelimit_check(rl, "192.0.2.1", T0 + MINUTE + 1, &ra));
	/* A full interval after the burst everything is allowed again. */
	CHECK_INT(count_allowed(rl, "192.0.2.1", T0 + 2 * MINUTE + 1000, 10),
		  10);
	CHECK(!ratelimit_check(rl, "192.0.2.1", T0 + 2 * MINUTE + 1000, &ra));
	ratelimit_free(rl);
}

static void test_sliding(void)
{
	struct ratelimit *rl = new_one(10, MINUTE, 100);
	unsigned ra = 0;

	if (!rl)
		return;
	CHECK_INT(count_allowed(rl, "192.0.2.7", T0 + 5000, 10), 10);
	/* Half-way through the next window the previous one counts for half:
	 * floor(10 * 30/60) = 5, so 5 more fit and the 6th is refused. */
	CHECK_INT(count_allowed(rl, "192.0.2.7", T0 + MINUTE + 30000, 10), 5);
	CHECK(!ratelimit_check(rl, "192.0.2.7", T0 + MINUTE + 30000, &ra));
	/* 1 ms later floor(10 * 29.999/60) = 4: one more is allowed. */
	CHECK_INT(ra, 1);
	CHECK(ratelimit_check(rl, "192.0.2.7", T0 + MINUTE + 30001, &ra));
	/* Now 6 counted: next when floor(10 * (60 - e)/60) < 4, e > 36 s. */
	CHECK(!ratelimit_check(rl, "192.0.2.7", T0 + MINUTE + 30001, &ra));
	CHECK_INT(ra, 6);
	CHECK(!ratelimit_check(rl, "192.0.2.7", T0 + MINUTE + 36000, &ra));
	CHECK(ratelimit_check(rl, "192.0.2.7", T0 + MINUTE + 36001, &ra));
	/* Half-way through the window after, only the 7 of the last one
	 * weigh: floor(7 * 30/60) = 3, so 7 fit. */
	CHECK_INT(count_allowed(rl, "192.0.2.7", T0 + 2 * MINUTE + 30000, 10),
		  7);
	/* A window with nothing before it starts from zero. */
	CHECK_INT(count_allowed(rl, "192.0.2.7", T0 + 4 * MINUTE, 10), 10);
	ratelimit_free(rl);
}

/* Nhost's three limits on POST /signup/passwordless/sms, in its order. */
static void test_sms_defaults(void)
{
	struct ratelimit_rule rules[] = {
		{ 100, MINUTE }, /* global */
		{ 10, HOUR }, /* sms */
		{ 10, 5 * MINUTE }, /* signups */
	};
	struct ratelimit *rl = ratelimit_new(rules, 3, 1000);
	long long t = T0 + 1000;
	unsigned ra = 0;

	CHECK(rl != NULL);
	if (!rl)
		return;
	CHECK_INT(count_allowed(rl, "2001:db8::1", t, 10), 10);
	/* SMS and signups refuse the 11th; the longer wait is reported. */
	CHECK(!ratelimit_check(rl, "2001:db8::1", t, &ra));
	CHECK_INT(ra, 3600);
	/* After the signups window, the hour of SMS still holds. */
	CHECK(!ratelimit_check(rl, "2001:db8::1", t + 10 * MINUTE, &ra));
	CHECK_INT(ra, 3600 - 600);
	ratelimit_free(rl);
}

/* Rules after a refusing one do not count the request (SMS burst is met
 * exactly even though the global rule refused many requests meanwhile). */
static void test_later_rules_not_counted(void)
{
	struct ratelimit_rule rules[] = { { 3, MINUTE }, { 10, HOUR } };
	struct ratelimit *rl = ratelimit_new(rules, 2, 10);
	unsigned ra = 0, allowed = 0;

	if (!rl)
		return;
	for (int m = 0; m <= 6; m += 2)
		allowed += count_allowed(rl, "192.0.2.5",
					 T0 + m * MINUTE + 1000, 5);
	CHECK_INT(allowed, 10);
	CHECK(!ratelimit_check(rl, "192.0.2.5", T0 + 8 * MINUTE + 1000, &ra));
	CHECK_INT(ra, 3600 - 8 * 60);
	ratelimit_free(rl);
}

/* Rules before a refusing one do count the request, as in Nhost. */
static void test_earlier_rules_counted(void)
{
	struct ratelimit_rule rules[] = { { 5, HOUR }, { 1, MINUTE } };
	struct ratelimit *rl = ratelimit_new(rules, 2, 10);
	unsigned ra = 0;

	if (!rl)
		return;
	CHECK_INT(count_allowed(rl, "192.0.2.6", T0 + 1000, 5), 1);
	/* The 4 refused by the minute rule used up the hour rule. */
	CHECK(!ratelimit_check(rl, "192.0.2.6", T0 + 2 * MINUTE + 1000, &ra));
	CHECK_INT(ra, 3600 - 120);
	ratelimit_free(rl);
}

static void test_independent_clients(void)
{
	struct ratelimit *rl = new_one(3, MINUTE, 100);
	long long t = T0 + 1;

	if (!rl)
		return;
	CHECK_INT(count_allowed(rl, "192.0.2.1", t, 5), 3);
	CHECK_INT(count_allowed(rl, "192.0.2.2", t, 5), 3);
	CHECK_INT(count_allowed(rl, "2001:db8::1", t, 5), 3);
	/* Keys differing only in length are distinct. */
	CHECK_INT(count_allowed(rl, "192.0.2.10", t, 5), 3);
	CHECK_INT(count_allowed(rl, "192.0.2.1", t, 1), 0);
	CHECK_INT(ratelimit_clients(rl), 4);
	/* A full-length IPv6 text key (45 bytes) is kept whole. */
	CHECK_INT(count_allowed(rl,
				"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
				t, 5),
		  3);
	CHECK_INT(count_allowed(rl,
				"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.254",
				t, 5),
		  3);
	ratelimit_free(rl);
}

static void test_lru_eviction(void)
{
	struct ratelimit *rl = new_one(1, HOUR, 3);
	long long t = T0 + 1;

	if (!rl)
		return;
	CHECK_INT(count_allowed(rl, "a", t, 1), 1);
	CHECK_INT(count_allowed(rl, "b", t, 1), 1);
	CHECK_INT(count_allowed(rl, "c", t, 1), 1);
	CHECK_INT(count_allowed(rl, "a", t, 1), 0); /* a is now newest */
	CHECK_INT(count_allowed(rl, "d", t, 1), 1); /* evicts b */
	CHECK_INT(ratelimit_clients(rl), 3);
	CHECK_INT(count_allowed(rl, "a", t, 1), 0); /* a kept its count */
	CHECK_INT(count_allowed(rl, "c", t, 1), 0);
	CHECK_INT(count_allowed(rl, "b", t, 1), 1); /* b was forgotten */
	CHECK_INT(ratelimit_clients(rl), 3);
	ratelimit_free(rl);
}

static void test_flood_bounded(void)
{
	const size_t max_clients = 5000;
	struct ratelimit *rl = new_one(10, MINUTE, max_clients);
	struct mallinfo2 before, after;
	size_t peak = 0;
	char ip[64];

	if (!rl)
		return;
	before = mallinfo2();
	for (size_t i = 0; i < 10 * max_clients; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:%zx:%zx::1", i >> 16,
			 i & 0xffff);
		ratelimit_check(rl, ip, T0 + (long long)i, NULL);
		if (i % 997 == 0 && ratelimit_clients(rl) > peak)
			peak = ratelimit_clients(rl);
	}
	after = mallinfo2();
	CHECK_INT(ratelimit_clients(rl), max_clients);
	CHECK(peak <= max_clients);
	/* Nothing is allocated after creation, whatever the flood. */
	CHECK_INT(after.uordblks, before.uordblks);
	CHECK_INT(after.hblkhd, before.hblkhd);
	/* ~112 bytes a client with one rule (64 + 16 + bucket). */
	CHECK(ratelimit_memory(rl) < max_clients * 128 + 65536);
	ratelimit_free(rl);
}

struct hammer {
	struct ratelimit *rl;
	unsigned allowed_shared;
	unsigned allowed_own;
	int id;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	char own[32];

	snprintf(own, sizeof(own), "198.51.100.%d", h->id);
	for (int i = 0; i < 500; i++) {
		h->allowed_shared +=
			ratelimit_check(h->rl, "203.0.113.9", T0 + 1000, NULL);
		/* Neighbours: the same few keys from every thread too. */
		h->allowed_own += ratelimit_check(h->rl, own, T0 + 1000, NULL);
		ratelimit_check(h->rl, i % 2 ? "203.0.113.10" : "203.0.113.11",
				T0 + 1000, NULL);
	}
	return NULL;
}

static void test_threads_exact(void)
{
	struct ratelimit *rl = new_one(1000, HOUR, 100000);
	struct hammer h[4];
	pthread_t tid[4];
	unsigned shared = 0;

	if (!rl)
		return;
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ rl, 0, 0, i };
		pthread_create(&tid[i], NULL, hammer_run, &h[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		shared += h[i].allowed_shared;
		CHECK_INT(h[i].allowed_own, 500);
	}
	/* 4 x 500 on one key, burst 1000: exactly 1000 allowed. */
	CHECK_INT(shared, 1000);
	CHECK_INT(count_allowed(rl, "203.0.113.10", T0 + 1000, 1000), 0);
	CHECK_INT(count_allowed(rl, "203.0.113.11", T0 + 1000, 1000), 0);
	ratelimit_free(rl);

	/* Again with 4 x 500 over a burst larger than the demand. */
	rl = new_one(5000, HOUR, 100000);
	if (!rl)
		return;
	shared = 0;
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ rl, 0, 0, i };
		pthread_create(&tid[i], NULL, hammer_run, &h[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		shared += h[i].allowed_shared;
	}
	CHECK_INT(shared, 2000);
	ratelimit_free(rl);
}

/* Per-route rule sets: a rule outside the set neither counts nor refuses. */
static void test_rule_sets(void)
{
	const struct ratelimit_rule rules[] = { { 3, 60000 },
						{ 1, 60000 },
						{ 1, 60000 } };
	struct ratelimit *rl = ratelimit_new(rules, 3, 16);
	long long t = 1000;

	CHECK(rl != NULL);
	if (!rl)
		return;
	/* Rules 0 and 1 (a signup): the first passes, then rule 1 refuses
	 * (rule 0, before it, counts the refused one too, as Nhost's chain). */
	CHECK(ratelimit_check_rules(rl, "a", 0x3, t, NULL));
	CHECK(!ratelimit_check_rules(rl, "a", 0x3, t, NULL));
	/* Rules 0 and 2 (a sign-in): rule 2 never counted; rule 0 has one
	 * request left of its 3. */
	CHECK(ratelimit_check_rules(rl, "a", 0x5, t, NULL));
	CHECK(!ratelimit_check_rules(rl, "a", 0x5, t, NULL));
	ratelimit_free(rl);
}

int main(void)
{
	test_rule_sets();
	test_invalid();
	test_zero_burst();
	test_burst_and_retry_after();
	test_sliding();
	test_sms_defaults();
	test_later_rules_not_counted();
	test_earlier_rules_counted();
	test_independent_clients();
	test_lru_eviction();
	test_flood_bounded();
	test_threads_exact();
	return check_done("ratelimit");
}
