/*
 * Building and publishing SignupDeadLetter records. The text of an error
 * comes from outside (Postgres, the decoder) and may quote the request:
 * the record's phone number is masked in it and it is cut on a UTF-8
 * boundary, so building a dead letter cannot fail on it.
 */
#include "deadletter.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "engine.h"
#include "headers.h"
#include "ids.h"
#include "log.h"
#include "outbox.h"
#include "phone.h"
#include "scrub.h"

/* A dead letter larger than this carries the raw value instead of the
 * request (the broker's default limit is about 1 MB). */
#define VALUE_MAX (900u << 10)

static const char *const reason_names[] = {
	[DEADLETTER_UNSTORABLE] = "UNSTORABLE",
	[DEADLETTER_UNDECODABLE] = "UNDECODABLE",
};

/* The record's key (the E.164 number) as text, cut to size. */
static void key_text(const rd_kafka_message_t *rkm, char *out, size_t size)
{
	size_t n = rkm->key_len < size - 1 ? rkm->key_len : size - 1;

	memcpy(out, rkm->key ? rkm->key : "", rkm->key ? n : 0);
	out[rkm->key ? n : 0] = '\0';
}

/* raw_value (cut), raw_value_length and raw_value_sha256 of the record. */
static int add_raw(json_t *dl, const rd_kafka_message_t *rkm)
{
	unsigned char sum[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	size_t keep = rkm->len < DEADLETTER_RAW_MAX ? rkm->len :
						      DEADLETTER_RAW_MAX;
	size_t cap =
		sodium_base64_ENCODED_LEN(keep, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(cap);
	int rc;

	if (!b64)
		return -1;
	sodium_bin2base64(b64, cap, rkm->payload, keep,
			  sodium_base64_VARIANT_ORIGINAL);
	crypto_hash_sha256(sum, rkm->payload, rkm->len);
	sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
	rc = json_object_set_new(dl, "raw_value", json_string(b64)) ||
	     json_object_set_new(dl, "raw_value_length",
				 json_integer((json_int_t)rkm->len)) ||
	     json_object_set_new(dl, "raw_value_sha256", json_string(hex));
	free(b64);
	return rc ? -1 : 0;
}

/*
 * d's error as it may be shown: valid UTF-8, the number scrubbed in any
 * writing (the E.164 form of the request, or the record's key, which is
 * that form; a number kept as sent is a writing of it).
 */
static void error_text(const struct dead_letter *d, char *out, size_t size)
{
	char key[PHONE_MAX + 8];

	key_text(d->rkm, key, sizeof(key));
	scrub_text(out, size, d->error, strlen(d->error), NULL,
		   d->item ? d->item->phone : key);
}

/* The dead letter as JSON, with the request (with_request) or raw. */
static json_t *build(const struct dead_letter *d, long long now_ms,
		     bool with_request)
{
	char masked[DEADLETTER_ERROR_SIZE];
	json_t *dl;

	error_text(d, masked, sizeof(masked));
	dl = json_pack("{s:O?,s:s,s:s,s:i,s:s,s:i,s:I,s:I}", "request",
		       with_request && d->item ? d->item->rec : NULL, "reason",
		       reason_names[d->reason], "error_message", masked,
		       "attempts", d->attempts, "original_topic",
		       rd_kafka_topic_name(d->rkm->rkt), "original_partition",
		       (int)d->rkm->partition, "original_offset",
		       (json_int_t)d->rkm->offset, "dead_lettered_at",
		       (json_int_t)now_ms);
	if (!dl)
		return NULL;
	if (json_object_set_new(dl, "sqlstate",
				d->sqlstate[0] ? json_string(d->sqlstate) :
						 json_null()) ||
	    (!(with_request && d->item) && add_raw(dl, d->rkm))) {
		json_decref(dl);
		return NULL;
	}
	return dl;
}

int deadletter_encode(struct events *ev, const struct dead_letter *d,
		      long long now_ms, void **out, size_t *out_len,
		      char *errstr, size_t errstr_size)
{
	bool with_request = d->item != NULL;

	for (;;) {
		json_t *dl = build(d, now_ms, with_request);
		int rc;

		if (!dl) {
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
		rc = events_encode(ev, EVENTS_SIGNUP_DEAD_LETTER, dl, out,
				   out_len, errstr, errstr_size);
		json_decref(dl);
		if (rc || *out_len <= VALUE_MAX || !with_request)
			return rc;
		/* A request too large to fit: its bytes, cut, instead. */
		free(*out);
		*out = NULL;
		with_request = false;
	}
}

/* The dead letters of one publish, with their encoded values. */
struct dl_set {
	struct dead_letter *d;
	void **values;
	size_t *lens;
};

static bool dl_pending(const void *set, size_t i)
{
	const struct dl_set *s = set;

	return !s->d[i].delivered;
}

static rd_kafka_resp_err_t dl_produce(struct worker *w, void *set, size_t i)
{
	struct dl_set *s = set;
	struct dead_letter *d = &s->d[i];
	const rd_kafka_message_t *rkm = d->rkm;
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	char request_id[IDS_UUID_SIZE + 1], parent[IDS_TRACEPARENT_SIZE] = "",
					    child[IDS_TRACEPARENT_SIZE],
					    error[DEADLETTER_ERROR_SIZE];
	rd_kafka_resp_err_t err;

	if (d->item)
		snprintf(request_id, sizeof(request_id), "%s",
			 d->item->request_id);
	else
		hdr_str(rkm, HDR_REQUEST_ID, request_id, sizeof(request_id));
	hdr_str(rkm, HDR_TRACEPARENT, parent, sizeof(parent));
	ids_traceparent_child(parent, child);
	if (request_id[0])
		hdr_add_str(h, HDR_REQUEST_ID, request_id);
	hdr_add_str(h, HDR_TRACEPARENT, child);
	error_text(d, error, sizeof(error));
	hdr_add_dlt(h, rd_kafka_topic_name(rkm->rkt), rkm->partition,
		    rkm->offset, error);
	err = rd_kafka_producev(
		w->producer,
		RD_KAFKA_V_TOPIC(
			cfg_str(w->cfg, CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER)),
		RD_KAFKA_V_KEY(rkm->key, rkm->key_len),
		RD_KAFKA_V_VALUE(s->values[i], s->lens[i]),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
		RD_KAFKA_V_OPAQUE(&d->delivered), RD_KAFKA_V_END);
	if (err)
		rd_kafka_headers_destroy(h);
	return err;
}

bool deadletter_publish(struct worker *w, struct dead_letter *d, size_t n)
{
	struct dl_set set = { d, calloc(n ? n : 1, sizeof(void *)),
			      calloc(n ? n : 1, sizeof(size_t)) };
	long long now_ms = clock_wall_ms();
	bool ok = false;

	if (!set.values || !set.lens)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char errstr[256];

		while (deadletter_encode(w->ev, &d[i], now_ms, &set.values[i],
					 &set.lens[i], errstr,
					 sizeof(errstr))) {
			LOG(LOG_ERROR, "cannot build a dead letter; retrying",
			    "error", errstr);
			if (daemon_stopping())
				goto out;
			clock_sleep_ms(1000);
		}
	}
	ok = outbox_publish_set(w, &set, n, dl_produce, dl_pending);
out:
	for (size_t i = 0; set.values && i < n; i++)
		free(set.values[i]);
	free(set.values);
	free(set.lens);
	return ok;
}
