/* outcome: SmsSent and SmsDeadLetter values built from a job's parts
 * encode under the schemas, and the headers say what docs/api.md §2.3
 * says. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "events.h"
#include "headers.h"
#include "outcome.h"

static const char *const topics[EVENTS__COUNT] = { "signup-requests", "sms-otp",
						   "sms-sent",
						   "cannot-send-sms" };

static void fill(struct job_record *rec, struct job_attempt *att)
{
	memset(rec, 0, sizeof(*rec));
	memset(att, 0, sizeof(*att));
	rec->topic = "sms-otp";
	rec->partition = 2;
	rec->offset = 41;
	snprintf(rec->phone, sizeof(rec->phone), "+14155550123");
	snprintf(rec->request_id, sizeof(rec->request_id),
		 "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
	snprintf(rec->rec_request_id, sizeof(rec->rec_request_id), "%s",
		 rec->request_id);
	snprintf(rec->otp_id, sizeof(rec->otp_id),
		 "2b4e28ba-2fa1-11d2-883f-0016d3cca427");
	snprintf(rec->user_id, sizeof(rec->user_id),
		 "3b4e28ba-2fa1-11d2-883f-0016d3cca427");
	rec->issued_at = 1764000000000;
	rec->expires_at = 1764000300000;
	rec->received_at = 1763999999000;
	att->attempts = 2;
	att->first_attempt_at = 1764000000100;
	att->last_attempt_at = 1764000001100;
	att->sent_at = 1764000001200;
	snprintf(att->msgid, sizeof(att->msgid), "SM123");
}

static void encodes(struct events *ev, enum events_type type, json_t *obj)
{
	void *out = NULL;
	size_t len = 0;
	char err[256];
	json_t *back = NULL;

	CHECK(obj != NULL);
	if (!obj)
		return;
	CHECK_INT(events_encode(ev, type, obj, &out, &len, err, sizeof(err)),
		  0);
	CHECK_INT(events_decode(ev, type, out, len, &back, err, sizeof(err)),
		  0);
	CHECK(json_equal(obj, back));
	json_decref(back);
	free(out);
}

static void sent(struct events *ev)
{
	struct job_record rec;
	struct job_attempt att;
	json_t *obj;

	fill(&rec, &att);
	obj = outcome_sent(&rec, &att, "twilio");
	CHECK_STR(json_string_value(json_object_get(obj, "provider")),
		  "twilio");
	CHECK_STR(
		json_string_value(json_object_get(obj, "provider_message_id")),
		"SM123");
	CHECK_INT(json_integer_value(json_object_get(obj, "attempts")), 2);
	/* from ingest's received-at to the 2xx */
	CHECK_INT(
		json_integer_value(json_object_get(obj, "accepted_latency_ms")),
		2200);
	encodes(ev, EVENTS_SMS_SENT, obj);
	json_decref(obj);
	/* Without received-at the latency counts from issued_at. */
	rec.received_at = 0;
	obj = outcome_sent(&rec, &att, "twilio");
	CHECK_INT(
		json_integer_value(json_object_get(obj, "accepted_latency_ms")),
		1200);
	json_decref(obj);
}

static void dead(struct events *ev)
{
	struct job_record rec;
	struct job_attempt att;
	unsigned char raw[] = { 0, 0, 0, 0, 2, 'x', 0xff };
	json_t *otp = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "otp_id",
		"2b4e28ba-2fa1-11d2-883f-0016d3cca427", "request_id",
		"1b4e28ba-2fa1-11d2-883f-0016d3cca427", "user_id",
		"3b4e28ba-2fa1-11d2-883f-0016d3cca427", "phone_number",
		"+14155550123", "locale", "en", "otp_sealed",
		"AAECAwQFBgcICQ==", "issued_at", (json_int_t)1764000000000,
		"expires_at", (json_int_t)1764000300000);
	json_t *obj;

	fill(&rec, &att);
	att.http_status = 400;
	snprintf(att.provider_code, sizeof(att.provider_code), "21211");
	obj = outcome_dead(&rec, &att, otp, DEAD_PERMANENT, "twilio",
			   "HTTP 400 code 21211");
	CHECK_STR(json_string_value(json_object_get(obj, "reason")),
		  "PERMANENT");
	CHECK_INT(json_integer_value(json_object_get(obj, "http_status")), 400);
	CHECK_STR(json_string_value(json_object_get(obj, "provider_code")),
		  "21211");
	CHECK_STR(json_string_value(json_object_get(obj, "original_topic")),
		  "sms-otp");
	CHECK_INT(
		json_integer_value(json_object_get(obj, "original_partition")),
		2);
	CHECK_INT(json_integer_value(json_object_get(obj, "original_offset")),
		  41);
	CHECK(json_is_null(json_object_get(obj, "raw_value")));
	encodes(ev, EVENTS_SMS_DEAD_LETTER, obj);
	json_decref(obj);

	/* Undecodable: no OtpIssued, the bytes as raw_value, nulls. */
	fill(&rec, &att);
	rec.raw = raw;
	rec.raw_len = sizeof(raw);
	att.attempts = 0;
	obj = outcome_dead(&rec, &att, NULL, DEAD_UNDECODABLE, "twilio",
			   "not Confluent-framed Avro");
	CHECK(json_is_null(json_object_get(obj, "otp")));
	CHECK(json_is_null(json_object_get(obj, "http_status")));
	CHECK(json_is_null(json_object_get(obj, "provider_code")));
	CHECK_STR(json_string_value(json_object_get(obj, "raw_value")),
		  "AAAAAAJ4/w==");
	CHECK_STR(json_string_value(json_object_get(obj, "reason")),
		  "UNDECODABLE");
	CHECK_INT(json_integer_value(json_object_get(obj, "raw_value_length")),
		  sizeof(raw));
	encodes(ev, EVENTS_SMS_DEAD_LETTER, obj);
	json_decref(obj);
	for (int r = 0; r < DEAD__COUNT; r++)
		CHECK(outcome_dead_reasons[r] != NULL);
	CHECK(outcome_dead_reasons[DEAD__COUNT] == NULL);
}

/* An undecodable value of 1.05 MB: the dead letter keeps its first
 * OUTCOME_RAW_MAX bytes, its length and its SHA-256, and fits 1 MB. */
static void dead_oversized(struct events *ev)
{
	size_t n = 1050000;
	unsigned char *raw = malloc(n), *back = malloc(n);
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	struct job_record rec;
	struct job_attempt att;
	size_t back_len = 0;
	void *out = NULL;
	size_t len = 0;
	char err[256];
	json_t *obj;
	const char *b64;

	for (size_t i = 0; i < n; i++)
		raw[i] = (unsigned char)(i * 31 + 7);
	fill(&rec, &att);
	rec.raw = raw;
	rec.raw_len = n;
	obj = outcome_dead(&rec, &att, NULL, DEAD_UNDECODABLE, "twilio",
			   "not Confluent-framed Avro");
	CHECK(obj != NULL);
	CHECK_INT(json_integer_value(json_object_get(obj, "raw_value_length")),
		  n);
	crypto_hash_sha256(h, raw, n);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	CHECK_STR(json_string_value(json_object_get(obj, "raw_value_sha256")),
		  hex);
	b64 = json_string_value(json_object_get(obj, "raw_value"));
	CHECK(b64 &&
	      sodium_base642bin(back, n, b64, strlen(b64), NULL, &back_len,
				NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
	CHECK_INT(back_len, OUTCOME_RAW_MAX);
	CHECK(memcmp(back, raw, OUTCOME_RAW_MAX) == 0);
	CHECK_INT(events_encode(ev, EVENTS_SMS_DEAD_LETTER, obj, &out, &len,
				err, sizeof(err)),
		  0);
	CHECK(len < 1000000);
	free(out);
	json_decref(obj);
	free(raw);
	free(back);
}

static const char *header(rd_kafka_headers_t *h, const char *name, size_t *len)
{
	const void *v = NULL;

	if (rd_kafka_header_get_last(h, name, &v, len))
		return NULL;
	return v;
}

static void headers(void)
{
	struct job_record rec;
	struct job_attempt att;
	rd_kafka_headers_t *h;
	const char *v;
	size_t len = 0;

	fill(&rec, &att);
	snprintf(rec.traceparent, sizeof(rec.traceparent),
		 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	h = outcome_headers(&rec);
	v = header(h, HDR_REQUEST_ID, &len);
	CHECK(v && len == strlen(rec.request_id) &&
	      memcmp(v, rec.request_id, len) == 0);
	/* A child span: same trace id, another parent id. */
	v = header(h, HDR_TRACEPARENT, &len);
	CHECK(v && len == 55 &&
	      memcmp(v, "00-0af7651916cd43dd8448eb211c80319c-", 36) == 0 &&
	      memcmp(v + 36, "b7ad6b7169203331", 16) != 0);
	outcome_headers_retry(h, &rec, &att, 1764000005000);
	v = header(h, HDR_RETRY_ATTEMPTS, &len);
	CHECK(v && hdr_parse_attempts(v, len) == 2);
	v = header(h, HDR_RETRY_BACKOFF, &len);
	CHECK(v && hdr_parse_timestamp(v, len) == 1764000005000);
	v = header(h, HDR_FIRST_ATTEMPT, &len);
	CHECK(v && len == 13 && memcmp(v, "1764000000100", 13) == 0);
	v = header(h, HDR_RECEIVED_AT, &len);
	CHECK(v && len == 13 && memcmp(v, "1763999999000", 13) == 0);
	outcome_headers_dead(h, &rec, "oops");
	v = header(h, HDR_DLT_TOPIC, &len);
	CHECK(v && len == 7 && memcmp(v, "sms-otp", 7) == 0);
	v = header(h, HDR_DLT_PARTITION, &len);
	CHECK(v && len == 4 && ((const unsigned char *)v)[3] == 2);
	v = header(h, HDR_DLT_OFFSET, &len);
	CHECK(v && len == 8 && ((const unsigned char *)v)[7] == 41);
	v = header(h, HDR_DLT_MESSAGE, &len);
	CHECK(v && len == 4 && memcmp(v, "oops", 4) == 0);
	rd_kafka_headers_destroy(h);
}

int main(void)
{
	char err[256];
	struct events *ev = events_new(NULL, topics, 1000, err, sizeof(err));

	if (!ev) {
		fprintf(stderr, "events_new: %s\n", err);
		return 1;
	}
	sent(ev);
	dead(ev);
	dead_oversized(ev);
	headers();
	events_destroy(ev);
	return check_done("outcome");
}
