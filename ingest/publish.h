/*
 * Ingest's Kafka side: one idempotent producer shared by all HTTP threads,
 * a thread serving its delivery reports, and the readiness view used by
 * /readyz. A record counts as accepted only when its delivery report says
 * so; publish_done_fn is called exactly once for every queued record.
 */
#ifndef OTPFLOW_INGEST_PUBLISH_H
#define OTPFLOW_INGEST_PUBLISH_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Called from the delivery-report thread with the record's opaque. */
typedef void (*publish_done_fn)(void *opaque, rd_kafka_resp_err_t err);

struct publisher;

/*
 * Creates the producer (message timeout = OTPFLOW_ACCEPT_TIMEOUT_MS) and
 * starts its threads. Returns NULL with errstr on failure; caller owns the
 * result (publisher_close, then publisher_free).
 */
struct publisher *publisher_new(const struct cfg *cfg, publish_done_fn done,
				char *errstr, size_t errstr_size);

/*
 * Queues one record: key, value and the request-id and traceparent
 * headers are copied. Returns RD_KAFKA_RESP_ERR_NO_ERROR when queued (done
 * follows), otherwise the reason it was not queued (queue full, fatal
 * producer); then done is not called. Thread-safe.
 */
rd_kafka_resp_err_t publisher_send(struct publisher *p, const char *topic,
				   const char *key, const void *value,
				   size_t len, const char *request_id,
				   const char *traceparent, void *opaque);

/* True while the producer is not fatal and the cluster answered lately. */
bool publisher_ready(const struct publisher *p);

/* True once the producer hit a fatal error (the daemon must restart). */
bool publisher_fatal(const struct publisher *p);

/*
 * From now on publisher_send queues nothing (RD_KAFKA_RESP_ERR__STATE);
 * waits up to timeout_ms for queued records to be delivered, then purges
 * the rest, so that every queued record's done callback has run when it
 * returns; stops the threads. Thread-safe against publisher_send. Returns
 * the number of records that were still undelivered.
 */
int publisher_close(struct publisher *p, int timeout_ms);

/*
 * Destroys the producer and frees p, once nothing can call publisher_send
 * any more (the HTTP server is stopped). NULL-safe.
 */
void publisher_free(struct publisher *p);

#endif
