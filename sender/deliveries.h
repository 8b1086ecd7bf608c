/*
 * The sender's ledger in Postgres (otpflow.sms_deliveries, one row per
 * otp_id): the claim written before a provider request ('sending', a
 * lease held by one sender; a row already 'sent' refuses it, so a
 * redelivered code is not sent twice, and a live lease of another sender
 * refuses it, so a rebalance does not double an SMS) and the marks
 * written after ('sent', 'dead_lettered'). Every statement goes
 * through the engine's pg_session (reconnect, backoff, readiness); a
 * failed statement leaves the rows as they were.
 */
#ifndef OTPFLOW_SENDER_DELIVERIES_H
#define OTPFLOW_SENDER_DELIVERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "pg.h"

/* The outcome of one claim (job_attempt.claim). */
enum claim {
	CLAIM_SEND, /* ours: send it */
	CLAIM_SENT, /* already sent: skip it */
	CLAIM_BUSY, /* another sender holds a live lease: try again later */
};

/*
 * Claims the otp_ids of n jobs in one statement (one commit), each as a
 * lease of lease_ms held by owner: sets each jobs[i]->att.claim. A row
 * 'sent' refuses the claim (CLAIM_SENT); a row 'sending' whose lease is
 * live and held by another owner refuses it too (CLAIM_BUSY). Returns 0,
 * or -1 when Postgres failed (nothing claimed).
 */
int deliveries_claim(struct pg_session *db, const char *provider,
		     const char *owner, int64_t lease_ms, struct job **jobs,
		     size_t n);

/* Gives up owner's lease on the job's code (a retry record carries it on:
 * whoever takes the retry may claim it at once). false when it failed. */
bool deliveries_release(struct pg_session *db, const char *owner,
			const struct job *j);

/* Records every job of the list (linked by bnext) as 'sent' with its
 * message id and attempts, in one statement. false when it failed. */
bool deliveries_mark_sent(struct pg_session *db, struct job *list);

/* Records a dead-lettered (decodable) job as 'dead_lettered' with its
 * reason, unless its row says 'sent'. false when it failed. */
bool deliveries_mark_dead(struct pg_session *db, const char *provider,
			  const struct job *j);

/*
 * Deletes up to LEDGER_PRUNE_BATCH rows last updated more than
 * retention_ms ago (common/ledger.c; rows another sender is deleting are
 * skipped). Returns the rows deleted, or -1 when Postgres failed.
 */
int deliveries_prune(struct pg_session *db, int64_t retention_ms);

#endif
