/*
 * Publishing OtpIssued records to sms-otp: a batch's items after their
 * commit, and the outbox rows a crash or a lost acknowledgement left
 * behind. The delivery report is the only proof that a record is stored;
 * the rows are deleted only after it. The same wait-until-delivered loop
 * publishes the worker's dead letters.
 */
#ifndef OTPFLOW_WORKER_OUTBOX_H
#define OTPFLOW_WORKER_OUTBOX_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "batch.h"

struct worker;

/*
 * The producer's delivery report callback. Every message the worker
 * produces has as its opaque the bool that says it was delivered.
 */
void outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque);

/*
 * Produces record i of a set, its message opaque pointing to the record's
 * delivered flag; returns librdkafka's error (QUEUE_FULL: tried again).
 */
typedef rd_kafka_resp_err_t (*outbox_produce_fn)(struct worker *w, void *set,
						 size_t i);

/* Whether record i of a set still waits for its delivery. */
typedef bool (*outbox_pending_fn)(const void *set, size_t i);

/*
 * Publishes the pending records of a set of n and waits until every one is
 * delivered, producing the failed ones again with backoff (/readyz says so
 * meanwhile); false only on a stop (then nothing points into the set any
 * more).
 */
bool outbox_publish_set(struct worker *w, void *set, size_t n,
			outbox_produce_fn produce, outbox_pending_fn pending);

/*
 * Publishes the created and re-issued items of items[0..n) and waits until
 * every one is delivered, retrying failures; false only on a stop (then
 * nothing points into items any more).
 */
bool outbox_publish(struct worker *w, struct batch_item *items, size_t n);

/*
 * Publishes and deletes every outbox row at least min_age_ms old; false
 * only on a stop.
 */
bool outbox_drain(struct worker *w, long long min_age_ms);

#endif
