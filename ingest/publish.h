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
 * result (publisher_close).
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
 * Waits up to timeout_ms for queued records to be delivered (their done
 * callbacks run), stops the threads and destroys the producer. Returns
 * the number of records still undelivered (0 when everything was flushed).
 */
int publisher_close(struct publisher *p, int timeout_ms);

#endif
