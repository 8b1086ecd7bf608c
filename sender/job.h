/*
 * A job: one consumed OtpIssued record on its way to exactly one outcome
 * record (SmsSent, a retry record or a dead letter) or, for a code already
 * sent, to nothing. Its parts: the record as consumed (struct job_record),
 * the state of its provider attempts (struct job_attempt) and the outcome
 * record it ends in (struct job_outcome), plus the links of the structures
 * holding it (every live job, its number's queue, the sent batch, the
 * produce-retry list).
 *
 * Ownership: a job owns its copy of the record's bytes and, while it
 * sends, the plaintext code (wiped as soon as the provider answered). It
 * holds its record's place in the partition's offset order until it
 * finishes (offset stored) or is abandoned (record redelivered).
 */
#ifndef OTPFLOW_SENDER_JOB_H
#define OTPFLOW_SENDER_JOB_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "log.h"
#include "offsets.h"
#include "phoneq.h"
#include "provider.h"
#include "seal.h"

#define JOB_ERROR_SIZE 512

/* Dead-letter reasons, in the order of the SmsDeadLetter enum. */
enum dead_reason {
	DEAD_PERMANENT,
	DEAD_EXPIRED,
	DEAD_EXHAUSTED,
	DEAD_CONFIG,
	DEAD_UNDECODABLE,
	DEAD_TAMPERED,
	DEAD__COUNT
};

/* Where a record came from: each source has its own budget of records
 * held in memory. */
enum source { SOURCE_FRESH, SOURCE_RETRY, SOURCE__COUNT };

/* The record as consumed, and what was read from it. */
struct job_record {
	const char *topic; /* the offset tracker's copy, lives with the job */
	enum source source; /* sms-otp or sms-otp-retry */
	int32_t partition;
	int64_t offset;
	void *raw; /* the value's bytes */
	size_t raw_len;
	bool decodable; /* raw is a valid OtpIssued */
	bool undecoded; /* waits for its writer schema (registry) */
	int decode_waits; /* times it had to wait so far */
	char phone[64]; /* the key: the normalised number */
	char request_id[64]; /* header request-id, else the record's */
	char traceparent[IDS_TRACEPARENT_SIZE];
	char rec_request_id[64]; /* the record's request_id field */
	char otp_id[IDS_UUID_SIZE + 8];
	char user_id[IDS_UUID_SIZE + 8];
	char locale[16];
	unsigned char sealed[SEAL_MAX_BYTES]; /* either version */
	size_t sealed_len;
	int64_t issued_at, expires_at; /* epoch ms */
	int64_t received_at; /* header: ingest received the request, or 0 */
	int64_t due_ms; /* retry record: not before this (epoch ms), or 0 */
};

/* Provider attempts: counters, the request in flight, the last answer. */
struct job_attempt {
	int attempts; /* provider attempts so far (retry header + ours) */
	int64_t first_attempt_at, last_attempt_at; /* epoch ms, 0: none */
	int64_t started_ms; /* this attempt's start (epoch ms) */
	char code[SEAL_CODE_DIGITS + 1]; /* plaintext while sending */
	struct provider_req req;
	bool probe; /* a probe while paused by a configuration error */
	int claim; /* enum claim (deliveries.h) of the last claim */
	int busy_waits; /* claims refused: another sender held the lease */
	long http_status; /* of the last answer, 0 without one */
	char provider_code[32];
	char error[JOB_ERROR_SIZE];
	char msgid[PROVIDER_MSGID_SIZE]; /* after a 2xx */
	int64_t sent_at; /* the 2xx (epoch ms) */
};

enum job_out { JOB_OUT_NONE, JOB_OUT_SENT, JOB_OUT_RETRY, JOB_OUT_DEAD };

/* The outcome record, kept encoded until its delivery report. */
struct job_outcome {
	enum job_out kind;
	enum dead_reason reason;
	const char *topic;
	void *value;
	size_t len;
	rd_kafka_headers_t *hdrs; /* copied for each produce attempt */
	int64_t produce_due; /* monotonic ms of the next produce attempt */
};

struct sender;

struct job {
	struct sender *s;
	struct job *aprev, *anext; /* every live job */
	struct offsets_entry *oe; /* place in the partition's order */
	struct phoneq_link ql; /* the number's queue */
	struct job *bnext; /* answered 2xx, 'sent' not recorded yet */
	struct job *rnext; /* outcome waiting for another produce */
	struct job_record rec;
	struct job_attempt att;
	struct job_outcome out;
};

/* The job whose queue link is l. */
static inline struct job *job_of_link(struct phoneq_link *l)
{
	return (struct job *)((char *)l - offsetof(struct job, ql));
}

/*
 * A new job for the consumed message rkm of s: the record's bytes, key and
 * headers copied, its place appended to the partition's offset order, the
 * job counted as pending. NULL when out of memory. Owned by s's job list
 * until job_finish / job_abandon / job_free.
 */
struct job *job_new(struct sender *s, const rd_kafka_message_t *rkm);

/*
 * Fills rec from a decoded OtpIssued (otp, borrowed). Returns 0, or -1
 * with the reason in why when the record is unusable (a missing or invalid
 * id, a number that is not normalised E.164, a sealed code of the wrong
 * size). Pure.
 */
int job_parse(struct job_record *rec, const json_t *otp, char *why,
	      size_t why_size);

/* Frees the job (its request, code, record and outcome); no offset. */
void job_free(struct job *j);

/* The record's effects are durable: frees the job, stores its offset
 * when the records before it are done too. */
void job_finish(struct job *j);

/* Frees a job whose record will be redelivered (drain, revocation). */
void job_abandon(struct job *j);

/*
 * One log line about the job with its context (topic, partition, offset,
 * otp_id, request_id, masked phone, attempts) and up to two extra
 * key/value pairs (k1/k2 may be NULL).
 */
void job_log(enum log_level lvl, const struct job *j, const char *event,
	     const char *k1, const char *v1, const char *k2, const char *v2);

#endif
