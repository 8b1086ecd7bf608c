/*
 * The worker's shared state, seen by its parts: the batch pipeline
 * (batch.c), the outbox publisher (outbox.c), the dead letters
 * (deadletter.c) and the life cycle and loop (worker.c), which owns it.
 * Nothing outside worker/ includes this.
 */
#ifndef OTPFLOW_WORKER_ENGINE_H
#define OTPFLOW_WORKER_ENGINE_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "events.h"
#include "hashpool.h"
#include "metrics.h"
#include "pg.h"
#include "seal.h"
#include "store.h"

/* Labels of otpflow_worker_requests_total, in this order. */
enum worker_label {
	WORKER_LABEL_CREATED,
	WORKER_LABEL_EXISTING,
	WORKER_LABEL_SKIP,
	WORKER_LABEL_DROPPED,
	WORKER_LABEL_REISSUED,
	WORKER_LABEL_UNDECODABLE,
	WORKER_LABEL_SIGNIN_CODE,
	WORKER_LABEL_SIGNIN_THROTTLED,
	WORKER_LABEL_SIGNIN_REFUSED,
	WORKER_LABEL_SIGNIN_NO_USER,
};

/* Why the worker holds a batch (waits, offsets do not move). */
enum worker_hold {
	WORKER_HOLD_POSTGRES, /* Postgres unavailable or failing */
	WORKER_HOLD_REGISTRY, /* a writer schema cannot be fetched now */
	WORKER_HOLD__COUNT
};

struct worker_stats {
	struct metric *requests; /* by outcome (enum worker_label) */
	struct metric *batches;
	struct metric *batch; /* a whole batch, decode to offsets */
	struct metric *commit; /* the transaction */
	struct metric *failed; /* requests that could not be stored */
	struct metric *dead_letters; /* by enum deadletter_reason */
	struct metric *holds; /* retries of a held batch, by enum worker_hold */
	struct metric *pruned; /* ledger rows pruned */
};

struct worker {
	const struct cfg *cfg; /* borrowed */
	struct events *ev; /* borrowed */
	struct pg_session pg;
	rd_kafka_t *consumer;
	rd_kafka_queue_t *queue;
	rd_kafka_t *producer;
	struct hashpool *hp;
	struct seal_keys keys;
	size_t batch_size;
	int batch_timeout_ms;
	char avatar_url[256];
	struct store_settings settings;
	struct worker_stats stats;
	const char *crash_point; /* OTPFLOW_TEST_CRASH_POINT, tests only */
	atomic_bool kafka_ok; /* the producer confirms (for /readyz) */
	atomic_bool registry_ok; /* writer schemas can be fetched */
	long long last_prune_ms; /* monotonic */
};

/*
 * A statement failed with class cls: the session takes it (logged, not
 * ready), then this waits until Postgres is usable again. False only on a
 * stop.
 */
bool worker_pg_failed(struct worker *w, enum pg_class cls, const char *what,
		      const char *errstr);

/*
 * The batch is held for the given cause (why: the error, logged once per
 * hold): /readyz says so and otpflow_worker_hold_retries_total counts it.
 * worker_hold_end ends it (a no-op when not held).
 */
void worker_hold(struct worker *w, enum worker_hold cause, const char *why);
void worker_hold_end(struct worker *w, enum worker_hold cause);

/* Test-only: dies like kill -9 when name is OTPFLOW_TEST_CRASH_POINT. */
void worker_crash_point(const struct worker *w, const char *name);

#endif
