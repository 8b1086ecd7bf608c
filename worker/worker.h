/*
 * The worker's main loop: consume a batch of signup-requests, decide and
 * hash codes, commit everything in one Postgres transaction, publish the
 * outbox to sms-otp, delete it on delivery, and only then store the
 * consumer offsets. Every accepted request has exactly one effect across
 * crashes and redeliveries.
 */
#ifndef OTPFLOW_WORKER_WORKER_H
#define OTPFLOW_WORKER_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "events.h"

struct worker;

/*
 * The daemon kit's create step: the Kafka clients and the hash pool, then
 * Postgres (waiting while it is unavailable) and the migrations. Borrows
 * cfg and ev. DAEMON_EXIT_OK with *state the new struct worker, else
 * DAEMON_EXIT_CONFIG (a setting) or DAEMON_EXIT_FAILED (a stop signal,
 * failed migrations) with errstr.
 */
int worker_new(const struct cfg *cfg, struct events *ev, void **state,
	       char *errstr, size_t errstr_size);

/*
 * Publishes outbox rows left by an earlier run, then processes batches
 * until a stop signal. Returns the exit status (0 after a clean drain).
 */
int worker_run(void *w);

/*
 * True while Kafka and Postgres answer (for /readyz); otherwise a reason
 * in why. Thread-safe (admin_ready_fn).
 */
bool worker_ready(void *w, char *why, size_t why_size);

/* Closes the consumer (committing stored offsets) and the producer, each
 * within a bound, and frees everything. NULL-safe. */
void worker_free(void *w);

#endif
