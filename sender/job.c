/*
 * Jobs (see job.h): made from a consumed message, filled from the decoded
 * OtpIssued, and ended by finishing (offset stored in partition order) or
 * abandoning (the record will be redelivered).
 */
#include "job.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consume.h"
#include "headers.h"
#include "kafka.h"
#include "metrics.h"
#include "phone.h"
#include "sender.h"

struct job *job_new(struct sender *s, const rd_kafka_message_t *rkm)
{
	struct job *j = calloc(1, sizeof(*j));
	struct job_record *rec;
	const void *v;
	size_t len;

	if (!j)
		return NULL;
	rec = &j->rec;
	j->s = s;
	rec->raw = malloc(rkm->len ? rkm->len : 1);
	j->oe = offsets_append(s->offsets, rd_kafka_topic_name(rkm->rkt),
			       rkm->partition, rkm->offset);
	if (!rec->raw || !j->oe) {
		/* The entry (if any) stays unfinished: nothing after it in
		 * the partition is stored, and the process stops anyway. */
		free(rec->raw);
		free(j);
		return NULL;
	}
	j->anext = s->jobs;
	if (s->jobs)
		s->jobs->aprev = j;
	s->jobs = j;
	rec->topic = offsets_topic(j->oe);
	rec->source = consume_source(s, rec->topic);
	s->pending++;
	s->held[rec->source]++;
	metrics_set(s->m_pending, s->pending);
	metrics_set(s->m_retry_pending, s->held[SOURCE_RETRY]);
	rec->partition = rkm->partition;
	rec->offset = rkm->offset;
	if (rkm->len)
		memcpy(rec->raw, rkm->payload, rkm->len);
	rec->raw_len = rkm->len;
	if (rkm->key_len < sizeof(rec->phone)) {
		memcpy(rec->phone, rkm->key, rkm->key_len);
		rec->phone[rkm->key_len] = '\0';
	}
	hdr_str(rkm, HDR_REQUEST_ID, rec->request_id, sizeof(rec->request_id));
	hdr_str(rkm, HDR_TRACEPARENT, rec->traceparent,
		sizeof(rec->traceparent));
	v = hdr_get(rkm, HDR_RETRY_ATTEMPTS, &len);
	if (v && hdr_parse_attempts(v, len) > 0)
		j->att.attempts = hdr_parse_attempts(v, len);
	v = hdr_get(rkm, HDR_RETRY_BACKOFF, &len);
	if (v && hdr_parse_timestamp(v, len) > 0)
		rec->due_ms = hdr_parse_timestamp(v, len);
	j->att.first_attempt_at = hdr_ms(rkm, HDR_FIRST_ATTEMPT);
	rec->received_at = hdr_ms(rkm, HDR_RECEIVED_AT);
	return j;
}

static int copy_field(const json_t *obj, const char *key, char *out,
		      size_t size)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (!v || strlen(v) >= size)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

int job_parse(struct job_record *rec, const json_t *otp, char *why,
	      size_t why_size)
{
	const char *b64 = json_string_value(json_object_get(otp, "otp_sealed"));
	char norm[PHONE_MAX];
	size_t bin_len = 0;

	if (copy_field(otp, "otp_id", rec->otp_id, sizeof(rec->otp_id)) ||
	    !ids_uuid_valid(rec->otp_id) ||
	    copy_field(otp, "user_id", rec->user_id, sizeof(rec->user_id)) ||
	    !ids_uuid_valid(rec->user_id) ||
	    copy_field(otp, "phone_number", rec->phone, sizeof(rec->phone)) ||
	    copy_field(otp, "locale", rec->locale, sizeof(rec->locale))) {
		snprintf(why, why_size,
			 "OtpIssued with a missing or invalid "
			 "otp_id, user_id, phone_number or locale");
		return -1;
	}
	if (!phone_normalise(rec->phone, strlen(rec->phone), norm,
			     sizeof(norm)) ||
	    strcmp(norm, rec->phone) != 0) {
		snprintf(why, why_size,
			 "OtpIssued phone_number is not a "
			 "normalised E.164 number");
		return -1;
	}
	if (!b64 ||
	    sodium_base642bin(rec->sealed, sizeof(rec->sealed), b64,
			      strlen(b64), NULL, &bin_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len <= crypto_box_SEALBYTES) {
		snprintf(why, why_size,
			 "OtpIssued otp_sealed is not a sealed code");
		return -1;
	}
	rec->sealed_len = bin_len;
	if (copy_field(otp, "request_id", rec->rec_request_id,
		       sizeof(rec->rec_request_id)) ||
	    !ids_uuid_valid(rec->rec_request_id)) {
		snprintf(why, why_size, "OtpIssued request_id is not a uuid");
		return -1;
	}
	if (!rec->request_id[0])
		snprintf(rec->request_id, sizeof(rec->request_id), "%s",
			 rec->rec_request_id);
	rec->issued_at = json_integer_value(json_object_get(otp, "issued_at"));
	rec->expires_at =
		json_integer_value(json_object_get(otp, "expires_at"));
	return 0;
}

void job_free(struct job *j)
{
	struct sender *s = j->s;

	if (j->aprev)
		j->aprev->anext = j->anext;
	else
		s->jobs = j->anext;
	if (j->anext)
		j->anext->aprev = j->aprev;
	provider_req_cleanup(&j->att.req);
	sodium_memzero(j->att.code, sizeof(j->att.code));
	free(j->rec.raw);
	free(j->out.value);
	if (j->out.hdrs)
		rd_kafka_headers_destroy(j->out.hdrs);
	s->pending--;
	s->held[j->rec.source]--;
	metrics_set(s->m_pending, s->pending);
	metrics_set(s->m_retry_pending, s->held[SOURCE_RETRY]);
	if (j->rec.undecoded) {
		s->undecoded--;
		metrics_set(s->m_undecoded, s->undecoded);
	}
	free(j);
}

void job_finish(struct job *j)
{
	struct sender *s = j->s;
	struct offsets_entry *oe = j->oe;
	struct offsets_commit c;

	job_free(j);
	if (oe && offsets_done(s->offsets, oe, &c)) {
		rd_kafka_topic_partition_list_t *l =
			rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(l, c.topic, c.partition)
			->offset = c.offset;
		rd_kafka_offsets_store(s->consumer, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
}

void job_abandon(struct job *j)
{
	struct sender *s = j->s;
	struct offsets_entry *oe = j->oe;

	job_free(j);
	if (oe)
		offsets_release(s->offsets, oe);
}

void job_log(enum log_level lvl, const struct job *j, const char *event,
	     const char *k1, const char *v1, const char *k2, const char *v2)
{
	char part[16], off[24], ph[PHONE_MAX + 8], att[16];
	const struct job_record *r = &j->rec;

	if (!log_enabled(lvl))
		return;
	snprintf(part, sizeof(part), "%d", r->partition);
	snprintf(off, sizeof(off), "%lld", (long long)r->offset);
	snprintf(att, sizeof(att), "%d", j->att.attempts);
	phone_mask(r->phone, ph, sizeof(ph));
#define JOB_CTX                                                                \
	"topic", r->topic ? r->topic : "", "partition", part, "offset", off,   \
		"otp_id", r->otp_id, "request_id", r->request_id, "phone", ph, \
		"attempts", att
	if (k2)
		log_event(lvl, event, JOB_CTX, k1, v1, k2, v2,
			  (const char *)NULL);
	else if (k1)
		log_event(lvl, event, JOB_CTX, k1, v1, (const char *)NULL);
	else
		log_event(lvl, event, JOB_CTX, (const char *)NULL);
#undef JOB_CTX
}
