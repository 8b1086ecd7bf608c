/*
 * The worker's side of sms-otp: publishes the OtpIssued records of a
 * committed batch (steps 5 of worker.c's order of effects) and, at start
 * and periodically, the outbox rows nobody is waiting for any more. It
 * waits out broker outages (retrying, /readyz saying so) rather than skip
 * anything; a copy published twice is deduplicated by the sender.
 */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "engine.h"
#include "headers.h"
#include "kafka.h"
#include "log.h"

#define OUTBOX_CHUNK 500
#define BACKOFF_MAX_MS 2000
#define FLUSH_STEP_MS 1000

void outbox_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque)
{
	bool *delivered = rkm->_private;

	(void)opaque;
	*delivered = rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR;
	if (!rkm->err)
		return;
	LOG(LOG_WARN, "record not delivered", "topic",
	    rd_kafka_topic_name(rkm->rkt), "error",
	    rd_kafka_err2name(rkm->err));
	if (kafka_classify(rk, rkm->err) == KAFKA_FATAL)
		daemon_fatal("kafka producer", rd_kafka_err2str(rkm->err));
}

/*
 * Stopping with records still unconfirmed: their delivery reports point
 * into a set about to be freed, so they are purged and their reports
 * served now. The outbox rows stay and are published at the next start.
 */
static void abandon_deliveries(struct worker *w)
{
	rd_kafka_purge(w->producer,
		       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (int i = 0; i < 50 && rd_kafka_outq_len(w->producer) > 0; i++)
		rd_kafka_poll(w->producer, 100);
}

bool outbox_publish_set(struct worker *w, void *set, size_t n,
			outbox_produce_fn produce, outbox_pending_fn pending)
{
	long long backoff = 100;

	for (;;) {
		size_t left = 0;

		for (size_t i = 0; i < n; i++) {
			rd_kafka_resp_err_t err;

			if (!pending(set, i))
				continue;
			err = produce(w, set, i);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				rd_kafka_poll(w->producer, 100);
				i--; /* same record again */
				continue;
			}
			if (err)
				LOG(LOG_ERROR, "cannot queue a record", "error",
				    rd_kafka_err2name(err));
			left++;
		}
		if (left == 0)
			return true;
		while (rd_kafka_flush(w->producer, FLUSH_STEP_MS) ==
		       RD_KAFKA_RESP_ERR__TIMED_OUT) {
			atomic_store(&w->kafka_ok, false);
			if (daemon_stopping()) {
				abandon_deliveries(w);
				return false;
			}
		}
		left = 0;
		for (size_t i = 0; i < n; i++)
			left += pending(set, i);
		atomic_store(&w->kafka_ok, left == 0);
		if (left == 0)
			return true;
		if (daemon_stopping())
			return false;
		clock_sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							 backoff * 2;
	}
}

static bool item_pending(const void *set, size_t i)
{
	const struct batch_item *it = (const struct batch_item *)set + i;

	return it->value && !it->delivered && store_issues_code(it->outcome);
}

static rd_kafka_resp_err_t item_produce(struct worker *w, void *set, size_t i)
{
	struct batch_item *it = (struct batch_item *)set + i;

	return rd_kafka_producev(
		w->producer,
		RD_KAFKA_V_TOPIC(cfg_str(w->cfg, CFG_OTPFLOW_TOPIC_SMS_OTP)),
		RD_KAFKA_V_KEY(it->phone, strlen(it->phone)),
		RD_KAFKA_V_VALUE(it->value, it->value_len),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_HEADER(HDR_REQUEST_ID, it->request_id, -1),
		RD_KAFKA_V_HEADER(HDR_TRACEPARENT, it->traceparent, -1),
		/* For the end-to-end latency the sender reports. */
		RD_KAFKA_V_HEADER(HDR_RECEIVED_AT, it->received_at, -1),
		RD_KAFKA_V_OPAQUE(&it->delivered), RD_KAFKA_V_END);
}

bool outbox_publish(struct worker *w, struct batch_item *items, size_t n)
{
	return outbox_publish_set(w, items, n, item_produce, item_pending);
}

/*
 * At start (min_age_ms 0) the rows a crash left; then periodically the rows
 * whose batch lost track of them (a commit whose acknowledgement was lost on
 * the wire, a worker that died).
 */
bool outbox_drain(struct worker *w, long long min_age_ms)
{
	struct batch_item *items = calloc(OUTBOX_CHUNK, sizeof(*items));
	size_t total = 0;
	bool ok = false;

	if (!items)
		return false;
	for (;;) {
		char errstr[512];
		size_t n = 0;
		enum pg_class cls;

		if (!pg_session_wait(&w->pg))
			goto out;
		cls = store_outbox_load(w->pg.conn, items, OUTBOX_CHUNK,
					min_age_ms, &n, errstr, sizeof(errstr));
		if (cls != PG_OK) {
			if (!worker_pg_failed(w, cls, "outbox load", errstr))
				goto out;
			continue;
		}
		if (n == 0)
			break;
		if (!outbox_publish(w, items, n))
			goto out_clear;
		while ((cls = store_outbox_delete(w->pg.conn, items, n, errstr,
						  sizeof(errstr))) != PG_OK)
			if (!worker_pg_failed(w, cls, "outbox delete", errstr))
				goto out_clear;
		total += n;
		for (size_t i = 0; i < n; i++)
			batch_item_clear(&items[i]);
	}
	if (total) {
		char count[24];
		snprintf(count, sizeof(count), "%zu", total);
		LOG(LOG_INFO, "published outbox rows left behind", "count",
		    count);
	}
	ok = true;
	goto out;
out_clear:
	for (size_t i = 0; i < OUTBOX_CHUNK; i++)
		batch_item_clear(&items[i]);
out:
	free(items);
	return ok;
}
