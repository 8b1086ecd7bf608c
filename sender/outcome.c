/* Building outcome records (see outcome.h). */
#include "outcome.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "ids.h"

const char *const outcome_dead_reasons[DEAD__COUNT + 1] = {
	"PERMANENT", "EXPIRED", "RETRIES_EXHAUSTED", "CONFIG", "UNDECODABLE",
	"TAMPERED",  NULL
};

json_t *outcome_sent(const struct job_record *rec,
		     const struct job_attempt *att, const char *provider)
{
	int64_t since = rec->received_at ? rec->received_at : rec->issued_at;

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "otp_id",
			 rec->otp_id, "request_id", rec->rec_request_id,
			 "user_id", rec->user_id, "provider", provider,
			 "provider_message_id", att->msgid, "attempts",
			 att->attempts, "sent_at", (json_int_t)att->sent_at,
			 "accepted_latency_ms",
			 (json_int_t)(att->sent_at - since));
}

/* The first n bytes of the record as the JSON form of Avro bytes
 * (base64). */
static json_t *raw_value(const struct job_record *rec, size_t n)
{
	size_t b64_len =
		sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(b64_len);
	json_t *v;

	if (!b64)
		return NULL;
	sodium_bin2base64(b64, b64_len, rec->raw ? rec->raw : (void *)"", n,
			  sodium_base64_VARIANT_ORIGINAL);
	v = json_string(b64);
	free(b64);
	return v;
}

/* Lower-case hex SHA-256 of the whole record. */
static json_t *raw_sha256(const struct job_record *rec)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];

	crypto_hash_sha256(h, rec->raw ? rec->raw : (void *)"", rec->raw_len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return json_string(hex);
}

json_t *outcome_dead(const struct job_record *rec,
		     const struct job_attempt *att, json_t *otp,
		     enum dead_reason reason, const char *provider,
		     const char *message)
{
	size_t kept = rec->raw_len < OUTCOME_RAW_MAX ? rec->raw_len :
						       OUTCOME_RAW_MAX;
	json_t *raw = otp ? json_null() : raw_value(rec, kept);
	json_t *sha = otp ? json_null() : raw_sha256(rec);
	json_t *len = otp ? json_null() :
			    json_integer((json_int_t)rec->raw_len);

	if (!raw || !sha || !len) {
		json_decref(raw);
		json_decref(sha);
		json_decref(len);
		json_decref(otp);
		return NULL;
	}
	return json_pack(
		"{s:o?, s:s, s:s, s:o, s:o, s:s, s:i, s:I, s:I, s:s, s:i, s:I, "
		"s:o, s:o, s:o}",
		"otp", otp, "reason", outcome_dead_reasons[reason], "provider",
		provider, "http_status",
		att->http_status ? json_integer(att->http_status) : json_null(),
		"provider_code",
		att->provider_code[0] ? json_string(att->provider_code) :
					json_null(),
		"error_message", message, "attempts", att->attempts,
		"first_attempt_at", (json_int_t)att->first_attempt_at,
		"last_attempt_at", (json_int_t)att->last_attempt_at,
		"original_topic", rec->topic ? rec->topic : "",
		"original_partition", (int)rec->partition, "original_offset",
		(json_int_t)rec->offset, "raw_value", raw, "raw_value_length",
		len, "raw_value_sha256", sha);
}

rd_kafka_headers_t *outcome_headers(const struct job_record *rec)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	char tp[IDS_TRACEPARENT_SIZE];

	ids_traceparent_child(rec->traceparent[0] ? rec->traceparent : NULL,
			      tp);
	hdr_add_str(h, HDR_REQUEST_ID, rec->request_id);
	hdr_add_str(h, HDR_TRACEPARENT, tp);
	return h;
}

void outcome_headers_retry(rd_kafka_headers_t *h, const struct job_record *rec,
			   const struct job_attempt *att, int64_t due_ms)
{
	unsigned char b4[4], b8[8];

	rd_kafka_header_add(h, HDR_RETRY_ATTEMPTS, -1, b4,
			    (ssize_t)hdr_int32(att->attempts, b4));
	rd_kafka_header_add(h, HDR_RETRY_BACKOFF, -1, b8,
			    (ssize_t)hdr_bigint(due_ms, b8));
	hdr_add_ms(h, HDR_FIRST_ATTEMPT, att->first_attempt_at);
	if (rec->received_at)
		hdr_add_ms(h, HDR_RECEIVED_AT, rec->received_at);
}

void outcome_headers_dead(rd_kafka_headers_t *h, const struct job_record *rec,
			  const char *message)
{
	unsigned char b4[4], b8[8];

	hdr_add_str(h, HDR_DLT_TOPIC, rec->topic ? rec->topic : "");
	rd_kafka_header_add(h, HDR_DLT_PARTITION, -1, b4,
			    (ssize_t)hdr_int32(rec->partition, b4));
	rd_kafka_header_add(h, HDR_DLT_OFFSET, -1, b8,
			    (ssize_t)hdr_int64(rec->offset, b8));
	hdr_add_str(h, HDR_DLT_MESSAGE, message);
}
