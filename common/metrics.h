/*
 * The process's Prometheus registry: counters (with at most one label whose
 * values are fixed at registration), gauges, and histograms with fixed
 * buckets, rendered in the text exposition format 0.0.4 for GET /metrics.
 *
 * Registration happens at startup, before any thread starts, and is not
 * thread-safe; a bad name, help text, label or bucket list is a programming
 * error and aborts the process with a message on stderr (checked in every
 * build, not only with assertions on). Updates are lock-free relaxed C11
 * atomics and may come from any thread; rendering may run concurrently with
 * them. The registry holds at most METRICS_MAX metrics, all stored inside it.
 *
 * Names match otpflow_[a-z_]+ and carry a base unit: counters end in _total,
 * histograms in _seconds or _bytes; gauges may not end in _total nor in a
 * scaled unit (_milliseconds, _kilobytes, ...). Label values must be a small
 * closed set of [a-zA-Z0-9_.-] words: never request ids, phones or addresses.
 */
#ifndef OTPFLOW_METRICS_H
#define OTPFLOW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX 64 /* metrics per process */
#define METRICS_MAX_LABELS 16 /* values of a counter's one label */
#define METRICS_MAX_BUCKETS 24 /* finite histogram buckets (+Inf added) */

struct metric;

/*
 * Registers a counter. With label_name NULL it is one series; otherwise
 * label_values is a NULL-terminated list of 1..METRICS_MAX_LABELS values and
 * the counter has one series per value, rendered even while zero. name, help
 * and the label strings are kept by pointer: pass string literals (or
 * storage that outlives the registry). Returns the metric, owned by the
 * registry; never NULL (aborts on a bad argument).
 */
struct metric *metrics_counter(const char *name, const char *help,
			       const char *label_name,
			       const char *const *label_values);

/* Adds n to series label_index of a counter (0 without a label). NULL m,
 * a non-counter or an index out of range do nothing. Thread-safe. */
void metrics_inc(struct metric *m, size_t label_index, uint64_t n);

/* Registers a gauge, initially 0. As metrics_counter for names and
 * ownership. */
struct metric *metrics_gauge(const char *name, const char *help);

/*
 * Registers a gauge whose value is read by calling fn(arg) at each render
 * (for values another module already keeps, such as the number of clients
 * the rate limiter holds). fn must be thread-safe and cheap; arg must
 * outlive the registry.
 */
struct metric *metrics_gauge_func(const char *name, const char *help,
				  double (*fn)(void *arg), void *arg);

/* Sets a gauge. NULL m or a non-gauge does nothing. Thread-safe. */
void metrics_set(struct metric *m, double v);

/* Adds delta (may be negative) to a gauge. As metrics_set. */
void metrics_add(struct metric *m, double delta);

/*
 * Registers a histogram with nbuckets (1..METRICS_MAX_BUCKETS) finite upper
 * bounds, strictly increasing; +Inf is added. The bounds are copied.
 */
struct metric *metrics_histogram(const char *name, const char *help,
				 const double *buckets, size_t nbuckets);

/* Records one observation. NULL m or a non-histogram does nothing; NaN is
 * ignored. Thread-safe. */
void metrics_observe(struct metric *m, double v);

/*
 * Writes the exposition of every metric, in registration order, into buf
 * (cap bytes) and NUL-terminates it. All or nothing: returns the length
 * written (without the NUL), or 0 with buf[0] = '\0' (when cap > 0) if the
 * text does not fit, so a scrape never sees half a registry (an empty
 * registry also gives 0). A buffer of metrics_render_bound() bytes always
 * fits. Thread-safe against updates,
 * not against registration.
 */
size_t metrics_render(char *buf, size_t cap);

/* Bytes (with the NUL) that are always enough for metrics_render(); fixed
 * once registration is over. */
size_t metrics_render_bound(void);

/* Forgets every metric (tests only; no thread may hold a metric). */
void metrics_reset(void);

#endif
