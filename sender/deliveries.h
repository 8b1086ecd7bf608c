/*
 * The sender's ledger in Postgres (otpflow.sms_deliveries, one row per
 * otp_id): the claim written before a provider request ('sending'; a row
 * already 'sent' refuses it, so a redelivered code is not sent twice) and
 * the marks written after ('sent', 'dead_lettered'). Every statement goes
 * through the engine's pg_session (reconnect, backoff, readiness); a
 * failed statement leaves the rows as they were.
 */
#ifndef OTPFLOW_SENDER_DELIVERIES_H
#define OTPFLOW_SENDER_DELIVERIES_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"
#include "pg.h"

/*
 * Claims the otp_ids of n jobs in one statement (one commit): sets each
 * jobs[i]->att.claim to 1 (send it) or 0 (already sent: skip). Returns 0,
 * or -1 when Postgres failed (nothing claimed).
 */
int deliveries_claim(struct pg_session *db, const char *provider,
		     struct job **jobs, size_t n);

/* Records every job of the list (linked by bnext) as 'sent' with its
 * message id and attempts, in one statement. false when it failed. */
bool deliveries_mark_sent(struct pg_session *db, struct job *list);

/* Records a dead-lettered (decodable) job as 'dead_lettered' with its
 * reason, unless its row says 'sent'. false when it failed. */
bool deliveries_mark_dead(struct pg_session *db, const char *provider,
			  const struct job *j);

#endif
