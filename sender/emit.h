/*
 * Producing a job's outcome record (built by outcome.c) and following it to
 * its delivery report, the only proof it is stored. A produce that fails is
 * retried (never dropped), and nothing after the record in its partition
 * gets its offset stored meanwhile. After the report: a retry or a dead
 * letter finishes the job; an SmsSent waits for its 'sent' mark
 * (dispatch.c), so a 'sent' row always has its SmsSent.
 */
#ifndef OTPFLOW_SENDER_EMIT_H
#define OTPFLOW_SENDER_EMIT_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "job.h"

struct sender;

/* SmsSent for a job whose provider answered 2xx (att.msgid, att.sent_at). */
void emit_sent(struct sender *s, struct job *j);

/* The job's record, as consumed, to the retry topic, due at due_ms. */
void emit_retry(struct sender *s, struct job *j, int64_t due_ms);

/*
 * A dead letter with reason and message (outside text: the code is
 * scrubbed from it here). The job's number must already be released.
 */
void emit_dead(struct sender *s, struct job *j, enum dead_reason reason,
	       const char *message);

/* Produces again the outcomes whose retry time (monotonic) has come. */
void emit_retry_due(struct sender *s, int64_t now_mono);

/* The producer's delivery report callback (opaque: the sender). */
void emit_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
		      void *opaque);

#endif
