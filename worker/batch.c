/*
 * The batch pipeline: decoding signup-requests records into items,
 * deduplicating them inside the batch, making their codes (bcrypt on the
 * hash pool, sealed), committing them through store.c, publishing them
 * (outbox.c), dead-lettering what cannot be decoded or stored
 * (deadletter.c) and storing the offsets. The order of these effects, and
 * what a crash between two of them means, is described where the loop
 * lives (worker.c); the failure policy where commit() applies it.
 */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "deadletter.h"
#include "engine.h"
#include "headers.h"
#include "log.h"
#include "outbox.h"
#include "phone.h"
#include "scrub.h"

#define DECODE_BACKOFF_MAX_MS 5000

const char *batch_outcome_name(enum outcome o)
{
	static const char *const names[] = {
		[OUTCOME_NONE] = "none",
		[OUTCOME_SKIP] = "skip",
		[OUTCOME_CREATED] = "created",
		[OUTCOME_EXISTING] = "existing",
		[OUTCOME_DROPPED] = "dropped",
		[OUTCOME_REISSUED] = "reissued",
		[OUTCOME_SIGNIN_CODE] = "signin_code",
		[OUTCOME_SIGNIN_THROTTLED] = "signin_throttled",
		[OUTCOME_SIGNIN_REFUSED] = "signin_refused",
		[OUTCOME_SIGNIN_NO_USER] = "signin_no_user",
	};
	return names[o];
}

void batch_item_clear(struct batch_item *it)
{
	json_decref(it->rec);
	free(it->value);
	free(it->sealed);
	explicit_bzero(&it->job, sizeof(it->job));
	memset(it, 0, sizeof(*it));
}

/*
 * A batch of records between the consumer and the stored offsets. It owns
 * its messages (destroyed with it); the next batch is prepared while this
 * one commits.
 */
struct batch {
	struct worker *w;
	rd_kafka_message_t **msgs;
	size_t n;
	struct batch_item *items; /* decoded records, packed at the front */
	size_t m;
	struct hash_job *jobs; /* one per item needing a code */
	size_t njobs;
	struct dead_letter *dead; /* records given up on (at most n) */
	size_t ndead;
	struct store_settings settings;
	int64_t t0; /* monotonic ns */
};

/*
 * Seals the item's code into it->sealed (base64), bound to its record
 * (otp_id and E.164 destination: the sender refuses it on any other);
 * -1 on failure.
 */
static int seal_item(struct worker *w, struct batch_item *it)
{
	unsigned char sealed[SEAL_MAX_BYTES];
	size_t len = 0;
	size_t cap = sodium_base64_ENCODED_LEN(SEAL_MAX_BYTES,
					       sodium_base64_VARIANT_ORIGINAL);

	if (seal_bind(&w->keys, it->otp_id, it->phone, it->job.code, sealed,
		      &len))
		return -1;
	it->sealed = malloc(cap);
	if (!it->sealed)
		return -1;
	sodium_bin2base64(it->sealed, cap, sealed, len,
			  sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* Encodes the item's OtpIssued record, once its code is stamped
 * (store_encode_fn; arg: the batch). */
static int encode_otp(void *arg, struct batch_item *it)
{
	struct batch *b = arg;
	struct worker *w = b->w;
	char errstr[256];
	json_t *rec;
	int rc;

	rec = json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:I,s:I}", "otp_id",
			it->otp_id, "request_id", it->request_id, "user_id",
			it->user_id, "phone_number", it->phone, "locale",
			json_object_get(it->rec, "locale"), "otp_sealed",
			it->sealed, "issued_at", (json_int_t)it->issued_at_ms,
			"expires_at", (json_int_t)it->expires_at_ms);
	if (!rec)
		return -1;
	free(it->value);
	it->value = NULL;
	rc = events_encode(w->ev, EVENTS_OTP_ISSUED, rec, &it->value,
			   &it->value_len, errstr, sizeof(errstr));
	if (rc)
		LOG(LOG_ERROR, "cannot encode OtpIssued", "request_id",
		    it->request_id, "error", errstr);
	json_decref(rec);
	return rc;
}

/* Gives up on a record: it goes to the dead-letter topic (batch_finish). */
static void give_up(struct batch *b, const rd_kafka_message_t *rkm,
		    const struct batch_item *it, enum deadletter_reason reason,
		    const char *sqlstate, const char *error, int attempts)
{
	struct dead_letter *d = &b->dead[b->ndead++];
	char where[64];

	*d = (struct dead_letter){
		.rkm = rkm, .item = it, .reason = reason, .attempts = attempts
	};
	snprintf(d->error, sizeof(d->error), "%s", error);
	snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", sqlstate);
	snprintf(where, sizeof(where), "%s/%d/%lld",
		 rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
		 (long long)rkm->offset);
	LOG(LOG_WARN,
	    reason == DEADLETTER_UNDECODABLE ?
		    "undecodable record; dead-lettered" :
		    "request cannot be stored; dead-lettered",
	    "record", where, "request_id", it ? it->request_id : "", "sqlstate",
	    sqlstate);
}

/*
 * The E.164 form of a request's number: phone_e164, or for a version 1
 * record (null there) its phone_number normalised, written back into rec.
 * NULL when neither is a phone number. Borrowed from rec.
 */
static const char *e164_of(json_t *rec)
{
	const char *e164 =
		json_string_value(json_object_get(rec, "phone_e164"));
	const char *sent =
		json_string_value(json_object_get(rec, "phone_number"));
	char phone[PHONE_MAX];

	if (e164)
		return e164;
	if (!sent || !phone_normalise(sent, strlen(sent), phone, sizeof(phone)))
		return NULL;
	json_object_set_new(rec, "phone_e164", json_string(phone));
	return json_string_value(json_object_get(rec, "phone_e164"));
}

/*
 * Decodes one record into an item. A record whose writer schema cannot be
 * fetched now is not malformed: the batch waits (backing off, /readyz
 * saying so) until it can be decoded. A malformed one is given up on.
 * False if the record has no item (given up on, or a stop: see
 * daemon_stopping()).
 */
static bool decode(struct batch *b, const rd_kafka_message_t *rkm,
		   struct batch_item *it)
{
	struct worker *w = b->w;
	char parent[IDS_TRACEPARENT_SIZE] = "";
	char errstr[256];
	long long backoff = 100;
	int rc;

	memset(it, 0, sizeof(*it));
	while ((rc = events_decode(w->ev, EVENTS_SIGNUP_REQUESTED, rkm->payload,
				   rkm->len, &it->rec, errstr,
				   sizeof(errstr))) == EVENTS_RETRY_LATER) {
		worker_hold(w, WORKER_HOLD_REGISTRY, errstr);
		if (daemon_stopping())
			return false;
		clock_sleep_ms(backoff);
		backoff = backoff * 2 > DECODE_BACKOFF_MAX_MS ?
				  DECODE_BACKOFF_MAX_MS :
				  backoff * 2;
	}
	worker_hold_end(w, WORKER_HOLD_REGISTRY);
	if (rc == 0) {
		it->rkm = rkm;
		it->request_id = json_string_value(
			json_object_get(it->rec, "request_id"));
		it->phone_stored = json_string_value(
			json_object_get(it->rec, "phone_number"));
		it->phone = e164_of(it->rec);
		if (ids_uuid_valid(it->request_id) && it->phone &&
		    json_is_array(json_object_get(it->rec, "allowed_roles"))) {
			const char *kind = json_string_value(
				json_object_get(it->rec, "kind"));

			it->reissue = strcmp(kind, "REISSUE") == 0;
			it->signin = strcmp(kind, "SIGNIN") == 0;
			hdr_str(rkm, HDR_TRACEPARENT, parent, sizeof(parent));
			ids_traceparent_child(parent, it->traceparent);
			snprintf(it->received_at, sizeof(it->received_at),
				 "%lld",
				 (long long)json_integer_value(json_object_get(
					 it->rec, "received_at")));
			return true;
		}
		snprintf(errstr, sizeof(errstr),
			 "invalid request_id or fields");
	}
	metrics_inc(w->stats.requests, WORKER_LABEL_UNDECODABLE, 1);
	json_decref(it->rec);
	memset(it, 0, sizeof(*it));
	give_up(b, rkm, NULL, DEADLETTER_UNDECODABLE, "", errstr, 1);
	return false;
}

/* Marks duplicates inside the batch: request ids, and the numbers (as
 * sent) of SIGNUPs. A copy of an earlier request is SKIP even when an item
 * before that one has the same number (no break on a number): recording it
 * as EXISTING too would insert its request id twice and fail the batch on
 * every retry. */
static void dedup_batch(struct batch_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!items[i].rec || items[i].outcome != OUTCOME_NONE)
			continue;
		for (size_t j = 0; j < i; j++) {
			if (!items[j].rec)
				continue;
			if (strcmp(items[i].request_id, items[j].request_id) ==
			    0) {
				items[i].outcome = OUTCOME_SKIP;
				break;
			}
			if (!items[i].reissue && !items[j].reissue &&
			    !items[i].signin && !items[j].signin &&
			    strcmp(items[i].phone_stored,
				   items[j].phone_stored) == 0)
				items[i].outcome = OUTCOME_EXISTING;
		}
	}
}

/* Starts hashing codes for every item still undecided (new users,
 * re-issues and sign-ins); batch_finish_codes collects them. */
static bool start_codes(struct batch *b)
{
	b->jobs = calloc(b->m ? b->m : 1, sizeof(*b->jobs));
	if (!b->jobs)
		return false;
	for (size_t i = 0; i < b->m; i++)
		if (b->items[i].rec && b->items[i].outcome == OUTCOME_NONE &&
		    !otp_generate(b->jobs[b->njobs++].code))
			return false;
	hashpool_start(b->w->hp, b->jobs, b->njobs);
	return true;
}

bool batch_finish_codes(struct batch *b)
{
	size_t k = 0;

	hashpool_wait(b->w->hp);
	for (size_t i = 0; i < b->m; i++) {
		struct batch_item *it = &b->items[i];

		if (!it->rec || it->outcome != OUTCOME_NONE)
			continue;
		it->job = b->jobs[k++];
		ids_uuid_v4(it->otp_id);
		/* A REISSUE or SIGNIN learns its user in the transaction. */
		if (!it->reissue && !it->signin)
			ids_uuid_v4(it->user_id);
		/* A REISSUE or SIGNIN without a code is dropped (store.c). */
		if ((!it->job.ok || seal_item(b->w, it)) && !it->reissue &&
		    !it->signin)
			return false;
	}
	return true;
}

/*
 * Commits items[0..n), applying the failure policy (docs/api.md §3): only a
 * data error (PG_DATA, SQLSTATE class 22 or 23) that repeats when one
 * request is retried alone is that request's fault. A batch that meets one
 * is committed one request at a time to find it; the request that fails
 * alone again is given up on (dead-lettered, the partition flows on).
 * Every other failure holds the batch: back off, retry, never drop. tries:
 * data errors these items met already. False only on a stop.
 */
static bool commit(struct batch *b, struct batch_item *items, size_t n,
		   int tries)
{
	struct worker *w = b->w;
	char errstr[512], sqlstate[6];
	enum pg_class cls;

	for (;;) {
		cls = store_commit(w->pg.conn, items, n, &b->settings,
				   encode_otp, b, sqlstate, errstr,
				   sizeof(errstr));
		if (cls == PG_OK) {
			pg_session_succeeded(&w->pg);
			return true;
		}
		if (cls != PG_DATA) {
			if (!worker_pg_failed(w, cls, "commit", errstr))
				return false;
			continue;
		}
		tries++;
		if (n > 1)
			break;
		if (tries >= 2) {
			items[0].outcome = OUTCOME_DROPPED;
			metrics_inc(w->stats.failed, 0, 1);
			give_up(b, items[0].rkm, &items[0],
				DEADLETTER_UNSTORABLE, sqlstate, errstr, tries);
			return true;
		}
		scrub_number(errstr, items[0].phone);
		LOG(LOG_WARN, "data error; retrying the request alone",
		    "request_id", items[0].request_id, "sqlstate", sqlstate,
		    "error", errstr);
	}
	LOG(LOG_WARN,
	    "data error in a batch; committing its requests one by one",
	    "sqlstate", sqlstate, "error", errstr);
	for (size_t i = 0; i < n; i++)
		if (!commit(b, &items[i], 1, tries))
			return false;
	return true;
}

/* Stores offset+1 of the last record of each partition in the batch. */
static void store_offsets(struct worker *w, rd_kafka_message_t **msgs, size_t n)
{
	rd_kafka_topic_partition_list_t *list =
		rd_kafka_topic_partition_list_new((int)n);
	rd_kafka_resp_err_t err;

	for (size_t i = 0; i < n; i++) {
		rd_kafka_topic_partition_t *tp =
			rd_kafka_topic_partition_list_find(
				list, rd_kafka_topic_name(msgs[i]->rkt),
				msgs[i]->partition);
		if (!tp)
			tp = rd_kafka_topic_partition_list_add(
				list, rd_kafka_topic_name(msgs[i]->rkt),
				msgs[i]->partition);
		if (msgs[i]->offset + 1 > tp->offset)
			tp->offset = msgs[i]->offset + 1;
	}
	err = rd_kafka_offsets_store(w->consumer, list);
	if (err)
		LOG(LOG_WARN, "offsets not stored (partition revoked?)",
		    "error", rd_kafka_err2name(err));
	rd_kafka_topic_partition_list_destroy(list);
}

void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->m; i++)
		batch_item_clear(&b->items[i]);
	free(b->items);
	if (b->jobs)
		explicit_bzero(b->jobs, b->njobs * sizeof(*b->jobs));
	free(b->jobs);
	free(b->dead);
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msgs[i]);
	free(b->msgs);
	free(b);
}

struct batch *batch_prepare(struct worker *w, rd_kafka_message_t **msgs,
			    size_t n)
{
	struct batch *b = calloc(1, sizeof(*b));
	char errstr[512];
	enum pg_class cls;

	if (!b)
		goto fail;
	b->w = w;
	b->msgs = malloc(n * sizeof(*msgs));
	b->items = calloc(n, sizeof(*b->items));
	b->dead = calloc(n, sizeof(*b->dead));
	if (!b->msgs || !b->items || !b->dead)
		goto fail;
	memcpy(b->msgs, msgs, n * sizeof(*msgs));
	b->n = n;
	n = 0; /* the batch owns the messages now */
	b->t0 = clock_mono_ns();
	/* Records given up on get no item (they are dead-lettered and their
	 * offsets stored all the same); the others are packed at the front. */
	for (size_t i = 0; i < b->n; i++) {
		if (decode(b, b->msgs[i], &b->items[b->m]))
			b->m++;
		else if (daemon_stopping())
			goto fail;
	}
	dedup_batch(b->items, b->m);
	while ((cls = pg_session_wait(&w->pg) ?
			      store_prefilter(w->pg.conn, b->items, b->m,
					      errstr, sizeof(errstr)) :
			      PG_RETRY_CONN) != PG_OK)
		if (daemon_stopping() ||
		    !worker_pg_failed(w, cls, "prefilter", errstr))
			goto fail;
	pg_session_succeeded(&w->pg);
	b->settings = w->settings;
	if (!start_codes(b)) {
		LOG(LOG_ERROR, "cannot make codes");
		goto fail;
	}
	return b;
fail:
	for (size_t i = 0; i < n; i++)
		rd_kafka_message_destroy(msgs[i]);
	batch_free(b);
	return NULL;
}

/*
 * Publishes the batch's dead letters, then records the unstorable requests
 * as handled ('dropped'), so that a redelivery has no effect: a crash in
 * between dead-letters such a request twice, never zero times. False only
 * on a stop.
 */
static bool dead_letter(struct batch *b)
{
	struct worker *w = b->w;
	char errstr[512];
	enum pg_class cls;

	if (b->ndead == 0)
		return true;
	if (!deadletter_publish(w, b->dead, b->ndead))
		return false;
	for (size_t i = 0; i < b->ndead; i++) {
		metrics_inc(w->stats.dead_letters, b->dead[i].reason, 1);
		if (!b->dead[i].item)
			continue;
		while ((cls = store_record_dropped(w->pg.conn, b->dead[i].item,
						   errstr, sizeof(errstr))) !=
		       PG_OK)
			if (!worker_pg_failed(w, cls, "record dropped", errstr))
				return false;
	}
	return true;
}

/* Counts a finished batch's requests by outcome. */
static void count_outcomes(struct worker *w, const struct batch *b)
{
	static const enum worker_label label[] = {
		[OUTCOME_CREATED] = WORKER_LABEL_CREATED,
		[OUTCOME_EXISTING] = WORKER_LABEL_EXISTING,
		[OUTCOME_SKIP] = WORKER_LABEL_SKIP,
		[OUTCOME_DROPPED] = WORKER_LABEL_DROPPED,
		[OUTCOME_REISSUED] = WORKER_LABEL_REISSUED,
		[OUTCOME_SIGNIN_CODE] = WORKER_LABEL_SIGNIN_CODE,
		[OUTCOME_SIGNIN_THROTTLED] = WORKER_LABEL_SIGNIN_THROTTLED,
		[OUTCOME_SIGNIN_REFUSED] = WORKER_LABEL_SIGNIN_REFUSED,
		[OUTCOME_SIGNIN_NO_USER] = WORKER_LABEL_SIGNIN_NO_USER,
	};

	for (size_t i = 0; i < b->m; i++)
		if (b->items[i].outcome != OUTCOME_NONE)
			metrics_inc(w->stats.requests,
				    label[b->items[i].outcome], 1);
}

bool batch_finish(struct batch *b)
{
	struct worker *w = b->w;
	int64_t t_commit = clock_mono_ns();
	char errstr[512];
	enum pg_class cls;

	if (!commit(b, b->items, b->m, 0))
		return false;
	metrics_observe(w->stats.commit, clock_seconds_since(t_commit));
	worker_crash_point(w, "after-commit");
	if (!outbox_publish(w, b->items, b->m))
		return false;
	worker_crash_point(w, "after-publish");
	while ((cls = store_outbox_delete(w->pg.conn, b->items, b->m, errstr,
					  sizeof(errstr))) != PG_OK)
		if (!worker_pg_failed(w, cls, "outbox delete", errstr))
			return false;
	if (!dead_letter(b))
		return false;
	if (log_enabled(LOG_DEBUG)) {
		for (size_t i = 0; i < b->m; i++) {
			char masked[PHONE_MAX + 8];
			phone_mask(b->items[i].phone, masked, sizeof(masked));
			LOG(LOG_DEBUG, "request processed", "request_id",
			    b->items[i].request_id, "phone", masked, "outcome",
			    batch_outcome_name(b->items[i].outcome));
		}
	}
	store_offsets(w, b->msgs, b->n);
	count_outcomes(w, b);
	metrics_observe(w->stats.batch, clock_seconds_since(b->t0));
	metrics_inc(w->stats.batches, 0, 1);
	return true;
}
