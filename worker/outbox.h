/*
 * Publishing OtpIssued records to sms-otp: a batch's items after their
 * commit, and the outbox rows a crash or a lost acknowledgement left
 * behind. The delivery report is the only proof that a record is stored;
 * the rows are deleted only after it.
 */
#ifndef OTPFLOW_WORKER_OUTBOX_H
#define OTPFLOW_WORKER_OUTBOX_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "batch.h"

struct worker;

/* The producer's delivery report callback (opaque: the struct worker). */
void outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque);

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
