/* Producing outcome records (see emit.h). */
#include "emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "deliveries.h"
#include "kafka.h"
#include "outcome.h"
#include "scrub.h"
#include "sender.h"

#define PRODUCE_RETRY_MS 1000
#define QUEUE_FULL_RETRY_MS 50

/* Queues the job's outcome for another produce attempt after delay_ms. */
static void produce_later(struct sender *s, struct job *j, int64_t delay_ms)
{
	j->out.produce_due = clock_mono_ms() + delay_ms;
	j->rnext = s->reproduce;
	s->reproduce = j;
}

static void produce(struct sender *s, struct job *j)
{
	rd_kafka_resp_err_t err;
	rd_kafka_headers_t *h = rd_kafka_headers_copy(j->out.hdrs);

	err = rd_kafka_producev(
		s->producer, RD_KAFKA_V_TOPIC(j->out.topic),
		RD_KAFKA_V_KEY(j->rec.phone, strlen(j->rec.phone)),
		RD_KAFKA_V_VALUE(j->out.value, j->out.len),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
		RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(h);
		if (kafka_classify(s->producer, err) == KAFKA_FATAL)
			daemon_fatal("producing an outcome record",
				     rd_kafka_err2str(err));
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			job_log(LOG_ERROR, j,
				"outcome record not accepted by the producer; "
				"retrying (the offset waits)",
				"error", rd_kafka_err2str(err), NULL, NULL);
		produce_later(s, j,
			      err == RD_KAFKA_RESP_ERR__QUEUE_FULL ?
				      QUEUE_FULL_RETRY_MS :
				      PRODUCE_RETRY_MS);
	}
}

/*
 * Encodes the outcome (obj, reference stolen; NULL: the record's own bytes)
 * and produces it; the job then waits for its delivery report.
 */
static void emit(struct sender *s, struct job *j, enum job_out kind,
		 const char *topic, enum events_type type, json_t *obj,
		 rd_kafka_headers_t *h)
{
	char errstr[JOB_ERROR_SIZE];

	j->out.kind = kind;
	j->out.topic = topic;
	j->out.hdrs = h;
	if (!obj) { /* the OtpIssued bytes as consumed */
		j->out.value = malloc(j->rec.raw_len ? j->rec.raw_len : 1);
		if (j->out.value)
			memcpy(j->out.value, j->rec.raw, j->rec.raw_len);
		j->out.len = j->rec.raw_len;
	} else if (events_encode(s->ev, type, obj, &j->out.value, &j->out.len,
				 errstr, sizeof(errstr)) < 0) {
		/* A bug (schema mismatch): stop rather than lose the record. */
		job_log(LOG_ERROR, j, "cannot encode outcome record", "error",
			errstr, NULL, NULL);
		daemon_fatal("encoding an outcome record", errstr);
		json_decref(obj);
		return;
	}
	json_decref(obj);
	if (!j->out.value) {
		daemon_fatal("encoding an outcome record", "out of memory");
		return;
	}
	produce(s, j);
}

void emit_dead(struct sender *s, struct job *j, enum dead_reason reason,
	       const char *message)
{
	char emsg[JOB_ERROR_SIZE];
	int64_t now = clock_wall_ms();
	json_t *obj, *otp = NULL;
	rd_kafka_headers_t *h;

	/* Records in memory keep only their bytes: decode again (it worked
	 * once) to put the full OtpIssued into the dead letter. */
	if (j->rec.decodable &&
	    events_decode(s->ev, EVENTS_OTP_ISSUED, j->rec.raw, j->rec.raw_len,
			  &otp, emsg, sizeof(emsg)) < 0)
		otp = NULL;
	scrub_text(emsg, sizeof(emsg), message, strlen(message), j->att.code,
		   j->rec.phone);
	j->out.reason = reason;
	if (!j->att.first_attempt_at)
		j->att.first_attempt_at = now;
	if (!j->att.last_attempt_at)
		j->att.last_attempt_at = now;
	obj = outcome_dead(&j->rec, &j->att, otp, reason,
			   provider_name(s->prov), emsg);
	if (!obj) {
		daemon_fatal("building a dead letter", "out of memory");
		return;
	}
	h = outcome_headers(&j->rec);
	outcome_headers_dead(h, &j->rec, emsg);
	job_log(LOG_WARN, j, "dead letter", "reason",
		outcome_dead_reasons[reason], "error", emsg);
	emit(s, j, JOB_OUT_DEAD, s->topic_dlt, EVENTS_SMS_DEAD_LETTER, obj, h);
}

void emit_sent(struct sender *s, struct job *j)
{
	json_t *obj;

	if (j->rec.received_at)
		metrics_observe(s->m_end_to_end,
				(double)(j->att.sent_at - j->rec.received_at) /
					1000.0);
	obj = outcome_sent(&j->rec, &j->att, provider_name(s->prov));
	if (!obj) {
		daemon_fatal("building an SmsSent record", "out of memory");
		return;
	}
	emit(s, j, JOB_OUT_SENT, s->topic_sent, EVENTS_SMS_SENT, obj,
	     outcome_headers(&j->rec));
}

void emit_retry(struct sender *s, struct job *j, int64_t due_ms)
{
	rd_kafka_headers_t *h = outcome_headers(&j->rec);

	outcome_headers_retry(h, &j->rec, &j->att, due_ms);
	emit(s, j, JOB_OUT_RETRY, s->topic_retry, EVENTS__COUNT, NULL, h);
}

void emit_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
		      void *opaque)
{
	struct sender *s = opaque;
	struct job *j = rkm->_private;

	if (!j || s->closing)
		return;
	if (rkm->err) {
		job_log(LOG_ERROR, j, "outcome record not delivered; retrying",
			"error", rd_kafka_err2str(rkm->err), NULL, NULL);
		if (kafka_classify(rk, rkm->err) == KAFKA_FATAL) {
			daemon_fatal("delivering an outcome record",
				     rd_kafka_err2str(rkm->err));
			return;
		}
		produce_later(s, j, PRODUCE_RETRY_MS);
		return;
	}
	switch (j->out.kind) {
	case JOB_OUT_SENT:
		/* Recorded in Postgres with the other reports of this turn
		 * (dispatch_flush_sent), then finished. */
		j->bnext = NULL;
		*s->sent_tail = j;
		s->sent_tail = &j->bnext;
		return;
	case JOB_OUT_RETRY:
		metrics_inc(s->m_outcomes, M_RETRIED, 1);
		/* Whoever takes the retry record may claim it at once. */
		deliveries_release(&s->db, s->instance, j);
		break;
	case JOB_OUT_DEAD:
		metrics_inc(s->m_outcomes, M_DEAD, 1);
		metrics_inc(s->m_dead, j->out.reason, 1);
		if (j->rec.decodable)
			deliveries_mark_dead(&s->db, provider_name(s->prov), j);
		break;
	default:
		break;
	}
	job_finish(j);
}

void emit_retry_due(struct sender *s, int64_t now_mono)
{
	struct job *list = s->reproduce, *keep = NULL;

	s->reproduce = NULL;
	while (list) {
		struct job *j = list;

		list = j->rnext;
		if (j->out.produce_due <= now_mono) {
			produce(s, j);
		} else {
			j->rnext = keep;
			keep = j;
		}
	}
	/* produce() may have queued some again meanwhile */
	while (keep) {
		struct job *j = keep;

		keep = j->rnext;
		j->rnext = s->reproduce;
		s->reproduce = j;
	}
}
