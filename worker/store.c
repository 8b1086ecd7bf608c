/*
 * Worker SQL. A batch is passed as parallel arrays (one parameter each) and
 * unnested server-side, so a batch of hundreds of requests costs a handful
 * of round trips: the user rows, roles, issued codes, outbox rows and
 * processed-request records of the new users are one statement of
 * data-modifying CTEs.
 *
 * Codes are stamped last: the rows are written with placeholder times
 * (and the outbox rows without their record), then the transaction reads
 * the clock, the OtpIssued records are encoded with that time and one
 * statement sets it everywhere, just before COMMIT. Whatever the
 * transaction waited for before (a lock, a slow disk), the code's validity
 * starts when it commits, and the row and the event agree.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "headers.h"
#include "ids.h"

#define ARRAY_MAX (64u << 20) /* bytes per array parameter */
#define TXN_ATTEMPTS 5

/* SQLSTATE of the last statement run() saw fail (store_commit reports it);
 * the worker's store runs on one thread, like errno. */
static _Thread_local char failed_state[6];

/* Runs a statement with text parameters; PG_OK or the failure's class. */
static enum pg_class run(PGconn *conn, const char *sql, int nparams,
			 const char *const *params, PGresult **res_out,
			 char *errstr, size_t errstr_size)
{
	char state[6];
	enum pg_class cls = pg_exec_params(conn, sql, nparams, params, res_out,
					   state, errstr, errstr_size);

	/* A concurrent worker recorded the same request first: the rerun
	 * will see it as processed. */
	if (cls != PG_OK)
		memcpy(failed_state, state, sizeof(failed_state));
	if (cls != PG_OK && strcmp(state, "23505") == 0)
		cls = PG_RETRY_TXN;
	return cls;
}

/* Closes n arrays into the first n parameters; false if one overflowed. */
static bool arrays_to_params(struct pg_array *a, int n, const char **params,
			     char *errstr, size_t errstr_size)
{
	for (int k = 0; k < n; k++) {
		params[k] = pg_array_text(&a[k]);
		if (!params[k]) {
			snprintf(errstr, errstr_size, "batch too large");
			return false;
		}
	}
	return true;
}

static void arrays_free(struct pg_array *a, int n)
{
	for (int k = 0; k < n; k++)
		pg_array_free(&a[k]);
}

static void fmt_ts(long long ms, char *out, size_t size)
{
	/* Postgres accepts epoch seconds through to_timestamp; ISO is simpler
	 * to read in logs, so write UTC ISO-8601 with milliseconds. */
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, size, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00",
		 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char *str(const struct batch_item *it, const char *field)
{
	return json_string_value(json_object_get(it->rec, field));
}

/* JSON text of the outbox headers of an item (caller frees). */
static char *headers_json(const struct batch_item *it)
{
	json_t *h = json_pack("{s:s,s:s,s:s}", HDR_REQUEST_ID, it->request_id,
			      HDR_TRACEPARENT, it->traceparent, HDR_RECEIVED_AT,
			      it->received_at);
	char *text = h ? json_dumps(h, JSON_COMPACT) : NULL;

	json_decref(h);
	return text;
}

/* Items whose request is recorded as processed become OUTCOME_SKIP. */
static enum pg_class mark_processed(PGconn *conn, struct batch_item *items,
				    size_t n, char *errstr, size_t errstr_size)
{
	struct pg_array ids;
	PGresult *res = NULL;
	const char *params[1];
	enum pg_class cls;

	pg_array_init(&ids, ARRAY_MAX);
	for (size_t i = 0; i < n; i++)
		pg_array_add(&ids, items[i].request_id);
	params[0] = pg_array_text(&ids);
	cls = run(conn,
		  "SELECT request_id::text FROM otpflow.processed_requests "
		  "WHERE request_id = ANY($1::uuid[])",
		  1, params, &res, errstr, errstr_size);
	for (int r = 0; cls == PG_OK && r < PQntuples(res); r++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(items[i].request_id,
				   PQgetvalue(res, r, 0)) == 0)
				items[i].outcome = OUTCOME_SKIP;
	PQclear(res);
	pg_array_free(&ids);
	return cls;
}

/* What the pre-filter concludes for an undecided item whose number is
 * registered (refused: the user is disabled or anonymous). */
static void prefilter_registered(struct batch_item *it, bool refused)
{
	if (it->outcome != OUTCOME_NONE || it->reissue)
		return;
	if (!it->signin)
		it->outcome = OUTCOME_EXISTING;
	else if (refused) /* a state that does not change by itself */
		it->outcome = OUTCOME_SIGNIN_REFUSED;
}

enum pg_class store_prefilter(PGconn *conn, struct batch_item *items, size_t n,
			      char *errstr, size_t errstr_size)
{
	struct pg_array phones;
	PGresult *res = NULL;
	enum pg_class cls;
	const char *params[1];

	cls = mark_processed(conn, items, n, errstr, errstr_size);
	if (cls != PG_OK)
		return cls;
	pg_array_init(&phones, ARRAY_MAX);
	for (size_t i = 0; i < n; i++)
		pg_array_add(&phones, items[i].phone_stored);
	params[0] = pg_array_text(&phones);
	cls = run(conn,
		  "SELECT phone_number, coalesce(disabled OR is_anonymous, "
		  "  false)::text "
		  "FROM auth.users WHERE phone_number = ANY($1::text[])",
		  1, params, &res, errstr, errstr_size);
	for (int r = 0; cls == PG_OK && r < PQntuples(res); r++)
		for (size_t i = 0; i < n; i++)
			if (strcmp(items[i].phone_stored,
				   PQgetvalue(res, r, 0)) == 0)
				prefilter_registered(
					&items[i], strcmp(PQgetvalue(res, r, 1),
							  "true") == 0);
	PQclear(res);
	pg_array_free(&phones);
	return cls;
}

struct commit_ctx {
	struct batch_item *items;
	size_t n;
	const struct store_settings *st;
	store_encode_fn encode;
	void *encode_arg;
	enum outcome before[]; /* outcomes at entry, restored on rerun */
};

/*
 * The per-number limits of a new code for an existing user, as a WHERE
 * fragment: no code for the E.164 number ($5) within the cooldown ($3),
 * fewer than $4 in the last hour. (Spellings of one number are users of
 * their own but one destination: the limits are the destination's.)
 */
#define LIMITS_SQL                                              \
	"  AND NOT EXISTS (SELECT 1 FROM otpflow.otp_issuance " \
	"    WHERE phone_number = $5 "                          \
	"      AND issued_at > now() - $3::interval) "          \
	"  AND (SELECT count(*) FROM otpflow.otp_issuance "     \
	"    WHERE phone_number = $5 "                          \
	"      AND issued_at > now() - interval '1 hour') < $4::int "

/* The text parameters $3 and $4 of LIMITS_SQL. */
static void limit_params(const struct store_settings *st, char cooldown[32],
			 char maxh[32])
{
	snprintf(cooldown, 32, "%lld milliseconds", st->cooldown_ms);
	snprintf(maxh, 32, "%lld", st->max_per_hour);
}

/* REISSUE: rotate the code of an unverified, enabled user within limits. */
static enum pg_class reissue(PGconn *conn, struct batch_item *it,
			     const struct commit_ctx *c, char *errstr,
			     size_t errstr_size)
{
	char cooldown[32], maxh[32];
	const char *params[5] = { it->phone_stored, it->job.hash, cooldown,
				  maxh, it->phone };
	PGresult *res = NULL;
	enum pg_class cls;

	limit_params(c->st, cooldown, maxh);
	/* otp_hash_expires_at is stamped at the end (stamp()). */
	cls = run(conn,
		  "UPDATE auth.users SET otp_hash = $2, "
		  "  otp_hash_expires_at = now(), "
		  "  otp_method_last_used = 'sms' "
		  "WHERE phone_number = $1 AND NOT phone_number_verified "
		  "  AND NOT disabled " LIMITS_SQL "RETURNING id::text",
		  5, params, &res, errstr, errstr_size);
	if (cls != PG_OK)
		return cls;
	if (PQntuples(res) == 1) {
		snprintf(it->user_id, sizeof(it->user_id), "%s",
			 PQgetvalue(res, 0, 0));
		it->outcome = OUTCOME_REISSUED;
	} else {
		it->outcome = OUTCOME_DROPPED;
	}
	PQclear(res);
	return PG_OK;
}

/*
 * SIGNIN (docs/api.md §3): an enabled, non-anonymous user, verified or not,
 * gets a new code within the number's limits; the issuance row is written
 * by the same statement (times stamped at the end), so a second sign-in of
 * the number in this batch sees it. The third column says what happened
 * when nothing was updated; no row at all: the number is unknown.
 */
static const char signin_sql[] =
	"WITH u AS ("
	"  UPDATE auth.users SET otp_hash = $2, "
	"    otp_hash_expires_at = now(), "
	"    otp_method_last_used = 'sms' "
	"  WHERE phone_number = $1 AND NOT coalesce(disabled, false) "
	"    AND NOT coalesce(is_anonymous, false) " LIMITS_SQL
	"  RETURNING id, locale"
	"), i AS ("
	"  INSERT INTO otpflow.otp_issuance (otp_id, user_id, phone_number,"
	"    request_id, issued_at, expires_at)"
	"  SELECT $6::uuid, id, $5, $7::uuid, now(), now() FROM u"
	") "
	"SELECT id::text, coalesce(locale, ''), 'code' FROM u "
	"UNION ALL "
	"SELECT id::text, coalesce(locale, ''),"
	"  CASE WHEN coalesce(disabled OR is_anonymous, false) THEN 'refused'"
	"  ELSE 'throttled' END "
	"FROM auth.users WHERE phone_number = $1 AND NOT EXISTS (SELECT 1 FROM u)";

static enum pg_class signin(PGconn *conn, struct batch_item *it,
			    const struct commit_ctx *c, char *errstr,
			    size_t errstr_size)
{
	char cooldown[32], maxh[32];
	const char *params[7] = { it->phone_stored, it->job.hash,
				  cooldown,	    maxh,
				  it->phone,	    it->otp_id,
				  it->request_id };
	PGresult *res = NULL;
	const char *what;
	enum pg_class cls;

	limit_params(c->st, cooldown, maxh);
	cls = run(conn, signin_sql, 7, params, &res, errstr, errstr_size);
	if (cls != PG_OK)
		return cls;
	if (PQntuples(res) == 0) {
		/* Unknown number: signed up like a SIGNUP (the new-user
		 * statement decides, ON CONFLICT included), or nothing. */
		if (c->st->auto_signup)
			ids_uuid_v4(it->user_id);
		else
			it->outcome = OUTCOME_SIGNIN_NO_USER;
		goto out;
	}
	what = PQgetvalue(res, 0, 2);
	if (strcmp(what, "code") != 0) {
		it->outcome = strcmp(what, "refused") == 0 ?
				      OUTCOME_SIGNIN_REFUSED :
				      OUTCOME_SIGNIN_THROTTLED;
		goto out;
	}
	snprintf(it->user_id, sizeof(it->user_id), "%s", PQgetvalue(res, 0, 0));
	/* The code goes out in the user's stored locale. */
	if (*PQgetvalue(res, 0, 1))
		json_object_set_new(it->rec, "locale",
				    json_string(PQgetvalue(res, 0, 1)));
	it->outcome = OUTCOME_SIGNIN_CODE;
out:
	PQclear(res);
	return cls;
}

/*
 * New users. Times and the outbox record are placeholders until stamp().
 * A number spelled another way is another user (as in Nhost) but the same
 * E.164 destination: a candidate whose number already got
 * OTPFLOW_OTP_MAX_PER_HOUR ($16) codes in the hour is capped (no user, no
 * code, 'dropped'), so spellings cannot multiply the SMS one number gets.
 * The answer holds every candidate with its outcome.
 */
static const char create_sql[] =
	"WITH c0 AS ("
	"  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
	"    $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::uuid[],"
	"    $10::text[], $11::jsonb[], $15::text[])"
	"  AS c(request_id, user_id, phone, display_name, locale, default_role,"
	"    metadata, otp_hash, otp_id, roles, headers, e164)"
	"), c AS ("
	"  SELECT c0.*, (SELECT count(*) FROM otpflow.otp_issuance n"
	"    WHERE n.phone_number = c0.e164"
	"      AND n.issued_at > now() - interval '1 hour') >= $16::int"
	"    AND NOT EXISTS (SELECT 1 FROM auth.users u"
	"      WHERE u.phone_number = c0.phone) AS capped"
	"  FROM c0"
	"), ins AS ("
	"  INSERT INTO auth.users (id, phone_number, display_name, locale,"
	"    default_role, metadata, disabled, avatar_url, otp_hash,"
	"    otp_hash_expires_at, otp_method_last_used, ticket_expires_at,"
	"    email_verified)"
	"  SELECT user_id, phone, display_name, locale, default_role, metadata,"
	"    $12::boolean, $13, otp_hash, now(), 'sms', now(), false"
	"  FROM c WHERE NOT capped"
	"  ON CONFLICT (phone_number) DO NOTHING RETURNING id"
	"), r AS ("
	"  INSERT INTO auth.user_roles (user_id, role)"
	"  SELECT c.user_id, role FROM c JOIN ins ON ins.id = c.user_id"
	"  CROSS JOIN LATERAL unnest(string_to_array(c.roles, ',')) AS role"
	"), i AS ("
	"  INSERT INTO otpflow.otp_issuance (otp_id, user_id, phone_number,"
	"    request_id, issued_at, expires_at)"
	"  SELECT c.otp_id, c.user_id, c.e164, c.request_id, now(), now()"
	"  FROM c JOIN ins ON ins.id = c.user_id"
	"), o AS ("
	"  INSERT INTO otpflow.outbox (topic, key, value, headers, otp_id)"
	"  SELECT $14, c.e164, '', c.headers, c.otp_id"
	"  FROM c JOIN ins ON ins.id = c.user_id"
	"), d AS ("
	"  SELECT c.request_id, CASE WHEN ins.id IS NOT NULL THEN 'created'"
	"    WHEN c.capped THEN 'dropped' ELSE 'existing' END AS outcome"
	"  FROM c LEFT JOIN ins ON ins.id = c.user_id"
	"), p AS ("
	"  INSERT INTO otpflow.processed_requests (request_id, outcome)"
	"  SELECT request_id, outcome FROM d"
	")"
	"SELECT request_id::text, outcome FROM d";

/* Whether an earlier candidate of this statement has its E.164 number
 * spelled otherwise: one new user's code per number per batch. */
static bool other_spelling_first(const struct commit_ctx *c, size_t i)
{
	const struct batch_item *it = &c->items[i];

	for (size_t j = 0; j < i; j++) {
		const struct batch_item *prev = &c->items[j];

		if (prev->signup_candidate &&
		    strcmp(prev->phone, it->phone) == 0 &&
		    strcmp(prev->phone_stored, it->phone_stored) != 0)
			return true;
	}
	return false;
}

/* New users: one statement for every candidate of the batch (SIGNUPs, and
 * SIGNINs of unknown numbers signed up automatically). */
static enum pg_class create_users(PGconn *conn, const struct commit_ctx *c,
				  char *errstr, size_t errstr_size)
{
	struct pg_array a[12];
	const char *params[16];
	char maxh[24];
	PGresult *res = NULL;
	enum pg_class cls = PG_RETRY_LATER;
	size_t count = 0;

	for (int k = 0; k < 12; k++)
		pg_array_init(&a[k], ARRAY_MAX);
	for (size_t i = 0; i < c->n; i++) {
		struct batch_item *it = &c->items[i];
		json_t *roles = json_object_get(it->rec, "allowed_roles");
		char roles_csv[1024] = "";
		char *headers;
		json_t *role;
		size_t k;

		/* Every REISSUE and SIGNIN not signing up is decided. */
		if (it->outcome != OUTCOME_NONE)
			continue;
		if (other_spelling_first(c, i)) {
			it->outcome = OUTCOME_DROPPED;
			continue;
		}
		it->signup_candidate = true;
		json_array_foreach(roles, k, role)
		{
			size_t len = strlen(roles_csv);
			snprintf(roles_csv + len, sizeof(roles_csv) - len,
				 "%s%s", k ? "," : "", json_string_value(role));
		}
		headers = headers_json(it);
		pg_array_add(&a[0], it->request_id);
		pg_array_add(&a[1], it->user_id);
		pg_array_add(&a[2], it->phone_stored);
		pg_array_add(&a[3], str(it, "display_name"));
		pg_array_add(&a[4], str(it, "locale"));
		pg_array_add(&a[5], str(it, "default_role"));
		pg_array_add(&a[6], str(it, "metadata_json"));
		pg_array_add(&a[7], it->job.hash);
		pg_array_add(&a[8], it->otp_id);
		pg_array_add(&a[9], roles_csv);
		pg_array_add(&a[10], headers);
		pg_array_add(&a[11], it->phone);
		free(headers);
		count++;
	}
	if (count == 0) {
		cls = PG_OK;
		goto out;
	}
	if (!arrays_to_params(a, 11, params, errstr, errstr_size) ||
	    !arrays_to_params(&a[11], 1, &params[14], errstr, errstr_size))
		goto out;
	params[11] = c->st->disabled ? "true" : "false";
	params[12] = c->st->avatar_url;
	params[13] = c->st->topic;
	snprintf(maxh, sizeof(maxh), "%lld", c->st->max_per_hour);
	params[15] = maxh;
	cls = run(conn, create_sql, 16, params, &res, errstr, errstr_size);
	if (cls != PG_OK)
		goto out;
	/* Every candidate is in the answer with its outcome: created, found
	 * registered, or capped. (A copy of a candidate's request in the same
	 * batch is OUTCOME_SKIP already, so it is not a candidate.) */
	for (size_t i = 0; i < c->n; i++) {
		struct batch_item *it = &c->items[i];

		if (!it->signup_candidate)
			continue;
		it->outcome = OUTCOME_EXISTING;
		for (int r = 0; r < PQntuples(res); r++) {
			const char *o = PQgetvalue(res, r, 1);

			if (strcmp(it->request_id, PQgetvalue(res, r, 0)) != 0)
				continue;
			if (strcmp(o, "created") == 0)
				it->outcome = OUTCOME_CREATED;
			else if (strcmp(o, "dropped") == 0)
				it->outcome = OUTCOME_DROPPED;
		}
	}
out:
	PQclear(res);
	arrays_free(a, 12);
	return cls;
}

/* Records every other outcome, and the outbox rows of re-issued and
 * signed-in codes (and the issuance rows of the re-issued ones; a
 * sign-in's was written with its code). */
static enum pg_class record_rest(PGconn *conn, const struct commit_ctx *c,
				 char *errstr, size_t errstr_size)
{
	struct pg_array a[8];
	const char *params[9];
	enum pg_class cls = PG_RETRY_LATER;
	size_t count = 0;

	for (int k = 0; k < 8; k++)
		pg_array_init(&a[k], ARRAY_MAX);
	for (size_t i = 0; i < c->n; i++) {
		struct batch_item *it = &c->items[i];
		char *headers;

		/* The new-user statement recorded its candidates, those it
		 * found registered ('existing') included. */
		if (it->outcome == OUTCOME_SKIP || it->signup_candidate)
			continue;
		pg_array_add(&a[5], it->request_id);
		pg_array_add(&a[6], batch_outcome_name(it->outcome));
		count++;
		if (it->outcome != OUTCOME_REISSUED &&
		    it->outcome != OUTCOME_SIGNIN_CODE)
			continue;
		headers = headers_json(it);
		pg_array_add(&a[0], it->request_id);
		pg_array_add(&a[1], it->user_id);
		pg_array_add(&a[2], it->phone);
		pg_array_add(&a[3], it->otp_id);
		pg_array_add(&a[4], headers);
		pg_array_add(&a[7], it->outcome == OUTCOME_REISSUED ? "true" :
								      "false");
		free(headers);
	}
	if (count == 0) {
		cls = PG_OK;
		goto out;
	}
	if (!arrays_to_params(a, 8, params, errstr, errstr_size))
		goto out;
	params[8] = c->st->topic;
	/* Times and the outbox record are placeholders until stamp(). */
	cls = run(
		conn,
		"WITH c AS ("
		"  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[],"
		"    $4::uuid[], $5::jsonb[], $8::boolean[])"
		"  AS c(request_id, user_id, phone, otp_id, headers, issue)"
		"), i AS ("
		"  INSERT INTO otpflow.otp_issuance (otp_id, user_id,"
		"    phone_number, request_id, issued_at, expires_at)"
		"  SELECT otp_id, user_id, phone, request_id, now(), now() FROM c"
		"  WHERE issue"
		"), o AS ("
		"  INSERT INTO otpflow.outbox (topic, key, value, headers, otp_id)"
		"  SELECT $9, phone, '', headers, otp_id FROM c"
		")"
		"INSERT INTO otpflow.processed_requests (request_id, outcome)"
		"  SELECT * FROM unnest($6::uuid[], $7::text[])",
		9, params, NULL, errstr, errstr_size);
out:
	arrays_free(a, 8);
	return cls;
}

/*
 * Stamps the codes of the items that got one with the clock now,
 * as the transaction's last statement: their users' expiry, their
 * issuance rows and their outbox records (encoded here, with that time).
 */
static enum pg_class stamp(PGconn *conn, const struct commit_ctx *c,
			   char *errstr, size_t errstr_size)
{
	struct pg_array a[3];
	const char *params[5];
	char issued[40], expires[40];
	PGresult *res = NULL;
	enum pg_class cls = PG_OK;
	long long now_ms;
	size_t count = 0;

	for (size_t i = 0; i < c->n; i++)
		count += store_issues_code(c->items[i].outcome);
	if (count == 0)
		return PG_OK;
	cls = run(conn,
		  "SELECT (extract(epoch FROM clock_timestamp()) * 1000)"
		  "::bigint",
		  0, NULL, &res, errstr, errstr_size);
	if (cls != PG_OK)
		return cls;
	now_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	for (int k = 0; k < 3; k++)
		pg_array_init(&a[k], ARRAY_MAX);
	for (size_t i = 0; i < c->n; i++) {
		struct batch_item *it = &c->items[i];

		if (!store_issues_code(it->outcome))
			continue;
		it->issued_at_ms = now_ms;
		it->expires_at_ms = now_ms + c->st->ttl_ms;
		if (c->encode(c->encode_arg, it)) {
			/* Out of memory, not the request: wait and retry. */
			snprintf(errstr, errstr_size,
				 "cannot encode OtpIssued");
			cls = PG_RETRY_LATER;
			goto out;
		}
		pg_array_add(&a[0], it->user_id);
		pg_array_add(&a[1], it->otp_id);
		pg_array_add_bytea(&a[2], it->value, it->value_len);
	}
	cls = PG_RETRY_LATER;
	if (!arrays_to_params(a, 3, params, errstr, errstr_size))
		goto out;
	fmt_ts(now_ms, issued, sizeof(issued));
	fmt_ts(now_ms + c->st->ttl_ms, expires, sizeof(expires));
	params[3] = issued;
	params[4] = expires;
	cls = run(conn,
		  "WITH c AS ("
		  "  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bytea[])"
		  "  AS c(user_id, otp_id, value)"
		  "), u AS ("
		  "  UPDATE auth.users AS u"
		  "  SET otp_hash_expires_at = $5::timestamptz"
		  "  FROM c WHERE u.id = c.user_id"
		  "), i AS ("
		  "  UPDATE otpflow.otp_issuance AS i"
		  "  SET issued_at = $4::timestamptz,"
		  "    expires_at = $5::timestamptz"
		  "  FROM c WHERE i.otp_id = c.otp_id"
		  ")"
		  "UPDATE otpflow.outbox AS o SET value = c.value"
		  "  FROM c WHERE o.otp_id = c.otp_id",
		  5, params, NULL, errstr, errstr_size);
out:
	arrays_free(a, 3);
	return cls;
}

static enum pg_class commit_body(PGconn *conn, void *arg, char *errstr,
				 size_t errstr_size)
{
	struct commit_ctx *c = arg;
	enum pg_class cls;

	/* A rerun starts from the outcomes the pre-filter left. */
	for (size_t i = 0; i < c->n; i++) {
		c->items[i].outcome = c->before[i];
		c->items[i].signup_candidate = false;
	}
	cls = mark_processed(conn, c->items, c->n, errstr, errstr_size);
	/* Re-issues and sign-ins one by one, in batch order: each sees the
	 * codes the previous ones issued. */
	for (size_t i = 0; cls == PG_OK && i < c->n; i++) {
		struct batch_item *it = &c->items[i];

		if ((!it->reissue && !it->signin) ||
		    it->outcome != OUTCOME_NONE)
			continue;
		if (!it->job.ok || !it->sealed)
			it->outcome = OUTCOME_DROPPED;
		else if (it->reissue)
			cls = reissue(conn, it, c, errstr, errstr_size);
		else
			cls = signin(conn, it, c, errstr, errstr_size);
	}
	if (cls == PG_OK)
		cls = create_users(conn, c, errstr, errstr_size);
	if (cls == PG_OK)
		cls = record_rest(conn, c, errstr, errstr_size);
	if (cls == PG_OK)
		cls = stamp(conn, c, errstr, errstr_size);
	return cls;
}

enum pg_class store_commit(PGconn *conn, struct batch_item *items, size_t n,
			   const struct store_settings *st,
			   store_encode_fn encode, void *encode_arg,
			   char sqlstate[6], char *errstr, size_t errstr_size)
{
	struct commit_ctx *c = malloc(sizeof(*c) + n * sizeof(enum outcome));
	enum pg_class cls;

	failed_state[0] = '\0';
	sqlstate[0] = '\0';
	if (!c) {
		snprintf(errstr, errstr_size, "out of memory");
		return PG_RETRY_LATER;
	}
	*c = (struct commit_ctx){ items, n, st, encode, encode_arg };
	for (size_t i = 0; i < n; i++)
		c->before[i] = items[i].outcome;
	cls = pg_txn_run(conn, commit_body, c, TXN_ATTEMPTS, errstr,
			 errstr_size);
	/* Rolled back: what the attempt decided did not happen. */
	if (cls != PG_OK)
		for (size_t i = 0; i < n; i++)
			items[i].outcome = c->before[i];
	free(c);
	if (cls != PG_OK)
		memcpy(sqlstate, failed_state, sizeof(failed_state));
	/* A unique violation that every rerun met again is no race with a
	 * concurrent worker: it is the data's (e.g. a role listed twice). */
	if (cls == PG_RETRY_TXN && strncmp(failed_state, "23", 2) == 0)
		cls = PG_DATA;
	return cls;
}

enum pg_class store_record_dropped(PGconn *conn, const struct batch_item *it,
				   char *errstr, size_t errstr_size)
{
	const char *params[1] = { it->request_id };

	return run(
		conn,
		"INSERT INTO otpflow.processed_requests (request_id, outcome) "
		"VALUES ($1::uuid, 'dropped') ON CONFLICT DO NOTHING",
		1, params, NULL, errstr, errstr_size);
}

enum pg_class store_outbox_delete(PGconn *conn, const struct batch_item *items,
				  size_t n, char *errstr, size_t errstr_size)
{
	struct pg_array ids;
	const char *params[1];
	enum pg_class cls = PG_OK;

	pg_array_init(&ids, ARRAY_MAX);
	for (size_t i = 0; i < n; i++)
		if (items[i].delivered)
			pg_array_add(&ids, items[i].otp_id);
	params[0] = pg_array_text(&ids);
	if (ids.n > 0)
		cls = run(
			conn,
			"DELETE FROM otpflow.outbox WHERE otp_id = ANY($1::uuid[])",
			1, params, NULL, errstr, errstr_size);
	pg_array_free(&ids);
	return cls;
}

enum pg_class store_outbox_load(PGconn *conn, struct batch_item *items,
				size_t max, long long min_age_ms, size_t *n_out,
				char *errstr, size_t errstr_size)
{
	char limit[24], age[48];
	const char *params[2] = { limit, age };
	PGresult *res;
	enum pg_class cls;

	*n_out = 0;
	snprintf(limit, sizeof(limit), "%zu", max);
	snprintf(age, sizeof(age), "%lld milliseconds", min_age_ms);
	/* Binary results: the bytea value arrives as its raw bytes (every
	 * other column is text, whose binary form is its characters). */
	res = PQexecParams(conn,
			   "SELECT key, value, otp_id::text,"
			   "  coalesce(headers->>'request-id', ''),"
			   "  coalesce(headers->>'traceparent', ''),"
			   "  coalesce(headers->>'received-at', '')"
			   "FROM otpflow.outbox "
			   "WHERE created_at <= now() - $2::interval "
			   "ORDER BY id LIMIT $1::int",
			   2, NULL, params, NULL, NULL, 1);
	cls = pg_classify(conn, res);
	if (cls != PG_OK) {
		snprintf(errstr, errstr_size, "%s", PQerrorMessage(conn));
		errstr[strcspn(errstr, "\n")] = '\0';
		PQclear(res);
		return cls;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct batch_item *it = &items[(*n_out)++];
		size_t len = (size_t)PQgetlength(res, r, 1);

		memset(it, 0, sizeof(*it));
		it->value = malloc(len ? len : 1);
		it->rec = json_pack("{s:s,s:s}", "phone_number",
				    PQgetvalue(res, r, 0), "request_id",
				    PQgetvalue(res, r, 3));
		if (!it->value || !it->rec) {
			snprintf(errstr, errstr_size, "out of memory");
			PQclear(res);
			return PG_RETRY_LATER;
		}
		memcpy(it->value, PQgetvalue(res, r, 1), len);
		it->value_len = len;
		it->phone = json_string_value(
			json_object_get(it->rec, "phone_number"));
		it->request_id = json_string_value(
			json_object_get(it->rec, "request_id"));
		snprintf(it->otp_id, sizeof(it->otp_id), "%s",
			 PQgetvalue(res, r, 2));
		snprintf(it->traceparent, sizeof(it->traceparent), "%s",
			 PQgetvalue(res, r, 4));
		snprintf(it->received_at, sizeof(it->received_at), "%s",
			 PQgetvalue(res, r, 5));
		it->outcome = OUTCOME_CREATED;
	}
	PQclear(res);
	return PG_OK;
}
