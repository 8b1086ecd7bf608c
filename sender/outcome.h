/*
 * The outcome records of a job, built (not produced): the SmsSent and
 * SmsDeadLetter values in events.h's JSON form, and the Kafka headers of
 * every outcome (docs/api.md §2.2, §2.3). Pure functions of the job's
 * record and attempt state; emit.c encodes and produces what they build.
 */
#ifndef OTPFLOW_SENDER_OUTCOME_H
#define OTPFLOW_SENDER_OUTCOME_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "job.h"

/* Most bytes of an undecodable value kept in a dead letter: with the rest
 * of the record it stays well within a topic's default 1 MB limit. */
#define OUTCOME_RAW_MAX (512u * 1024)

/* The SmsDeadLetter reason symbols, indexed by enum dead_reason, NULL
 * after the last (static storage). */
extern const char *const outcome_dead_reasons[DEAD__COUNT + 1];

/*
 * The SmsSent value of a job whose provider answered 2xx (att->msgid,
 * att->sent_at). New reference owned by the caller; NULL only when out of
 * memory.
 */
json_t *outcome_sent(const struct job_record *rec,
		     const struct job_attempt *att, const char *provider);

/*
 * The SmsDeadLetter value: otp is the decoded OtpIssued (reference stolen;
 * NULL for an undecodable record, whose bytes then go into raw_value, cut
 * to OUTCOME_RAW_MAX, with the whole value's length and SHA-256), message
 * the error text (outside text already made safe: scrub.h). New reference
 * owned by the caller; NULL only when out of memory.
 */
json_t *outcome_dead(const struct job_record *rec,
		     const struct job_attempt *att, json_t *otp,
		     enum dead_reason reason, const char *provider,
		     const char *message);

/*
 * New headers for an outcome of rec: request-id and a child traceparent.
 * The caller owns them (rd_kafka_headers_destroy or hand them to a
 * produce call).
 */
rd_kafka_headers_t *outcome_headers(const struct job_record *rec);

/* Adds the retry headers (Spring's attempts and backoff, our first
 * attempt, ingest's received-at) for a retry due at due_ms. */
void outcome_headers_retry(rd_kafka_headers_t *h, const struct job_record *rec,
			   const struct job_attempt *att, int64_t due_ms);

/* Adds the dead-letter headers (Spring's original coordinates and the
 * exception message). */
void outcome_headers_dead(rd_kafka_headers_t *h, const struct job_record *rec,
			  const char *message);

#endif
