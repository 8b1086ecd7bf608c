/*
 * The Prometheus registry: a fixed array of METRICS_MAX metrics, each holding
 * its own atomic cells, so updates never allocate or lock and the exposition
 * is built straight from the cells. Histograms keep one count per bucket
 * (not cumulative) and add them up while rendering, which makes the +Inf
 * bucket and _count equal by construction even under concurrent updates;
 * _sum is a double updated by compare-and-swap on its bits.
 */
#include "metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_GAUGE_FUNC,
	METRIC_HISTOGRAM,
};

#define METRIC_CELLS (METRICS_MAX_BUCKETS + 1)
_Static_assert(METRIC_CELLS >= METRICS_MAX_LABELS, "cells hold every label");

/* Longest text of a rendered double ("-2.2250738585072014e-308") and of a
 * uint64_t, with margin. */
#define METRIC_DOUBLE_CHARS 32
#define METRIC_U64_CHARS 20

struct metric {
	enum metric_type type;
	const char *name;
	const char *help;
	const char *label_name; /* counters; NULL = no label */
	const char *const *label_values;
	size_t n; /* label values or finite buckets */
	double bounds[METRICS_MAX_BUCKETS];
	double (*fn)(void *arg); /* METRIC_GAUGE_FUNC */
	void *arg;
	/* Counter: one cell per label value. Gauge: double bits in cells[0].
	 * Histogram: observations per bucket, cells[n] for +Inf. */
	_Atomic uint64_t cells[METRIC_CELLS];
	_Atomic uint64_t sum_bits; /* histogram _sum, double bits */
};

static struct metric metrics[METRICS_MAX];
static size_t nmetrics;

static uint64_t dbl_bits(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static double bits_dbl(uint64_t b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

/* ---- registration (startup only) ---- */

static _Noreturn void metric_fail(const char *name, const char *why)
{
	fprintf(stderr, "metrics: cannot register %s: %s\n",
		name ? name : "(null)", why);
	abort();
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool all_chars(const char *s, const char *set)
{
	return *s && strspn(s, set) == strlen(s);
}

#define LOWER "abcdefghijklmnopqrstuvwxyz_"
#define WORD LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"

static struct metric *metric_add(enum metric_type type, const char *name,
				 const char *help)
{
	static const char *const scaled[] = {
		"_milliseconds", "_microseconds", "_nanoseconds", "_minutes",
		"_hours",	 "_days",	  "_ms",	  "_us",
		"_ns",		 "_kilobytes",	  "_megabytes",	  "_gigabytes",
		"_kb",		 "_mb",		  "_bits",	  "_percent",
	};
	struct metric *m;

	if (!name || strncmp(name, "otpflow_", 8) != 0 ||
	    !all_chars(name + 8, LOWER))
		metric_fail(name, "name must match otpflow_[a-z_]+");
	if (!help || !*help)
		metric_fail(name, "help text is empty");
	for (size_t i = 0; i < sizeof(scaled) / sizeof(scaled[0]); i++)
		if (ends_with(name, scaled[i]))
			metric_fail(name, "use a base unit (_seconds, _bytes)");
	if (type == METRIC_COUNTER && !ends_with(name, "_total"))
		metric_fail(name, "a counter's name ends in _total");
	if (type != METRIC_COUNTER && ends_with(name, "_total"))
		metric_fail(name, "only counters end in _total");
	if (type == METRIC_HISTOGRAM && !ends_with(name, "_seconds") &&
	    !ends_with(name, "_bytes"))
		metric_fail(name, "histogram names end in _seconds or _bytes");
	for (size_t i = 0; i < nmetrics; i++)
		if (strcmp(metrics[i].name, name) == 0)
			metric_fail(name, "registered twice");
	if (nmetrics == METRICS_MAX)
		metric_fail(name, "registry full (METRICS_MAX)");

	m = &metrics[nmetrics++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->name = name;
	m->help = help;
	for (size_t i = 0; i < METRIC_CELLS; i++)
		atomic_init(&m->cells[i], 0);
	atomic_init(&m->sum_bits, dbl_bits(0.0));
	return m;
}

struct metric *metrics_counter(const char *name, const char *help,
			       const char *label_name,
			       const char *const *label_values)
{
	struct metric *m = metric_add(METRIC_COUNTER, name, help);
	size_t n = 0;

	m->n = 1;
	if (!label_name)
		return m;
	if (!all_chars(label_name, LOWER) || label_name[0] == '_' ||
	    strcmp(label_name, "le") == 0 ||
	    strcmp(label_name, "quantile") == 0)
		metric_fail(name, "label name must match [a-z][a-z_]* "
				  "and not be le or quantile");
	if (!label_values || !label_values[0])
		metric_fail(name, "a label needs at least one value");
	for (n = 0; label_values[n]; n++) {
		if (n == METRICS_MAX_LABELS)
			metric_fail(name, "over METRICS_MAX_LABELS values");
		if (!all_chars(label_values[n], WORD))
			metric_fail(name, "label values match [a-zA-Z0-9_.-]+");
		for (size_t j = 0; j < n; j++)
			if (strcmp(label_values[j], label_values[n]) == 0)
				metric_fail(name, "label value listed twice");
	}
	m->label_name = label_name;
	m->label_values = label_values;
	m->n = n;
	return m;
}

struct metric *metrics_gauge(const char *name, const char *help)
{
	struct metric *m = metric_add(METRIC_GAUGE, name, help);

	m->n = 1;
	return m;
}

struct metric *metrics_gauge_func(const char *name, const char *help,
				  double (*fn)(void *arg), void *arg)
{
	struct metric *m;

	if (!fn)
		metric_fail(name, "no function");
	m = metric_add(METRIC_GAUGE_FUNC, name, help);
	m->n = 1;
	m->fn = fn;
	m->arg = arg;
	return m;
}

struct metric *metrics_histogram(const char *name, const char *help,
				 const double *buckets, size_t nbuckets)
{
	struct metric *m = metric_add(METRIC_HISTOGRAM, name, help);

	if (!buckets || nbuckets < 1 || nbuckets > METRICS_MAX_BUCKETS)
		metric_fail(name, "1..METRICS_MAX_BUCKETS buckets");
	for (size_t i = 0; i < nbuckets; i++)
		if (!isfinite(buckets[i]) ||
		    (i && buckets[i] <= buckets[i - 1]))
			metric_fail(name, "buckets: finite, increasing");
	memcpy(m->bounds, buckets, nbuckets * sizeof(*buckets));
	m->n = nbuckets;
	return m;
}

void metrics_reset(void)
{
	nmetrics = 0;
}

/* ---- updates (any thread) ---- */

void metrics_inc(struct metric *m, size_t label_index, uint64_t n)
{
	if (!m || m->type != METRIC_COUNTER || label_index >= m->n)
		return;
	atomic_fetch_add_explicit(&m->cells[label_index], n,
				  memory_order_relaxed);
}

void metrics_set(struct metric *m, double v)
{
	if (!m || m->type != METRIC_GAUGE)
		return;
	atomic_store_explicit(&m->cells[0], dbl_bits(v), memory_order_relaxed);
}

static void add_double(_Atomic uint64_t *cell, double delta)
{
	uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(
		cell, &old, dbl_bits(bits_dbl(old) + delta),
		memory_order_relaxed, memory_order_relaxed))
		;
}

void metrics_add(struct metric *m, double delta)
{
	if (!m || m->type != METRIC_GAUGE)
		return;
	add_double(&m->cells[0], delta);
}

void metrics_observe(struct metric *m, double v)
{
	size_t i = 0;

	if (!m || m->type != METRIC_HISTOGRAM || isnan(v))
		return;
	while (i < m->n && v > m->bounds[i])
		i++;
	atomic_fetch_add_explicit(&m->cells[i], 1, memory_order_relaxed);
	add_double(&m->sum_bits, v);
}

/* ---- exposition ---- */

struct out {
	char *buf;
	size_t cap; /* bytes, the NUL included */
	size_t len;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n >= o->cap - o->len) { /* keep room for the NUL */
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Escapes backslash and newline (HELP), and the double quote too in label
 * values, as the text format requires. */
static void put_escaped(struct out *o, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(o, "\\\\", 2);
		else if (*s == '\n')
			put(o, "\\n", 2);
		else if (*s == '"' && quote)
			put(o, "\\\"", 2);
		else
			put(o, s, 1);
	}
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[METRIC_U64_CHARS + 1];

	put(o, tmp,
	    (size_t)snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v));
}

/* The shortest of %.15g..%.17g that reads back as v; Inf and NaN spelled
 * as Prometheus parses them. */
static void put_double(struct out *o, double v)
{
	char tmp[METRIC_DOUBLE_CHARS];

	if (isnan(v)) {
		put_str(o, "NaN");
		return;
	}
	if (isinf(v)) {
		put_str(o, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	put_str(o, tmp);
}

static void put_header(struct out *o, const struct metric *m)
{
	static const char *const type_names[] = {
		[METRIC_COUNTER] = "counter",
		[METRIC_GAUGE] = "gauge",
		[METRIC_GAUGE_FUNC] = "gauge",
		[METRIC_HISTOGRAM] = "histogram",
	};

	put_str(o, "# HELP ");
	put_str(o, m->name);
	put_str(o, " ");
	put_escaped(o, m->help, false);
	put_str(o, "\n# TYPE ");
	put_str(o, m->name);
	put_str(o, " ");
	put_str(o, type_names[m->type]);
	put_str(o, "\n");
}

static void put_metric(struct out *o, const struct metric *m)
{
	uint64_t total = 0;

	put_header(o, m);
	switch (m->type) {
	case METRIC_COUNTER:
		for (size_t i = 0; i < m->n; i++) {
			put_str(o, m->name);
			if (m->label_name) {
				put_str(o, "{");
				put_str(o, m->label_name);
				put_str(o, "=\"");
				put_escaped(o, m->label_values[i], true);
				put_str(o, "\"}");
			}
			put_str(o, " ");
			put_u64(o, atomic_load_explicit(&m->cells[i],
							memory_order_relaxed));
			put_str(o, "\n");
		}
		break;
	case METRIC_GAUGE:
	case METRIC_GAUGE_FUNC:
		put_str(o, m->name);
		put_str(o, " ");
		put_double(o, m->type == METRIC_GAUGE_FUNC ?
				      m->fn(m->arg) :
				      bits_dbl(atomic_load_explicit(
					      &m->cells[0],
					      memory_order_relaxed)));
		put_str(o, "\n");
		break;
	case METRIC_HISTOGRAM:
		for (size_t i = 0; i <= m->n; i++) {
			total += atomic_load_explicit(&m->cells[i],
						      memory_order_relaxed);
			put_str(o, m->name);
			put_str(o, "_bucket{le=\"");
			if (i < m->n)
				put_double(o, m->bounds[i]);
			else
				put_str(o, "+Inf");
			put_str(o, "\"} ");
			put_u64(o, total);
			put_str(o, "\n");
		}
		put_str(o, m->name);
		put_str(o, "_sum ");
		put_double(o, bits_dbl(atomic_load_explicit(
				      &m->sum_bits, memory_order_relaxed)));
		put_str(o, "\n");
		put_str(o, m->name);
		put_str(o, "_count ");
		put_u64(o, total);
		put_str(o, "\n");
		break;
	}
}

size_t metrics_render(char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };

	if (!buf || cap == 0)
		return 0;
	for (size_t i = 0; i < nmetrics && !o.overflow; i++)
		put_metric(&o, &metrics[i]);
	if (o.overflow)
		o.len = 0;
	buf[o.len] = '\0';
	return o.len;
}

size_t metrics_render_bound(void)
{
	size_t bound = 1;

	for (size_t i = 0; i < nmetrics; i++) {
		const struct metric *m = &metrics[i];
		size_t name = strlen(m->name);

		/* "# HELP name help\n# TYPE name histogram\n", help escaped */
		bound += 2 * (7 + name + 1) + 2 * strlen(m->help) + 1 + 10;
		switch (m->type) {
		case METRIC_COUNTER:
			/* name{label="value"} n\n, the value escaped */
			for (size_t j = 0; j < m->n; j++) {
				bound += name + 1 + METRIC_U64_CHARS + 1;
				if (m->label_name)
					bound += 4 + strlen(m->label_name) +
						 2 * strlen(m->label_values[j]);
			}
			break;
		case METRIC_GAUGE:
		case METRIC_GAUGE_FUNC:
			bound += name + 1 + METRIC_DOUBLE_CHARS + 1;
			break;
		case METRIC_HISTOGRAM:
			/* name_bucket{le="x"} n\n, then _sum and _count */
			bound += (m->n + 1) * (name + 13 + METRIC_DOUBLE_CHARS +
					       3 + METRIC_U64_CHARS + 1) +
				 name + 5 + METRIC_DOUBLE_CHARS + 1 + name + 7 +
				 METRIC_U64_CHARS + 1;
			break;
		}
	}
	return bound;
}
