/* The curl loop (see dispatch.h). */
#include "dispatch.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "consume.h"
#include "daemon.h"
#include "deliveries.h"
#include "emit.h"
#include "scrub.h"
#include "sender.h"

#define BODY_SIZE (TEMPLATE_MAX_BYTES + 64)
#define BUSY_WAIT_FIRST_MS 250
#define BUSY_WAIT_MAX_MS 5000

static void release_number(struct sender *s, struct job *j)
{
	phoneq_done(s->queues, &j->ql);
}

/* Expired before an attempt: dead letter, no provider call. */
static void expire_before_send(struct sender *s, struct job *j)
{
	char errstr[JOB_ERROR_SIZE + 128]; /* emit_dead cuts it */

	snprintf(errstr, sizeof(errstr),
		 "code expires at %lld ms; too late to send after %d "
		 "attempt(s)%s%s",
		 (long long)j->rec.expires_at, j->att.attempts,
		 j->att.error[0] ? "; last error: " : "", j->att.error);
	release_number(s, j);
	emit_dead(s, j, DEAD_EXPIRED, errstr);
}

static void enter_pause(struct sender *s, struct job *j, const char *error)
{
	s->next_probe =
		clock_mono_ms() + cfg_ms(s->cfg, CFG_OTPFLOW_SMS_PAUSE_PROBE);
	if (!atomic_exchange(&s->paused_config, true)) {
		job_log(LOG_ERROR, j,
			"provider rejects our configuration: consumption "
			"paused, not ready",
			"error", error, NULL, NULL);
		metrics_set(s->m_paused, 1);
	}
	consume_backpressure(s);
}

static void leave_pause(struct sender *s)
{
	if (atomic_exchange(&s->paused_config, false)) {
		LOG(LOG_INFO, "provider accepts our configuration again: "
			      "resumed");
		metrics_set(s->m_paused, 0);
	}
	consume_backpressure(s);
}

/* A transient failure: retry later, or dead-letter when out of budget. */
static void after_transient(struct sender *s, struct job *j, int64_t now,
			    int64_t retry_after)
{
	int64_t delay = retry_backoff_ms(
		&s->pol, j->att.attempts,
		(double)randombytes_uniform(1000000) / 1e6, retry_after);
	int64_t due = 0;
	enum retry_verdict v = retry_decide(&s->pol, j->att.attempts, now,
					    delay, j->rec.expires_at, &due);

	release_number(s, j);
	if (v == RETRY_EXHAUSTED) {
		emit_dead(s, j, DEAD_EXHAUSTED, j->att.error);
	} else if (v == RETRY_EXPIRED) {
		char m[JOB_ERROR_SIZE + 64]; /* emit_dead cuts it */

		snprintf(m, sizeof(m),
			 "next attempt would be after expiry; last error: %s",
			 j->att.error);
		emit_dead(s, j, DEAD_EXPIRED, m);
	} else {
		char d[24];

		snprintf(d, sizeof(d), "%lld", (long long)delay);
		job_log(LOG_INFO, j, "transient failure: retry later", "error",
			j->att.error, "delay_ms", d);
		emit_retry(s, j, due);
	}
}

static void after_send(struct sender *s, struct job *j,
		       const struct sms_outcome *o, int64_t retry_after,
		       const char *msgid, const char *error)
{
	enum sms_class cls = classify(s->cls, o);
	int64_t now = clock_wall_ms();
	struct job_attempt *a = &j->att;

	metrics_inc(s->m_class, cls, 1);
	metrics_observe(s->m_latency, (double)(now - a->started_ms) / 1000.0);
	a->http_status = o->http_status;
	/* Outside text: whole characters, no code, no number. */
	scrub_text(a->provider_code, sizeof(a->provider_code), o->provider_code,
		   strlen(o->provider_code), a->code, j->rec.phone);
	scrub_text(a->error, sizeof(a->error), error, strlen(error), a->code,
		   j->rec.phone);
	scrub_text(a->msgid, sizeof(a->msgid), msgid, strlen(msgid), a->code,
		   j->rec.phone);
	sodium_memzero(a->code, sizeof(a->code));
	if (a->probe && cls != SMS_CONFIG)
		leave_pause(s);
	a->probe = false;
	switch (cls) {
	case SMS_SUCCESS:
		/* SmsSent first, then 'sent' in Postgres once it is delivered
		 * (dispatch_flush_sent): a 'sent' row always has its SmsSent.
		 * The number stays busy until then, so a copy queued behind
		 * it sees 'sent'. */
		a->sent_at = now;
		s->unrecorded++;
		job_log(LOG_DEBUG, j, "sent", "provider_message_id", a->msgid,
			NULL, NULL);
		emit_sent(s, j);
		return;
	case SMS_PERMANENT:
		release_number(s, j);
		emit_dead(s, j, DEAD_PERMANENT, a->error);
		return;
	case SMS_CONFIG:
		a->attempts--; /* our fault, not the code's */
		phoneq_again(s->queues, &j->ql);
		enter_pause(s, j, a->error);
		return;
	case SMS_TRANSIENT:
		after_transient(s, j, now, retry_after);
		return;
	}
}

/*
 * Opens the sealed code into j->att.code; false (dead letter sent) when no
 * key opens it, or when it is not bound to this very record (TAMPERED:
 * someone copied another record's sealed code onto it) or not bound at
 * all while unbound (version 1) seals are not accepted.
 */
static bool open_code(struct sender *s, struct job *j)
{
	const struct job_record *r = &j->rec;
	struct seal_opened o;
	const char *refused = NULL;

	if (seal_open(&s->keys, r->sealed, r->sealed_len, &o) < 0 &&
	    (!s->has_previous ||
	     seal_open(&s->previous, r->sealed, r->sealed_len, &o) < 0)) {
		release_number(s, j);
		emit_dead(
			s, j, DEAD_CONFIG,
			"cannot open the sealed code (OTPFLOW_SEAL_SECRET_KEY "
			"does not match the worker's public key?)");
		return false;
	}
	if (!o.bound && !s->accept_unbound)
		refused = "the sealed code is not bound to its record (a "
			  "version 1 seal); OTPFLOW_SEAL_ACCEPT_UNBOUND=true "
			  "accepts those during an upgrade";
	else if (o.bound && (strcasecmp(o.otp_id, r->otp_id) != 0 ||
			     strcmp(o.e164, r->phone) != 0))
		refused = "the sealed code belongs to another record (otp_id "
			  "or number differs): refused";
	if (!refused)
		memcpy(j->att.code, o.code, sizeof(j->att.code));
	sodium_memzero(&o, sizeof(o));
	if (refused) {
		release_number(s, j);
		emit_dead(s, j, DEAD_TAMPERED, refused);
		return false;
	}
	return true;
}

/* The dev provider writes the SMS at once: no request, an answer now. */
static void send_dev(struct sender *s, struct job *j, const char *body,
		     int64_t now)
{
	struct sms_outcome o;
	char msgid[PROVIDER_MSGID_SIZE], errstr[JOB_ERROR_SIZE];

	memset(&o, 0, sizeof(o));
	snprintf(msgid, sizeof(msgid), "dev-%s", j->rec.otp_id);
	if (provider_dev_send(s->prov, j->rec.phone, body, j->rec.otp_id, now,
			      errstr, sizeof(errstr)) == 0) {
		o.http_status = 200;
		after_send(s, j, &o, 0, msgid, "");
	} else {
		o.transport = SMS_TRANSPORT_OTHER;
		after_send(s, j, &o, 0, "", errstr);
	}
}

/* A claimed job: open the code, render, send (or hand to curl). */
static void start_send(struct sender *s, struct job *j, int64_t now)
{
	char body[BODY_SIZE], errstr[JOB_ERROR_SIZE];
	struct job_attempt *a = &j->att;

	if (!open_code(s, j))
		return;
	if (templates_render(s->tpl, j->rec.locale, a->code, body,
			     sizeof(body)) < 0) {
		release_number(s, j);
		emit_dead(s, j, DEAD_PERMANENT, "rendered SMS too long");
		return;
	}
	a->attempts++;
	if (!a->first_attempt_at)
		a->first_attempt_at = now;
	a->last_attempt_at = now;
	a->started_ms = now;
	if (provider_kind(s->prov) == PROVIDER_DEV) {
		send_dev(s, j, body, now);
	} else if (provider_request(s->prov, j->rec.phone, body,
				    s->connect_timeout_ms, s->timeout_ms,
				    &a->req, errstr, sizeof(errstr)) < 0) {
		provider_req_cleanup(&a->req);
		release_number(s, j);
		emit_dead(s, j, DEAD_PERMANENT, errstr);
	} else {
		curl_multi_add_handle(s->multi, a->req.easy);
		s->in_flight++;
		metrics_set(s->m_in_flight, s->in_flight);
	}
	sodium_memzero(body, sizeof(body));
}

void dispatch_flush_sent(struct sender *s)
{
	struct job *list = s->sent_head;
	size_t n = 0;

	if (!list || !sender_db_usable(s))
		return;
	if (!deliveries_mark_sent(&s->db, list)) {
		char count[24];

		/* Kept, numbers busy, offsets not stored: a redelivered copy
		 * waits behind it and then finds 'sent'. */
		for (struct job *j = list; j; j = j->bnext)
			n++;
		snprintf(count, sizeof(count), "%zu", n);
		LOG(LOG_WARN, "SMS sent, 'sent' not recorded yet: retrying",
		    "records", count);
		return;
	}
	s->sent_head = NULL;
	s->sent_tail = &s->sent_head;
	while (list) {
		struct job *j = list;

		list = j->bnext;
		j->bnext = NULL;
		metrics_inc(s->m_outcomes, M_SENT, 1);
		s->unrecorded--;
		release_number(s, j);
		job_finish(j);
	}
}

void dispatch_reap(struct sender *s)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		struct provider_req *req = NULL;
		struct job *j;
		struct sms_outcome o;
		int64_t retry_after;
		char msgid[PROVIDER_MSGID_SIZE], error[PROVIDER_ERROR_SIZE];

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&req);
		j = (struct job *)((char *)req - offsetof(struct job, att.req));
		provider_result(s->prov, req, m->data.result, clock_wall_ms(),
				&o, &retry_after, msgid, error);
		curl_multi_remove_handle(s->multi, m->easy_handle);
		provider_req_cleanup(req);
		s->in_flight--;
		metrics_set(s->m_in_flight, s->in_flight);
		after_send(s, j, &o, retry_after, msgid, error);
	}
}

/*
 * Another sender holds a live lease on the code (it is sending it, after
 * a rebalance say): wait, off the number's queue, and claim again; its
 * 'sent' mark or the lease's end decides.
 */
static void wait_for_lease(struct sender *s, struct job *j)
{
	int shift = j->att.busy_waits < 8 ? j->att.busy_waits : 8;
	int64_t wait = BUSY_WAIT_FIRST_MS << shift;

	if (wait > BUSY_WAIT_MAX_MS)
		wait = BUSY_WAIT_MAX_MS;
	if (!j->att.busy_waits++)
		job_log(LOG_INFO, j,
			"claimed by another sender: waiting for its lease",
			NULL, NULL, NULL, NULL);
	metrics_inc(s->m_busy, 0, 1);
	release_number(s, j);
	if (!delay_push(&s->delayed, clock_wall_ms() + wait, j))
		daemon_fatal("delaying a record", "out of memory");
}

static bool in_batch(struct sender *s, size_t n, const struct job *j)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->batch[i]->rec.otp_id, j->rec.otp_id) == 0)
			return true;
	return false;
}

/* Takes ready numbers into s->batch (the claim of one statement); returns
 * how many. While paused, only one probe per interval goes out. */
static size_t take_batch(struct sender *s, int64_t now)
{
	bool paused = atomic_load(&s->paused_config);
	size_t n = 0;

	/* A crash may send again what is in flight or answered 2xx and not
	 * recorded yet: together they stay within the in-flight budget. */
	while (s->in_flight + s->unrecorded + (int)n < s->max_in_flight &&
	       phoneq_any_ready(s->queues) && !s->draining) {
		struct job *j;

		if (!sender_db_usable(s))
			break;
		if (paused) {
			int64_t mono = clock_mono_ms();

			if (mono < s->next_probe || n)
				break;
			s->next_probe =
				mono +
				cfg_ms(s->cfg, CFG_OTPFLOW_SMS_PAUSE_PROBE);
		}
		j = job_of_link(phoneq_take(s->queues));
		j->att.probe = paused;
		if (offsets_revoked(j->oe)) {
			/* Another instance owns the partition now and will
			 * redeliver the record: sending it here too would
			 * race that instance. */
			release_number(s, j);
			job_abandon(j);
			continue;
		}
		if (retry_too_late(&s->pol, now, j->rec.expires_at)) {
			expire_before_send(s, j);
			continue;
		}
		if (in_batch(s, n, j)) { /* one otp_id twice: next turn */
			phoneq_again(s->queues, &j->ql);
			break;
		}
		s->batch[n++] = j;
	}
	return n;
}

void dispatch_ready(struct sender *s)
{
	int64_t now = clock_wall_ms();
	size_t n = take_batch(s, now);

	if (!n)
		return;
	if (deliveries_claim(&s->db, provider_name(s->prov), s->instance,
			     s->lease_ms, s->batch, n) < 0) {
		for (size_t i = n; i-- > 0;)
			phoneq_again(s->queues, &s->batch[i]->ql);
		return;
	}
	for (size_t i = 0; i < n && !daemon_failed(); i++) {
		struct job *j = s->batch[i];

		switch (j->att.claim) {
		case CLAIM_SENT:
			job_log(LOG_INFO, j, "already sent: skipped", NULL,
				NULL, NULL, NULL);
			metrics_inc(s->m_outcomes, M_DUPLICATE, 1);
			release_number(s, j);
			job_finish(j);
			break;
		case CLAIM_BUSY:
			wait_for_lease(s, j);
			break;
		default:
			start_send(s, j, now);
		}
	}
}
