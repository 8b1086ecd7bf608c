/*
 * The worker's dead letters (docs/api.md §2.2 SignupDeadLetter, on
 * OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER): a request Postgres refuses with a data
 * error that repeats when it is retried alone (UNSTORABLE), and a malformed
 * record (UNDECODABLE), with the reason, the error and the record's
 * coordinates, so that the partition keeps flowing and `otpflowctl replay
 * --topic` can re-submit them. Never only a log line.
 */
#ifndef OTPFLOW_WORKER_DEADLETTER_H
#define OTPFLOW_WORKER_DEADLETTER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "events.h"

/* An undecodable value is kept up to this many bytes (then cut, with its
 * length and SHA-256), so that a dead letter always fits the topic. */
#define DEADLETTER_RAW_MAX (512u << 10)
#define DEADLETTER_ERROR_SIZE 512

enum deadletter_reason { DEADLETTER_UNSTORABLE, DEADLETTER_UNDECODABLE };

struct worker;

/* One record to dead-letter. */
struct dead_letter {
	const rd_kafka_message_t *rkm; /* the original record (borrowed) */
	const struct batch_item *item; /* UNSTORABLE: its request (borrowed) */
	enum deadletter_reason reason;
	char error[DEADLETTER_ERROR_SIZE]; /* outside text, any bytes */
	char sqlstate[6]; /* UNSTORABLE: the SQLSTATE, or "" */
	int attempts;
	bool delivered; /* set by the delivery report */
};

/*
 * Builds the framed SignupDeadLetter of d, stamped at now_ms: the error cut
 * on a UTF-8 boundary with the request's phone number masked; the request
 * itself, or, when there is none or it would not fit, the raw value (cut).
 * On success *out is malloc'd (the caller frees it). -1 with errstr only
 * when out of memory.
 */
int deadletter_encode(struct events *ev, const struct dead_letter *d,
		      long long now_ms, void **out, size_t *out_len,
		      char *errstr, size_t errstr_size);

/*
 * Publishes d[0..n) and waits until every one is delivered, retrying
 * failures (a dead letter is never dropped); false only on a stop.
 */
bool deadletter_publish(struct worker *w, struct dead_letter *d, size_t n);

#endif
