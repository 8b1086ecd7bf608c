/*
 * One batch of signup-requests records as the worker sees it: each decoded
 * request and what the worker decided and produced for it (shared with the
 * SQL in store.c), and the stages a batch goes through between the
 * consumer and the stored offsets (worker.c's order of effects).
 */
#ifndef OTPFLOW_WORKER_BATCH_H
#define OTPFLOW_WORKER_BATCH_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "hashpool.h"
#include "ids.h"

enum outcome {
	OUTCOME_NONE, /* not decided yet */
	OUTCOME_SKIP, /* already processed (redelivery): no effect */
	OUTCOME_CREATED, /* new user, new code */
	OUTCOME_EXISTING, /* phone already registered: no effect */
	OUTCOME_DROPPED, /* REISSUE refused (verified, disabled, cooldown) */
	OUTCOME_REISSUED, /* REISSUE: the user got a fresh code */
	OUTCOME_SIGNIN_CODE, /* SIGNIN: an existing user got a new code */
	OUTCOME_SIGNIN_THROTTLED, /* SIGNIN: within the cooldown or cap */
	OUTCOME_SIGNIN_REFUSED, /* SIGNIN: the user is disabled/anonymous */
	OUTCOME_SIGNIN_NO_USER, /* SIGNIN: unknown number, no auto sign-up */
};

const char *batch_outcome_name(enum outcome o);

struct batch_item {
	const rd_kafka_message_t *rkm; /* the record (owned by the batch) */
	json_t *rec; /* owned: the decoded SignupRequested */
	const char *request_id; /* borrowed from rec */
	/* The E.164 form (phone_e164, or the normalised phone_number of a
	 * version 1 record): Kafka key, SMS destination and key of the
	 * per-number limits. Borrowed from rec. */
	const char *phone;
	/* The number as the client sent it: auth.users.phone_number. */
	const char *phone_stored;
	bool reissue;
	bool signin;
	bool signup_candidate; /* in this attempt's new-user statement */
	char traceparent[IDS_TRACEPARENT_SIZE]; /* for the OtpIssued record */
	char received_at[24]; /* the request's received_at, decimal ms */
	bool needs_code; /* a candidate for a new code */
	char user_id[IDS_UUID_SIZE];
	char otp_id[IDS_UUID_SIZE];
	struct hash_job job; /* the code and its bcrypt hash */
	char *sealed; /* owned: the sealed code, base64 */
	long long issued_at_ms, expires_at_ms; /* stamped at commit */
	void *value; /* owned: framed OtpIssued, when one is due */
	size_t value_len;
	enum outcome outcome;
	bool delivered; /* OtpIssued confirmed on the topic */
};

/* Frees what an item owns and wipes its code. */
void batch_item_clear(struct batch_item *it);

struct worker;
struct batch;

/*
 * Steps 1-3 up to the start of hashing (decode, dedup, pre-filter, codes
 * handed to the hash pool): takes over msgs[0..n), destroyed with the
 * batch (or here on failure). NULL only on a stop or when out of memory.
 */
struct batch *batch_prepare(struct worker *w, rd_kafka_message_t **msgs,
			    size_t n);

/*
 * Waits for the batch's hashes and encodes the OtpIssued records of new
 * users; false if a code could not be made.
 */
bool batch_finish_codes(struct batch *b);

/*
 * Steps 4-7: commit, publish, delete the outbox rows, store the offsets.
 * False only on a stop (or a fatal error).
 */
bool batch_finish(struct batch *b);

/* Frees a batch and its messages, wiping its codes. NULL-safe. */
void batch_free(struct batch *b);

#endif
