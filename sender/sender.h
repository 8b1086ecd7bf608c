/*
 * The sending engine (docs/api.md §4): one thread runs a loop over the Kafka
 * consumer (sms-otp, sms-otp-retry), libcurl's multi handle and the
 * producer's delivery reports. Every consumed record becomes a job
 * (job.h) that ends in exactly one outcome record (sms-sent, sms-otp-retry
 * or cannot-send-sms) or, for a code already sent, in nothing; its offset
 * is stored only once that outcome is delivered, in per-partition order
 * (common/offsets.h).
 *
 * The engine's parts, one file each:
 *   consume.c     records in, rebalances, pause/resume (backpressure)
 *   dispatch.c    the curl loop: claim, send, reap answers, record 'sent'
 *   deliveries.c  Postgres claims and marks (otpflow.sms_deliveries)
 *   outcome.c     building the outcome records (pure)
 *   emit.c        producing them, delivery reports, produce retries
 *   job.c         jobs: creation, parsing, finishing
 *   phoneq.c      per-number queues; delay.c the delay heap
 *   sender.c      this struct: construction, the turn loop, drain, teardown
 *
 * Order of effects for one record:
 *   claim the otp_id in Postgres (a lease: 'sending', held by this
 *   process until the provider timeout plus a margin; a 'sent' row means
 *   skip, another sender's live lease means wait and claim again; the
 *   claims of one turn share one statement) -> provider request ->
 *   classify -> produce the outcome record -> delivery report -> (for
 *   SmsSent: 'sent' in Postgres, batched per turn) -> store the offset.
 * A crash after the provider's 2xx and before 'sent' is recorded may send
 * that SMS again (at most one per number in flight); a 'sent' row always
 * has its SmsSent. A failed produce is retried, never dropped; nothing
 * after it in the partition gets its offset stored meanwhile.
 */
#ifndef OTPFLOW_SENDER_SENDER_H
#define OTPFLOW_SENDER_SENDER_H

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"
#include "delay.h"
#include "events.h"
#include "job.h"
#include "metrics.h"
#include "offsets.h"
#include "pg.h"
#include "phoneq.h"
#include "provider.h"
#include "retry.h"
#include "seal.h"
#include "template.h"

/* otpflow_sender_records_total{outcome} */
enum { M_SENT, M_RETRIED, M_DEAD, M_DUPLICATE };

struct sender {
	const struct cfg *cfg;
	struct events *ev;
	/* what a send needs */
	struct seal_keys keys;
	struct seal_keys previous; /* during a key rotation */
	bool has_previous;
	bool accept_unbound; /* OTPFLOW_SEAL_ACCEPT_UNBOUND: version 1 seals */
	struct templates *tpl;
	struct classifier *cls;
	struct provider *prov;
	struct retry_policy pol;
	long connect_timeout_ms, timeout_ms;
	/* clients */
	const char *topic_otp, *topic_retry, *topic_sent, *topic_dlt;
	rd_kafka_t *consumer, *producer;
	rd_kafka_queue_t *cq, *pq;
	int wake[2]; /* both queues signal it; curl polls it */
	CURLM *multi;
	struct pg_session db;
	char instance[128]; /* lease owner: host/pid/random, per process */
	int64_t lease_ms; /* provider timeout + OTPFLOW_SMS_LEASE_MARGIN */
	/* jobs, wherever they wait */
	struct job *jobs; /* every live job (freed at exit) */
	struct offsets *offsets; /* assigned and revoked partitions */
	struct phoneqs *queues; /* per number, and the ready list */
	struct delay_heap delayed; /* retry records not due yet */
	struct job **batch; /* one turn's claims, max_in_flight */
	struct job *sent_head, **sent_tail; /* 2xx delivered, not recorded */
	struct job *reproduce; /* outcomes waiting for another produce */
	int max_in_flight;
	int max_held[SOURCE__COUNT]; /* OTPFLOW_SMS_MAX_(RETRY_)PENDING */
	int held[SOURCE__COUNT]; /* records held, by source */
	int in_flight, pending; /* pending: held, all sources */
	int unrecorded; /* answered 2xx, 'sent' not stored yet */
	atomic_int undecoded; /* waiting for the schema registry (/readyz) */
	/* state of the loop */
	bool paused[SOURCE__COUNT]; /* its partitions paused */
	bool draining;
	bool closing; /* sender_free: delivery reports change nothing */
	int64_t next_probe; /* monotonic ms */
	int64_t next_prune; /* monotonic ms */
	int64_t retention_ms; /* OTPFLOW_LEDGER_RETENTION */
	atomic_bool paused_config;
	struct metric *m_outcomes, *m_dead, *m_class, *m_in_flight, *m_pending,
		*m_paused, *m_latency, *m_end_to_end, *m_undecoded, *m_busy,
		*m_retry_pending, *m_pruned;
};

/*
 * The daemon kit's create step: loads templates, keys, the classification
 * table and the provider, and connects to Kafka and Postgres. Returns
 * DAEMON_EXIT_OK with *state the new struct sender, DAEMON_EXIT_CONFIG for
 * a bad setting (a missing default template too) or DAEMON_EXIT_FAILED,
 * with a message in errstr. cfg and ev must outlive it.
 */
int sender_new(const struct cfg *cfg, struct events *ev, void **state,
	       char *errstr, size_t errstr_size);

/*
 * Runs until daemon_stopping() (then drains: stop consuming, finish
 * requests in flight, deliver their outcomes, store offsets). Returns the
 * process exit status (0 after a clean drain).
 */
int sender_run(void *s);

/* Readiness for /readyz (thread-safe): false while paused by a provider
 * configuration error, without Postgres, or after a fatal error. */
bool sender_ready(void *s, char *why, size_t why_size);

/* Closes the clients (bounded) and frees everything; NULL-safe. */
void sender_free(void *s);

/* True when Postgres may be used now (connected, not backing off). */
bool sender_db_usable(struct sender *s);

#endif
