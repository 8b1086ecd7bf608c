/*
 * The ingest producer. Two small threads: one polls delivery reports
 * (so HTTP threads never block on Kafka), one probes the cluster every
 * second for /readyz. Probing lives apart so that a slow metadata call
 * never delays delivery reports.
 */
#include "publish.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "headers.h"
#include "kafka.h"
#include "log.h"

struct publisher {
	rd_kafka_t *rk;
	publish_done_fn done;
	pthread_t poller, prober;
	atomic_bool stop;
	atomic_bool ready;
	atomic_bool fatal;
	atomic_bool closing; /* publisher_close began: nothing more is queued */
	atomic_int senders; /* HTTP threads inside publisher_send */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque)
{
	struct publisher *p = opaque;

	if (rkm->err && kafka_classify(rk, rkm->err) == KAFKA_FATAL)
		atomic_store(&p->fatal, true);
	p->done(rkm->_private, rkm->err);
}

static void *poll_loop(void *arg)
{
	struct publisher *p = arg;

	while (!atomic_load(&p->stop))
		rd_kafka_poll(p->rk, 100);
	return NULL;
}

static void *probe_loop(void *arg)
{
	struct publisher *p = arg;
	char why[256];

	while (!atomic_load(&p->stop)) {
		const struct rd_kafka_metadata *md = NULL;
		bool ok = rd_kafka_metadata(p->rk, 0, NULL, &md, 1000) ==
			  RD_KAFKA_RESP_ERR_NO_ERROR;

		if (md)
			rd_kafka_metadata_destroy(md);
		if (rd_kafka_fatal_error(p->rk, why, sizeof(why))) {
			if (!atomic_exchange(&p->fatal, true))
				LOG(LOG_ERROR, "kafka producer fatal", "reason",
				    why);
			ok = false;
		}
		if (ok != atomic_exchange(&p->ready, ok))
			LOG(ok ? LOG_INFO : LOG_WARN,
			    ok ? "kafka reachable: ready" :
				 "kafka unreachable: not ready");
		for (int i = 0; i < 10 && !atomic_load(&p->stop); i++)
			usleep(100 * 1000);
	}
	return NULL;
}

struct publisher *publisher_new(const struct cfg *cfg, publish_done_fn done,
				char *errstr, size_t errstr_size)
{
	struct publisher *p = calloc(1, sizeof(*p));
	char timeout[32];
	const char *overrides[] = { "message.timeout.ms", timeout,
				    /* Latency first: a request waits on it. */
				    "linger.ms", "2", NULL };

	if (!p) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	snprintf(timeout, sizeof(timeout), "%lld",
		 cfg_int(cfg, CFG_OTPFLOW_ACCEPT_TIMEOUT_MS));
	p->done = done;
	p->rk = kafka_producer_new(cfg, on_delivery, p, overrides, errstr,
				   errstr_size);
	if (!p->rk) {
		free(p);
		return NULL;
	}
	if (pthread_create(&p->poller, NULL, poll_loop, p)) {
		snprintf(errstr, errstr_size, "cannot start threads");
		rd_kafka_destroy(p->rk);
		free(p);
		return NULL;
	}
	if (pthread_create(&p->prober, NULL, probe_loop, p)) {
		snprintf(errstr, errstr_size, "cannot start threads");
		atomic_store(&p->stop, true);
		pthread_join(p->poller, NULL);
		rd_kafka_destroy(p->rk);
		free(p);
		return NULL;
	}
	return p;
}

rd_kafka_resp_err_t publisher_send(struct publisher *p, const char *topic,
				   const char *key, const void *value,
				   size_t len, const char *request_id,
				   const char *traceparent, void *opaque)
{
	rd_kafka_resp_err_t err;

	/* Counted in before looking at closing: publisher_close waits for
	 * every sender that saw it false, so no record is queued after its
	 * flush (a kept-alive connection may send one more request while the
	 * server drains; it gets 503). */
	atomic_fetch_add(&p->senders, 1);
	if (atomic_load(&p->closing))
		err = RD_KAFKA_RESP_ERR__STATE;
	else if (atomic_load(&p->fatal))
		err = RD_KAFKA_RESP_ERR__FATAL;
	else
		err = rd_kafka_producev(
			p->rk, RD_KAFKA_V_TOPIC(topic),
			RD_KAFKA_V_KEY(key, strlen(key)),
			RD_KAFKA_V_VALUE((void *)value, len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_HEADER(HDR_REQUEST_ID, request_id, -1),
			RD_KAFKA_V_HEADER(HDR_TRACEPARENT, traceparent, -1),
			RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	atomic_fetch_sub(&p->senders, 1);
	return err;
}

bool publisher_ready(const struct publisher *p)
{
	return atomic_load(&p->ready) && !atomic_load(&p->fatal);
}

bool publisher_fatal(const struct publisher *p)
{
	return atomic_load(&p->fatal);
}

int publisher_close(struct publisher *p, int timeout_ms)
{
	int left;

	atomic_store(&p->closing, true);
	while (atomic_load(&p->senders) > 0)
		clock_sleep_ms(1);
	rd_kafka_flush(p->rk, timeout_ms);
	atomic_store(&p->stop, true);
	pthread_join(p->poller, NULL);
	pthread_join(p->prober, NULL);
	left = rd_kafka_outq_len(p->rk);
	if (left > 0)
		LOG(LOG_ERROR, "records not delivered at shutdown");
	/* Serve the remaining reports so every request gets its answer. */
	rd_kafka_purge(p->rk,
		       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(p->rk, 0);
	return left;
}

void publisher_free(struct publisher *p)
{
	if (!p)
		return;
	rd_kafka_destroy(p->rk);
	free(p);
}
