/*
 * The consumer side of the sender: each consumed record becomes a job
 * (decoded, checked, then queued behind its number, or put in the delay
 * heap while its retry time has not come, or dead-lettered UNDECODABLE
 * when its bytes are malformed). A record that cannot be decoded *now*
 * (its writer schema is not fetched yet and the registry does not answer)
 * is not malformed: it waits in the delay heap, backing off, and is
 * decoded again (docs/api.md §4, failure policy);
 * rebalances detach revoked partitions from offset tracking; consumption
 * pauses while too many records are held, while the provider refuses our
 * configuration, and for the drain.
 */
#ifndef OTPFLOW_SENDER_CONSUME_H
#define OTPFLOW_SENDER_CONSUME_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "job.h"

struct job;
struct sender;

/* Takes one consumed record (rkm stays the caller's). */
void consume_record(struct sender *s, const rd_kafka_message_t *rkm);

/*
 * Takes a job out of the delay heap whose time has come: a record that
 * waited for its writer schema is decoded again, a retry record joins its
 * number's queue.
 */
void consume_due(struct sender *s, struct job *j);

/* The consumer's rebalance callback (opaque: the sender). */
void consume_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		       rd_kafka_topic_partition_list_t *parts, void *opaque);

/* Pauses or resumes every assigned partition. */
void consume_pause(struct sender *s, bool paused);

/*
 * Pauses or resumes each topic as the drain, the configuration pause and
 * its own budget ask: records from sms-otp against OTPFLOW_SMS_MAX_PENDING,
 * records from sms-otp-retry (mostly waiting out their backoff) against
 * OTPFLOW_SMS_MAX_RETRY_PENDING, so waiting retries never hold fresh codes
 * back. Hysteresis: a topic resumes below half its budget.
 */
void consume_backpressure(struct sender *s);

/* Which budget a record of topic counts against. */
enum source consume_source(const struct sender *s, const char *topic);

#endif
