/*
 * Replaying SignupDeadLetter records (signup-requests-dlt): a request the
 * worker could not store is submitted again to signup-requests once the
 * cause is fixed (a missing role, a constraint), as the same request under
 * a request_id derived from the original one (replay_of says which). The
 * worker's dedup makes a second replay of the same range a no-op; a
 * resubmission that fails again is dead-lettered again, under its own id,
 * and a later replay of that dead letter tries once more. An undecodable
 * record (no request, only its raw bytes) cannot be resubmitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_replay.h"

/*
 * The E.164 form of a dead letter's number (the Kafka key of the request
 * and what --phone is compared with): the request's phone_e164, its
 * phone_number normalised (a version 1 request), or the dead letter's key.
 */
static const char *e164_of(const json_t *request, const char *key, char *out,
			   size_t size)
{
	const char *e164 =
		json_string_value(json_object_get(request, "phone_e164"));
	const char *sent =
		json_string_value(json_object_get(request, "phone_number"));

	if (e164)
		return e164;
	if (sent && phone_normalise(sent, strlen(sent), out, size))
		return out;
	return key;
}

/* Publishes the request again under the derived id; the action done. */
static const char *resubmit(struct replay *r, const json_t *request,
			    const char *request_id, const char *phone,
			    const char *tp, const char *where, int count)
{
	const char *action = "resubmit";
	json_t *copy;

	if (r->o.dry_run)
		return action;
	copy = json_deep_copy(request);
	if (!copy ||
	    json_object_set(copy, "replay_of",
			    json_object_get(request, "request_id")) ||
	    json_object_set_new(copy, "request_id", json_string(request_id)) ||
	    replay_submit(r, copy, request_id, phone, tp, where, count))
		action = "failed";
	json_decref(copy);
	return action;
}

void replay_signup(struct replay *r, const rd_kafka_message_t *rkm)
{
	json_t *dl = NULL, *request;
	char errstr[256], where[128], tp[IDS_TRACEPARENT_SIZE],
		key[PHONE_MAX + 8] = "", request_id[IDS_UUID_SIZE],
				e164[PHONE_MAX];
	const char *phone, *original, *action;
	long long at;
	int count;

	r->n.scanned++;
	if (events_decode(r->ev, EVENTS_SIGNUP_DEAD_LETTER, rkm->payload,
			  rkm->len, &dl, errstr, sizeof(errstr))) {
		r->n.undecodable++;
		goto out;
	}
	request = json_object_get(dl, "request");
	if (rkm->key && rkm->key_len < sizeof(key))
		snprintf(key, sizeof(key), "%.*s", (int)rkm->key_len,
			 (const char *)rkm->key);
	phone = e164_of(request, key, e164, sizeof(e164));
	at = json_integer_value(json_object_get(dl, "dead_lettered_at"));
	if (!replay_matches(r, at,
			    json_string_value(json_object_get(dl, "reason")),
			    phone))
		goto out;
	replay_context(rkm, where, sizeof(where), &count, tp);
	if (!json_is_object(request)) {
		r->n.not_replayable++;
		replay_report(r, "cannot resubmit (undecodable)", "record",
			      where, phone,
			      json_string_value(json_object_get(dl, "reason")));
		goto out;
	}
	original = json_string_value(json_object_get(request, "request_id"));
	replay_derived_id(original, "resubmit", request_id);
	if (replay_exists(r->pg,
			  "SELECT 1 FROM otpflow.processed_requests "
			  "WHERE request_id = $1::uuid",
			  request_id) == 1) {
		action = "already resubmitted";
		r->n.already_resubmitted++;
	} else {
		action = resubmit(r, request, request_id, phone, tp, where,
				  count);
		r->n.resubmitted += strcmp(action, "resubmit") == 0;
	}
	replay_report(r, action, "request_id", original, phone,
		      json_string_value(json_object_get(dl, "reason")));
out:
	json_decref(dl);
}
