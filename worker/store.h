/*
 * The worker's Postgres side: the one transaction per batch that records
 * request ids, creates users with ON CONFLICT (phone_number) DO NOTHING,
 * their roles, the issued codes and the outbox rows; re-issues; and the
 * outbox bookkeeping after publishing.
 */
#ifndef OTPFLOW_WORKER_STORE_H
#define OTPFLOW_WORKER_STORE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "batch.h"
#include "pg.h"

struct store_settings {
	const char *topic; /* where the outbox rows go (sms-otp) */
	bool disabled; /* AUTH_DISABLE_NEW_USERS */
	/* SIGNIN of an unknown number signs it up: neither
	 * AUTH_DISABLE_AUTO_SIGNUP nor AUTH_DISABLE_SIGNUP */
	bool auto_signup;
	const char *avatar_url; /* '' or the Gravatar URL */
	long long cooldown_ms; /* OTPFLOW_OTP_COOLDOWN (REISSUE, SIGNIN) */
	long long max_per_hour; /* OTPFLOW_OTP_MAX_PER_HOUR (per number) */
	long long ttl_ms; /* OTPFLOW_OTP_TTL */
};

/* True for the outcomes that issue a code (an OtpIssued to publish). */
static inline bool store_issues_code(enum outcome o)
{
	return o == OUTCOME_CREATED || o == OUTCOME_REISSUED ||
	       o == OUTCOME_SIGNIN_CODE;
}

/*
 * Encodes the OtpIssued record of an item that got a code into
 * it->value once its user_id and times are known (inside the transaction,
 * just before it commits). Returns 0 or -1.
 */
typedef int (*store_encode_fn)(void *arg, struct batch_item *it);

/*
 * Pre-filter outside any transaction: items already processed become
 * OUTCOME_SKIP, SIGNUP items whose number (as sent) is registered
 * OUTCOME_EXISTING, SIGNIN items of a disabled or anonymous user
 * OUTCOME_SIGNIN_REFUSED, so no code is hashed for them. The transaction
 * re-checks them.
 */
enum pg_class store_prefilter(PGconn *conn, struct batch_item *items, size_t n,
			      char *errstr, size_t errstr_size);

/*
 * The batch transaction (retried on serialization failures, deadlocks and
 * a concurrent worker's conflicting insert). On PG_OK every item has its
 * final outcome and the created/re-issued ones have outbox rows, their
 * codes stamped with the time the transaction ended (issued_at_ms,
 * expires_at_ms). Otherwise nothing happened; sqlstate holds the failed
 * statement's SQLSTATE ("" if none) and PG_DATA says it was of class 22 or
 * 23 (a unique violation that every rerun met again included).
 */
enum pg_class store_commit(PGconn *conn, struct batch_item *items, size_t n,
			   const struct store_settings *st,
			   store_encode_fn encode, void *encode_arg,
			   char sqlstate[6], char *errstr, size_t errstr_size);

/*
 * Records a request that cannot be stored (it failed alone, permanently,
 * and is dead-lettered) as 'dropped', so that its redelivery has no effect.
 */
enum pg_class store_record_dropped(PGconn *conn, const struct batch_item *it,
				   char *errstr, size_t errstr_size);

/* Deletes the outbox rows of delivered items (by otp_id). */
enum pg_class store_outbox_delete(PGconn *conn, const struct batch_item *items,
				  size_t n, char *errstr, size_t errstr_size);

/*
 * Loads up to max outbox rows at least min_age_ms old (oldest first) as
 * items with value, phone, otp_id, request_id and traceparent set; *n_out
 * is how many. The caller clears the items.
 */
enum pg_class store_outbox_load(PGconn *conn, struct batch_item *items,
				size_t max, long long min_age_ms, size_t *n_out,
				char *errstr, size_t errstr_size);

#endif
