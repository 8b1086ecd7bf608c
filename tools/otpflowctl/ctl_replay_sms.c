/*
 * Replaying SmsDeadLetter records (cannot-send-sms): for every dead letter
 * that passes the filters
 *
 *   - its code was sent since (sms_deliveries says 'sent')  -> nothing
 *   - still valid >= OTPFLOW_REPLAY_MIN_VALIDITY             -> the same
 *     OtpIssued again on sms-otp (the sender dedups by otp_id)
 *   - otherwise                                               -> a REISSUE
 *     request on signup-requests, so the worker issues a fresh code; a
 *     stale code is never re-sent
 *
 * The REISSUE names the user by the number as stored (auth.users keeps what
 * the client sent; the dead letter carries the E.164 destination), looked
 * up by user_id. Its request_id is derived from the otp_id, so the worker's
 * dedup makes a second replay of the same range a no-op.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl_replay.h"
#include "pg.h"

/* Publishes the dead letter's OtpIssued again; the action done. */
static const char *resend(struct replay *r, json_t *otp, const char *phone,
			  const char *tp, const char *where, int count)
{
	char errstr[256];
	void *value = NULL;
	size_t len = 0;
	const char *action = "resend";

	if (r->o.dry_run)
		return action;
	if (events_encode(r->ev, EVENTS_OTP_ISSUED, otp, &value, &len, errstr,
			  sizeof(errstr)) ||
	    replay_publish(
		    r, cfg_str(r->cfg, CFG_OTPFLOW_TOPIC_SMS_OTP), phone, value,
		    len, json_string_value(json_object_get(otp, "request_id")),
		    tp, where, count))
		action = "failed";
	free(value);
	return action;
}

/*
 * The number of user_id as auth.users holds it (as the client sent it) into
 * out. 1 found, 0 no such user, -1 on error (or a number longer than out).
 */
static int stored_phone(PGconn *conn, const char *user_id, char *out,
			size_t out_size)
{
	PGresult *res = NULL;
	char errstr[256];
	int rc = pg_exec_params(conn,
				"SELECT phone_number FROM auth.users "
				"WHERE id = $1::uuid",
				1, &user_id, &res, NULL, errstr,
				sizeof(errstr)) == PG_OK ?
			 PQntuples(res) > 0 :
			 -1;

	/* Cut, it would name nobody: a failure, never a wrong number. */
	if (rc == 1 && (size_t)snprintf(out, out_size, "%s",
					PQgetvalue(res, 0, 0)) >= out_size)
		rc = -1;
	PQclear(res);
	return rc;
}

/* Publishes a REISSUE request for the dead letter's number; the action. */
static const char *reissue(struct replay *r, json_t *otp, const char *otp_id,
			   const char *phone, const char *tp, const char *where,
			   int count)
{
	char request_id[IDS_UUID_SIZE], stored[1024];
	const char *action = "reissue";
	json_t *req;

	replay_derived_id(otp_id, "reissue", request_id);
	if (replay_exists(r->pg,
			  "SELECT 1 FROM otpflow.processed_requests "
			  "WHERE request_id = $1::uuid",
			  request_id) == 1)
		return "already reissued";
	if (stored_phone(r->pg,
			 json_string_value(json_object_get(otp, "user_id")),
			 stored, sizeof(stored)) != 1) {
		r->n.failed++;
		return "user not found";
	}
	if (r->o.dry_run)
		return action;
	req = json_pack("{s:s,s:I,s:s,s:s,s:s,s:O,s:s,s:[],s:s,s:s,"
			"s:n,s:s,s:s}",
			"request_id", request_id, "received_at",
			(json_int_t)clock_wall_ms(), "phone_number", stored,
			"phone_e164", phone, "display_name", stored, "locale",
			json_object_get(otp, "locale"), "default_role", "",
			"allowed_roles", "metadata_json", "null", "redirect_to",
			"", "client_ip", "kind", "REISSUE", "replay_of",
			otp_id);
	if (!req || replay_submit(r, req, request_id, phone, tp, where, count))
		action = "failed";
	json_decref(req);
	return action;
}

void replay_sms(struct replay *r, const rd_kafka_message_t *rkm)
{
	json_t *dl = NULL, *otp;
	char errstr[256], where[128], tp[IDS_TRACEPARENT_SIZE];
	const char *otp_id, *phone, *action;
	long long last_attempt, expires;
	int count;

	r->n.scanned++;
	if (events_decode(r->ev, EVENTS_SMS_DEAD_LETTER, rkm->payload, rkm->len,
			  &dl, errstr, sizeof(errstr)) ||
	    !json_is_object(otp = json_object_get(dl, "otp"))) {
		r->n.undecodable++; /* nothing to replay without the code */
		goto out;
	}
	otp_id = json_string_value(json_object_get(otp, "otp_id"));
	phone = json_string_value(json_object_get(otp, "phone_number"));
	last_attempt =
		json_integer_value(json_object_get(dl, "last_attempt_at"));
	expires = json_integer_value(json_object_get(otp, "expires_at"));
	if (!replay_matches(r, last_attempt,
			    json_string_value(json_object_get(dl, "reason")),
			    phone))
		goto out;
	replay_context(rkm, where, sizeof(where), &count, tp);

	if (replay_exists(r->pg,
			  "SELECT 1 FROM otpflow.sms_deliveries "
			  "WHERE otp_id = $1::uuid AND status = 'sent'",
			  otp_id) == 1) {
		action = "already sent";
		r->n.already_sent++;
	} else if (expires - clock_wall_ms() >=
		   cfg_ms(r->cfg, CFG_OTPFLOW_REPLAY_MIN_VALIDITY)) {
		action = resend(r, otp, phone, tp, where, count);
		r->n.resent += strcmp(action, "resend") == 0;
	} else {
		action = reissue(r, otp, otp_id, phone, tp, where, count);
		r->n.reissued += strcmp(action, "reissue") == 0;
		r->n.already_reissued += strcmp(action, "already reissued") ==
					 0;
	}
	replay_report(r, action, "otp_id", otp_id, phone,
		      json_string_value(json_object_get(dl, "reason")));
out:
	json_decref(dl);
}
