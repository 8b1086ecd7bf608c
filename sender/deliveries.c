/*
 * otpflow.sms_deliveries statements (see deliveries.h). Batches travel as
 * array parameters unnested server-side: one round trip per turn however
 * many codes it claims or marks.
 */
#include "deliveries.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "outcome.h"

#define ARRAY_MAX (64u << 20) /* cap of one array parameter */
#define ERR_SIZE 512

static void add_int(struct pg_array *a, int v)
{
	char text[16];

	snprintf(text, sizeof(text), "%d", v);
	pg_array_add(a, text);
}

/*
 * t: the batch; c: the rows claimed. Rows not claimed are 'sent' (skip) or
 * leased to another sender, or were inserted by a concurrent claim (busy:
 * try again). The outer SELECT sees the rows as they were before this
 * statement.
 */
static const char claim_sql[] =
	"WITH t AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $4::int[]) "
	"AS t(o, u, a)), c AS (INSERT INTO otpflow.sms_deliveries AS d "
	"(otp_id, user_id, status, provider, attempts, lease_owner, "
	"lease_until) SELECT t.o, t.u, 'sending', $3, t.a, $5, now() + "
	"$6::bigint * interval '1 millisecond' FROM t ON CONFLICT (otp_id) DO "
	"UPDATE SET status = 'sending', provider = EXCLUDED.provider, "
	"attempts = EXCLUDED.attempts, reason = NULL, updated_at = now(), "
	"lease_owner = EXCLUDED.lease_owner, lease_until = "
	"EXCLUDED.lease_until WHERE d.status <> 'sent' AND (d.status <> "
	"'sending' OR d.lease_until IS NULL OR d.lease_until < now() OR "
	"d.lease_owner = EXCLUDED.lease_owner) RETURNING d.otp_id) "
	"SELECT t.o::text, c.otp_id IS NOT NULL, coalesce(d.status, '') "
	"FROM t LEFT JOIN c ON c.otp_id = t.o "
	"LEFT JOIN otpflow.sms_deliveries d ON d.otp_id = t.o";

int deliveries_claim(struct pg_session *db, const char *provider,
		     const char *owner, int64_t lease_ms, struct job **jobs,
		     size_t n)
{
	struct pg_array ids, users, atts;
	const char *p[6];
	char errstr[ERR_SIZE], lease[24];
	PGresult *res = NULL;
	int rc = -1;

	if (!n)
		return 0;
	pg_array_init(&ids, ARRAY_MAX);
	pg_array_init(&users, ARRAY_MAX);
	pg_array_init(&atts, ARRAY_MAX);
	for (size_t i = 0; i < n; i++) {
		jobs[i]->att.claim = CLAIM_BUSY;
		pg_array_add(&ids, jobs[i]->rec.otp_id);
		pg_array_add(&users, jobs[i]->rec.user_id);
		add_int(&atts, jobs[i]->att.attempts + 1);
	}
	snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
	p[0] = pg_array_text(&ids);
	p[1] = pg_array_text(&users);
	p[2] = provider;
	p[3] = pg_array_text(&atts);
	p[4] = owner;
	p[5] = lease;
	if (!p[0] || !p[1] || !p[3])
		goto out; /* cannot happen: n <= max in flight */
	if (pg_session_exec(db, claim_sql, 6, p, &res, errstr,
			    sizeof(errstr)) != PG_OK)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *id = PQgetvalue(res, r, 0);
		bool claimed = strcmp(PQgetvalue(res, r, 1), "t") == 0;
		bool sent = strcmp(PQgetvalue(res, r, 2), "sent") == 0;

		for (size_t i = 0; i < n; i++)
			if (strcmp(jobs[i]->rec.otp_id, id) == 0)
				jobs[i]->att.claim = claimed ? CLAIM_SEND :
						     sent    ? CLAIM_SENT :
							       CLAIM_BUSY;
	}
	rc = 0;
out:
	PQclear(res);
	pg_array_free(&ids);
	pg_array_free(&users);
	pg_array_free(&atts);
	return rc;
}

bool deliveries_release(struct pg_session *db, const char *owner,
			const struct job *j)
{
	char errstr[ERR_SIZE];
	const char *p[] = { j->rec.otp_id, owner };

	return pg_session_exec(db,
			       "UPDATE otpflow.sms_deliveries SET lease_until "
			       "= NULL, updated_at = now() WHERE otp_id = $1 "
			       "AND status = 'sending' AND lease_owner = $2",
			       2, p, NULL, errstr, sizeof(errstr)) == PG_OK;
}

bool deliveries_mark_sent(struct pg_session *db, struct job *list)
{
	struct pg_array ids, msgids, atts;
	const char *p[3];
	char errstr[ERR_SIZE];
	bool ok = false;

	pg_array_init(&ids, ARRAY_MAX);
	pg_array_init(&msgids, ARRAY_MAX);
	pg_array_init(&atts, ARRAY_MAX);
	for (struct job *j = list; j; j = j->bnext) {
		pg_array_add(&ids, j->rec.otp_id);
		pg_array_add(&msgids, j->att.msgid);
		add_int(&atts, j->att.attempts);
	}
	p[0] = pg_array_text(&ids);
	p[1] = pg_array_text(&msgids);
	p[2] = pg_array_text(&atts);
	if (p[0] && p[1] && p[2])
		ok = pg_session_exec(
			     db,
			     "UPDATE otpflow.sms_deliveries AS d SET status = "
			     "'sent', provider_message_id = t.m, attempts = "
			     "t.a, reason = NULL, updated_at = now() FROM "
			     "unnest($1::uuid[], $2::text[], $3::int[]) AS "
			     "t(o, m, a) WHERE d.otp_id = t.o",
			     3, p, NULL, errstr, sizeof(errstr)) == PG_OK;
	pg_array_free(&ids);
	pg_array_free(&msgids);
	pg_array_free(&atts);
	return ok;
}

bool deliveries_mark_dead(struct pg_session *db, const char *provider,
			  const struct job *j)
{
	char att[16], errstr[ERR_SIZE];
	const char *p[] = { j->rec.otp_id, j->rec.user_id, provider, att,
			    outcome_dead_reasons[j->out.reason] };

	snprintf(att, sizeof(att), "%d", j->att.attempts);
	return pg_session_exec(
		       db,
		       "INSERT INTO otpflow.sms_deliveries AS d (otp_id, "
		       "user_id, status, provider, attempts, reason) VALUES "
		       "($1, $2, 'dead_lettered', $3, $4, $5) ON CONFLICT "
		       "(otp_id) DO UPDATE SET status = 'dead_lettered', "
		       "attempts = EXCLUDED.attempts, reason = "
		       "EXCLUDED.reason, updated_at = now() WHERE d.status <> "
		       "'sent'",
		       5, p, NULL, errstr, sizeof(errstr)) == PG_OK;
}

int deliveries_prune(struct pg_session *db, int64_t retention_ms)
{
	char errstr[ERR_SIZE];
	long long deleted = 0;
	enum pg_class cls;

	if (!pg_session_connect(db))
		return -1;
	cls = ledger_prune(db->conn, "otpflow.sms_deliveries", "updated_at",
			   retention_ms, &deleted, errstr, sizeof(errstr));
	if (cls != PG_OK) {
		pg_session_failed(db, cls, "prune", errstr);
		return -1;
	}
	return (int)deleted;
}
