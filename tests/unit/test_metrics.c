/*
 * Unit tests for common/metrics: the exact exposition of a small registry,
 * a line-by-line check of the text format 0.0.4, cumulative histogram
 * buckets, exact totals under concurrent updates, the all-or-nothing cap of
 * metrics_render(), and registration refusing bad names (in a child).
 */
#include "metrics.h"

#include "check.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const outcomes[] = { "accepted", "rejected_400",
					"rate_limited", NULL };
static const double latency_buckets[] = { 0.005, 0.01, 0.1, 1, 2.5 };

static double answer(void *arg)
{
	return *(double *)arg;
}

static void test_exact_text(void)
{
	static double held = 42;
	struct metric *req, *drops, *inflight, *lat;
	char buf[4096];
	size_t n;

	metrics_reset();
	req = metrics_counter("otpflow_ingest_requests_total",
			      "Requests answered, by outcome.", "outcome",
			      outcomes);
	drops = metrics_counter("otpflow_worker_dropped_total",
				"Back\\slash and\nnewline.", NULL, NULL);
	inflight = metrics_gauge("otpflow_ingest_inflight_requests",
				 "Requests waiting for Kafka.");
	metrics_gauge_func("otpflow_ratelimit_clients", "Clients held.", answer,
			   &held);
	lat = metrics_histogram("otpflow_ingest_accept_seconds",
				"Time to a durable accept.", latency_buckets,
				5);

	metrics_inc(req, 0, 3);
	metrics_inc(req, 2, 1);
	metrics_inc(req, 3, 100); /* out of range: ignored */
	metrics_inc(NULL, 0, 1);
	metrics_inc(drops, 0, 1);
	metrics_set(inflight, 7);
	metrics_add(inflight, -2.5);
	metrics_observe(lat, 0.001);
	metrics_observe(lat, 0.01); /* le is inclusive */
	metrics_observe(lat, 0.5);
	metrics_observe(lat, 3);
	metrics_observe(lat, NAN); /* ignored */
	metrics_observe(inflight, 1); /* wrong type: ignored */

	n = metrics_render(buf, sizeof(buf));
	CHECK_STR(
		buf,
		"# HELP otpflow_ingest_requests_total Requests answered, by outcome.\n"
		"# TYPE otpflow_ingest_requests_total counter\n"
		"otpflow_ingest_requests_total{outcome=\"accepted\"} 3\n"
		"otpflow_ingest_requests_total{outcome=\"rejected_400\"} 0\n"
		"otpflow_ingest_requests_total{outcome=\"rate_limited\"} 1\n"
		"# HELP otpflow_worker_dropped_total Back\\\\slash and\\nnewline.\n"
		"# TYPE otpflow_worker_dropped_total counter\n"
		"otpflow_worker_dropped_total 1\n"
		"# HELP otpflow_ingest_inflight_requests Requests waiting for Kafka.\n"
		"# TYPE otpflow_ingest_inflight_requests gauge\n"
		"otpflow_ingest_inflight_requests 4.5\n"
		"# HELP otpflow_ratelimit_clients Clients held.\n"
		"# TYPE otpflow_ratelimit_clients gauge\n"
		"otpflow_ratelimit_clients 42\n"
		"# HELP otpflow_ingest_accept_seconds Time to a durable accept.\n"
		"# TYPE otpflow_ingest_accept_seconds histogram\n"
		"otpflow_ingest_accept_seconds_bucket{le=\"0.005\"} 1\n"
		"otpflow_ingest_accept_seconds_bucket{le=\"0.01\"} 2\n"
		"otpflow_ingest_accept_seconds_bucket{le=\"0.1\"} 2\n"
		"otpflow_ingest_accept_seconds_bucket{le=\"1\"} 3\n"
		"otpflow_ingest_accept_seconds_bucket{le=\"2.5\"} 3\n"
		"otpflow_ingest_accept_seconds_bucket{le=\"+Inf\"} 4\n"
		"otpflow_ingest_accept_seconds_sum 3.511\n"
		"otpflow_ingest_accept_seconds_count 4\n");
	CHECK_INT(n, strlen(buf));
	CHECK(n + 1 <= metrics_render_bound());
}

static bool quiet; /* the checker's own negative tests */

static void complain(const char *fmt, int line_no)
{
	if (!quiet)
		fprintf(stderr, fmt, line_no);
}

static bool name_ok(const char *s, size_t n)
{
	if (n < 9 || strncmp(s, "otpflow_", 8) != 0)
		return false;
	for (size_t i = 8; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return true;
}

/*
 * Checks text against the exposition format as far as this registry uses
 * it: HELP then TYPE opening each family, samples of that family only,
 * label sets {name="value",...}, a float value, histogram buckets
 * non-decreasing with le increasing and ending in +Inf equal to _count.
 * Returns the number of bad lines.
 */
static int parse_exposition(const char *text)
{
	char family[128] = "", type[16] = "";
	double last_le = -INFINITY, last_bucket = -1, inf_bucket = -1;
	int bad = 0, line_no = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		char line[512];
		size_t len;

		line_no++;
		if (!eol || (size_t)(eol - p) >= sizeof(line)) {
			complain("line %d: unterminated or long\n", line_no);
			return bad + 1;
		}
		len = (size_t)(eol - p);
		memcpy(line, p, len);
		line[len] = '\0';
		p = eol + 1;

		if (strncmp(line, "# HELP ", 7) == 0) {
			const char *sp = strchr(line + 7, ' ');

			if (!sp ||
			    !name_ok(line + 7, (size_t)(sp - line - 7))) {
				complain("line %d: bad HELP\n", line_no);
				bad++;
				continue;
			}
			snprintf(family, sizeof(family), "%.*s",
				 (int)(sp - line - 7), line + 7);
			type[0] = '\0';
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t fl = strlen(family);

			if (!fl || strncmp(line + 7, family, fl) != 0 ||
			    line[7 + fl] != ' ' ||
			    (strcmp(line + 8 + fl, "counter") &&
			     strcmp(line + 8 + fl, "gauge") &&
			     strcmp(line + 8 + fl, "histogram"))) {
				complain("line %d: bad TYPE\n", line_no);
				bad++;
				continue;
			}
			snprintf(type, sizeof(type), "%s", line + 8 + fl);
			last_le = -INFINITY;
			last_bucket = -1;
			inf_bucket = -1;
			continue;
		}

		/* A sample: name[{labels}] value */
		size_t nl = strcspn(line, "{ ");
		const char *rest = line + nl, *suffix = line + strlen(family);
		double le = NAN, value;
		char *end = (char *)"";

		if (!type[0] || !name_ok(line, nl) ||
		    strncmp(line, family, strlen(family)) != 0) {
			complain("line %d: sample outside its family\n",
				 line_no);
			bad++;
			continue;
		}
		if (strcmp(type, "histogram") == 0 ?
			    (strncmp(suffix, "_bucket{", 8) &&
			     strncmp(suffix, "_sum ", 5) &&
			     strncmp(suffix, "_count ", 7)) :
			    nl != strlen(family)) {
			complain("line %d: bad sample name\n", line_no);
			bad++;
			continue;
		}
		if (*rest == '{') {
			rest++;
			while (*rest != '}') {
				size_t ln = strspn(
					rest, "abcdefghijklmnopqrstuvwxyz_");
				const char *v = rest + ln + 2;
				const char *q = v;

				if (!ln || rest[ln] != '=' ||
				    rest[ln + 1] != '"') {
					bad++;
					break;
				}
				while (*q && *q != '"')
					q += (*q == '\\' && q[1]) ? 2 : 1;
				if (!*q) {
					bad++;
					break;
				}
				if (ln == 2 && strncmp(rest, "le", 2) == 0)
					le = strncmp(v, "+Inf\"", 5) == 0 ?
						     INFINITY :
						     strtod(v, NULL);
				rest = q + 1;
				if (*rest == ',')
					rest++;
				else if (*rest != '}') {
					bad++;
					break;
				}
			}
			if (*rest != '}') {
				complain("line %d: bad labels\n", line_no);
				continue;
			}
			rest++;
		}
		if (*rest != ' ') {
			complain("line %d: no value\n", line_no);
			bad++;
			continue;
		}
		rest++;
		value = strncmp(rest, "+Inf", 4) == 0 ? INFINITY :
			strncmp(rest, "NaN", 3) == 0  ? NAN :
							strtod(rest, &end);
		if (isfinite(value) && *end != '\0') {
			complain("line %d: bad value\n", line_no);
			bad++;
			continue;
		}
		if (strncmp(suffix, "_bucket{", 8) == 0) {
			if (!(le > last_le) || value < last_bucket) {
				complain("line %d: not cumulative\n", line_no);
				bad++;
			}
			last_le = le;
			last_bucket = value;
			if (isinf(le))
				inf_bucket = value;
		} else if (strncmp(suffix, "_count ", 7) == 0 &&
			   value != inf_bucket) {
			complain("line %d: _count != +Inf\n", line_no);
			bad++;
		}
	}
	return bad;
}

static void test_format_parses(void)
{
	char buf[8192];

	CHECK(metrics_render(buf, sizeof(buf)) > 0);
	CHECK_INT(parse_exposition(buf), 0);
	/* The checker itself rejects a broken exposition. */
	quiet = true;
	CHECK(parse_exposition("# HELP otpflow_a_total x\n"
			       "# TYPE otpflow_a_total counter\n"
			       "otpflow_b_total 1\n") > 0);
	CHECK(parse_exposition("# HELP otpflow_a_seconds x\n"
			       "# TYPE otpflow_a_seconds histogram\n"
			       "otpflow_a_seconds_bucket{le=\"1\"} 2\n"
			       "otpflow_a_seconds_bucket{le=\"+Inf\"} 1\n"
			       "otpflow_a_seconds_count 1\n") > 0);
	quiet = false;
}

static void test_histogram(void)
{
	static const double b[] = { 1, 2, 4, 8 };
	struct metric *h;
	char buf[4096];
	double sum = 0;

	metrics_reset();
	h = metrics_histogram("otpflow_batch_size_bytes", "Batch sizes.", b, 4);
	for (int v = 0; v <= 10; v++) {
		metrics_observe(h, v);
		sum += v;
	}
	metrics_render(buf, sizeof(buf));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_bucket{le=\"1\"} 2\n"));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_bucket{le=\"2\"} 3\n"));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_bucket{le=\"4\"} 5\n"));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_bucket{le=\"8\"} 9\n"));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_bucket{le=\"+Inf\"} 11\n"));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_sum 55\n"));
	CHECK(strstr(buf, "otpflow_batch_size_bytes_count 11\n"));
	CHECK(sum == 55);
	CHECK_INT(parse_exposition(buf), 0);
}

#define THREADS 4
#define ROUNDS 250000

struct hammer {
	struct metric *c, *g, *h;
	int id;
};

static void *hammer_run(void *arg)
{
	struct hammer *t = arg;

	for (int i = 0; i < ROUNDS; i++) {
		metrics_inc(t->c, (size_t)(i % 3), 1);
		metrics_add(t->g, 1);
		metrics_observe(t->h, (i % 4) * 0.5); /* 0, .5, 1, 1.5 */
	}
	return NULL;
}

static void test_concurrent(void)
{
	static const double b[] = { 0.5, 1 };
	struct hammer t[THREADS];
	pthread_t tid[THREADS];
	struct metric *c, *g, *h;
	char buf[4096], want[256];

	metrics_reset();
	c = metrics_counter("otpflow_test_events_total", "Events.", "outcome",
			    outcomes);
	g = metrics_gauge("otpflow_test_level", "Level.");
	h = metrics_histogram("otpflow_test_seconds", "Durations.", b, 2);
	for (int i = 0; i < THREADS; i++) {
		t[i] = (struct hammer){ c, g, h, i };
		pthread_create(&tid[i], NULL, hammer_run, &t[i]);
	}
	/* Renders while the threads update must stay well-formed. */
	for (int i = 0; i < 50; i++) {
		CHECK(metrics_render(buf, sizeof(buf)) > 0);
		CHECK_INT(parse_exposition(buf), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	metrics_render(buf, sizeof(buf));
	/* ROUNDS = 3k + 1: label 0 gets one more per thread. */
	snprintf(want, sizeof(want),
		 "otpflow_test_events_total{outcome=\"accepted\"} %d\n",
		 THREADS * (ROUNDS / 3 + 1));
	CHECK(strstr(buf, want));
	snprintf(want, sizeof(want),
		 "otpflow_test_events_total{outcome=\"rejected_400\"} %d\n",
		 THREADS * (ROUNDS / 3));
	CHECK(strstr(buf, want));
	snprintf(want, sizeof(want), "otpflow_test_level %d\n",
		 THREADS * ROUNDS);
	CHECK(strstr(buf, want));
	snprintf(want, sizeof(want), "otpflow_test_seconds_count %d\n",
		 THREADS * ROUNDS);
	CHECK(strstr(buf, want));
	snprintf(want, sizeof(want),
		 "otpflow_test_seconds_bucket{le=\"1\"} %d\n",
		 THREADS * ROUNDS / 4 * 3);
	CHECK(strstr(buf, want));
	/* Sums of multiples of 0.5 are exact in binary. */
	snprintf(want, sizeof(want), "otpflow_test_seconds_sum %d\n",
		 THREADS * (ROUNDS / 4) * 3);
	CHECK(strstr(buf, want));
}

static void test_render_cap(void)
{
	static const double b[] = { DBL_MIN, 1e300 };
	struct metric *c, *g, *h;
	char full[8192], buf[8192];
	size_t len, bound;

	metrics_reset();
	c = metrics_counter("otpflow_big_total", "Max \"values\" \\ here\n.",
			    "outcome", outcomes);
	g = metrics_gauge("otpflow_big_value", "Smallest negative.");
	h = metrics_histogram("otpflow_big_seconds", "Extremes.", b, 2);
	for (int i = 0; i < 3; i++)
		metrics_inc(c, (size_t)i, UINT64_MAX);
	metrics_set(g, -DBL_MIN);
	metrics_observe(h, -DBL_MAX);
	metrics_observe(h, 0);

	len = metrics_render(full, sizeof(full));
	bound = metrics_render_bound();
	CHECK(len > 0);
	CHECK(len + 1 <= bound);
	CHECK(strstr(full, "{outcome=\"accepted\"} 18446744073709551615\n"));
	CHECK(strstr(full, "otpflow_big_value -2.2250738585072014e-308\n"));
	CHECK(strstr(full,
		     "otpflow_big_seconds_sum -1.7976931348623157e+308\n"));
	CHECK_INT(parse_exposition(full), 0);

	/* Every cap short of len + 1 gives 0 and an empty string, and no
	 * byte at or past cap is touched; len + 1 gives the whole text. */
	for (size_t cap = 1; cap <= len + 1; cap++) {
		size_t got;
		bool clean = true;

		memset(buf, 'Z', sizeof(buf));
		got = metrics_render(buf, cap);
		for (size_t i = cap; i < sizeof(buf); i++)
			clean &= buf[i] == 'Z';
		if (cap <= len) {
			CHECK(got == 0 && buf[0] == '\0' && clean);
		} else {
			CHECK_INT(got, len);
			CHECK(clean && strcmp(buf, full) == 0);
		}
	}
	memset(buf, 'Z', sizeof(buf));
	CHECK_INT(metrics_render(buf, 0), 0);
	CHECK(buf[0] == 'Z');
	CHECK_INT(metrics_render(NULL, 100), 0);
}

/* Registers in a child; returns true if the child aborted. */
static bool aborts(void (*reg)(void))
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		reg();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static const char *const bad_values[] = { "ok", "has space", NULL };
static const char *const dup_values[] = { "a", "a", NULL };
static const char *const no_values[] = { NULL };
static const double decreasing[] = { 1, 0.5 };

static void reg_ok(void)
{
	metrics_counter("otpflow_fine_total", "Fine.", NULL, NULL);
}

static void reg_prefix(void)
{
	metrics_counter("http_requests_total", "x", NULL, NULL);
}

static void reg_upper(void)
{
	metrics_counter("otpflow_Requests_total", "x", NULL, NULL);
}

static void reg_digit(void)
{
	metrics_counter("otpflow_http2_total", "x", NULL, NULL);
}

static void reg_no_total(void)
{
	metrics_counter("otpflow_requests", "x", NULL, NULL);
}

static void reg_gauge_total(void)
{
	metrics_gauge("otpflow_level_total", "x");
}

static void reg_gauge_ms(void)
{
	metrics_gauge("otpflow_lag_milliseconds", "x");
}

static void reg_hist_unit(void)
{
	metrics_histogram("otpflow_latency", "x", latency_buckets, 5);
}

static void reg_hist_order(void)
{
	metrics_histogram("otpflow_latency_seconds", "x", decreasing, 2);
}

static void reg_hist_none(void)
{
	metrics_histogram("otpflow_latency_seconds", "x", latency_buckets, 0);
}

static void reg_no_help(void)
{
	metrics_gauge("otpflow_level", "");
}

static void reg_label_value(void)
{
	metrics_counter("otpflow_a_total", "x", "outcome", bad_values);
}

static void reg_label_dup(void)
{
	metrics_counter("otpflow_a_total", "x", "outcome", dup_values);
}

static void reg_label_empty(void)
{
	metrics_counter("otpflow_a_total", "x", "outcome", no_values);
}

static void reg_label_le(void)
{
	metrics_counter("otpflow_a_total", "x", "le", outcomes);
}

static void reg_twice(void)
{
	metrics_gauge("otpflow_level", "x");
	metrics_gauge("otpflow_level", "x");
}
static void reg_full(void)
{
	static char names[METRICS_MAX + 1][32];

	for (int i = 0; i <= METRICS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "otpflow_g_%c%c",
			 'a' + i / 26, 'a' + i % 26);
		metrics_gauge(names[i], "x");
	}
}

static void test_registration_checks(void)
{
	metrics_reset();
	CHECK(!aborts(reg_ok));
	CHECK(aborts(reg_prefix));
	CHECK(aborts(reg_upper));
	CHECK(aborts(reg_digit));
	CHECK(aborts(reg_no_total));
	CHECK(aborts(reg_gauge_total));
	CHECK(aborts(reg_gauge_ms));
	CHECK(aborts(reg_hist_unit));
	CHECK(aborts(reg_hist_order));
	CHECK(aborts(reg_hist_none));
	CHECK(aborts(reg_no_help));
	CHECK(aborts(reg_label_value));
	CHECK(aborts(reg_label_dup));
	CHECK(aborts(reg_label_empty));
	CHECK(aborts(reg_label_le));
	CHECK(aborts(reg_twice));
	CHECK(aborts(reg_full));
}

int main(void)
{
	test_exact_text();
	test_format_parses();
	test_histogram();
	test_concurrent();
	test_render_cap();
	test_registration_checks();
	return check_done("metrics");
}
