/*
 * The engine (see sender.h): construction from the configuration, the turn
 * loop (consume, release due retries, dispatch, drive curl, deliver,
 * record), the drain and the teardown.
 */
#include "sender.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "consume.h"
#include "daemon.h"
#include "deliveries.h"
#include "dispatch.h"
#include "emit.h"
#include "kafka.h"
#include "ledger.h"
#include "log.h"
#include "outcome.h"
#include "paths.h"

#define GROUP "otpflow-sender"
#define CONSUME_BATCH 1000
/* Shutdown stays bounded even with every broker gone: requests at the
 * provider get their timeout, outcomes DRAIN_EXTRA_MS more to be
 * delivered (milliseconds with a broker up), then each client close its
 * own bound. Whatever is left is redelivered after a restart. */
#define CLOSE_TIMEOUT_MS 3000 /* consumer close, producer flush */
#define DRAIN_EXTRA_MS 3000 /* drain: the provider timeout plus this */
#define PAUSED_WAIT_MS 100 /* longest wait while paused with work */
#define PRUNE_FIRST_MS 5000 /* the ledger's first pruning after start */
#define PRUNE_EVERY_MS 60000

static const char *const outcome_labels[] = { "sent", "retried",
					      "dead_lettered", "duplicate",
					      NULL };
static const char *const class_labels[] = { "success", "transient", "permanent",
					    "config", NULL };

static void register_metrics(struct sender *s)
{
	static const double lat[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
				      1,    2.5,   5,	 10,  30 };

	s->m_outcomes =
		metrics_counter("otpflow_sender_records_total",
				"Consumed OtpIssued records by final outcome.",
				"outcome", outcome_labels);
	s->m_dead = metrics_counter("otpflow_sender_dead_letters_total",
				    "Dead letters by reason.", "reason",
				    outcome_dead_reasons);
	s->m_class = metrics_counter("otpflow_sender_provider_attempts_total",
				     "Provider attempts by classified outcome.",
				     "class", class_labels);
	s->m_in_flight = metrics_gauge("otpflow_sender_in_flight",
				       "Provider requests in flight.");
	s->m_pending = metrics_gauge(
		"otpflow_sender_pending",
		"Consumed records held in memory (queued, delayed, in flight).");
	s->m_retry_pending = metrics_gauge(
		"otpflow_sender_retry_pending",
		"Records from the retry topic held in memory (most wait out "
		"their backoff); its own budget, OTPFLOW_SMS_MAX_RETRY_PENDING.");
	s->m_paused = metrics_gauge(
		"otpflow_sender_paused",
		"1 while paused by a provider configuration error (401/403).");
	s->m_latency = metrics_histogram(
		"otpflow_sender_provider_latency_seconds",
		"Time from request start to the provider's answer.", lat,
		sizeof(lat) / sizeof(lat[0]));
	s->m_end_to_end = metrics_histogram(
		"otpflow_sender_accept_to_sent_seconds",
		"Time from ingest receiving the request to the provider's 2xx.",
		lat, sizeof(lat) / sizeof(lat[0]));
	s->m_busy = metrics_counter(
		"otpflow_sender_claims_refused_total",
		"Claims refused because another sender holds a live lease on "
		"the code (the record waits and claims again).",
		NULL, NULL);
	s->m_pruned =
		metrics_counter("otpflow_sender_ledger_pruned_total",
				"otpflow.sms_deliveries rows deleted after "
				"OTPFLOW_LEDGER_RETENTION.",
				NULL, NULL);
	s->m_undecoded = metrics_gauge(
		"otpflow_sender_waiting_for_schema",
		"Records that cannot be decoded now (writer schema not fetched, "
		"registry failing): they wait, never dead-lettered.");
}

/* The lease owner: unique per process, readable in the table. */
static void name_instance(struct sender *s)
{
	char host[64] = "";
	unsigned char r[4];

	gethostname(host, sizeof(host) - 1);
	randombytes_buf(r, sizeof(r));
	snprintf(s->instance, sizeof(s->instance), "%s/%d/%02x%02x%02x%02x",
		 host, (int)getpid(), r[0], r[1], r[2], r[3]);
}

/* Keys, templates, classifier, provider: everything a setting decides. */
static int load_settings(struct sender *s, const struct cfg *cfg, char *errstr,
			 size_t errstr_size)
{
	const char *prev = cfg_str(cfg, CFG_OTPFLOW_SEAL_PREVIOUS_SECRET_KEY);
	const char *tdir = cfg_str(cfg, CFG_OTPFLOW_TEMPLATES_DIR);
	char dir[4096], why[JOB_ERROR_SIZE];

	if (seal_keys_secret(&s->keys,
			     cfg_str(cfg, CFG_OTPFLOW_SEAL_SECRET_KEY), why,
			     sizeof(why)) < 0) {
		snprintf(errstr, errstr_size, "OTPFLOW_SEAL_SECRET_KEY: %s",
			 why);
		return -1;
	}
	s->accept_unbound = cfg_bool(cfg, CFG_OTPFLOW_SEAL_ACCEPT_UNBOUND);
	if (prev && *prev) {
		if (seal_keys_secret(&s->previous, prev, why, sizeof(why)) <
		    0) {
			snprintf(errstr, errstr_size,
				 "OTPFLOW_SEAL_PREVIOUS_SECRET_KEY: %s", why);
			return -1;
		}
		s->has_previous = true;
	}
	if (!tdir || !*tdir)
		tdir = paths_data(cfg, "templates", dir, sizeof(dir));
	s->tpl = templates_load(tdir, cfg_str(cfg, CFG_AUTH_LOCALE_DEFAULT),
				errstr, errstr_size);
	if (!s->tpl)
		return -1;
	s->cls = classifier_new(cfg_list(cfg, CFG_OTPFLOW_SMS_CLASSIFY), errstr,
				errstr_size);
	if (!s->cls)
		return -1;
	s->prov = provider_new(cfg, errstr, errstr_size);
	if (!s->prov)
		return -1;
	LOG(LOG_INFO, "sender configured", "provider", provider_name(s->prov),
	    "templates", tdir);
	return 0;
}

/* libcurl's multi handle and the pipe both Kafka queues wake. */
static int open_io(struct sender *s, char *errstr, size_t errstr_size)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(s->multi = curl_multi_init())) {
		snprintf(errstr, errstr_size, "cannot initialise libcurl");
		return -1;
	}
	/* Keep a connection per request in flight: reconnecting for every
	 * SMS costs a handshake (TLS in production) each time. */
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)s->max_in_flight);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS,
			  (long)s->max_in_flight);
	if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int open_kafka(struct sender *s, const struct cfg *cfg, char *errstr,
		      size_t errstr_size)
{
	const char *overrides[] = { "linger.ms", "5", "message.timeout.ms", "0",
				    NULL };
	const char *topics[] = { s->topic_otp, s->topic_retry, NULL };

	s->producer = kafka_producer_new(cfg, emit_on_delivery, s, overrides,
					 errstr, errstr_size);
	if (!s->producer)
		return -1;
	s->consumer = kafka_consumer_new(cfg, GROUP, topics, NULL,
					 consume_rebalance, s, errstr,
					 errstr_size);
	if (!s->consumer)
		return -1;
	s->cq = rd_kafka_queue_get_consumer(s->consumer);
	s->pq = rd_kafka_queue_get_main(s->producer);
	rd_kafka_queue_io_event_enable(s->cq, s->wake[1], "c", 1);
	rd_kafka_queue_io_event_enable(s->pq, s->wake[1], "p", 1);
	return 0;
}

int sender_new(const struct cfg *cfg, struct events *ev, void **state,
	       char *errstr, size_t errstr_size)
{
	struct sender *s = calloc(1, sizeof(*s));
	int rc = DAEMON_EXIT_FAILED;

	if (!s) {
		snprintf(errstr, errstr_size, "out of memory");
		return DAEMON_EXIT_FAILED;
	}
	s->cfg = cfg;
	s->ev = ev;
	s->wake[0] = s->wake[1] = -1;
	s->sent_tail = &s->sent_head;
	atomic_init(&s->paused_config, false);
	atomic_init(&s->undecoded, 0);
	s->topic_otp = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_OTP);
	s->topic_retry = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_OTP_RETRY);
	s->topic_sent = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_SENT);
	s->topic_dlt = cfg_str(cfg, CFG_OTPFLOW_TOPIC_DEAD_LETTER);
	s->pol.max_attempts = (int)cfg_int(cfg, CFG_OTPFLOW_SMS_MAX_ATTEMPTS);
	s->pol.initial_ms = cfg_ms(cfg, CFG_OTPFLOW_SMS_BACKOFF_INITIAL);
	s->pol.max_ms = cfg_ms(cfg, CFG_OTPFLOW_SMS_BACKOFF_MAX);
	s->pol.expiry_margin_ms = cfg_ms(cfg, CFG_OTPFLOW_SMS_EXPIRY_MARGIN);
	s->connect_timeout_ms =
		(long)cfg_ms(cfg, CFG_OTPFLOW_SMS_CONNECT_TIMEOUT);
	s->timeout_ms = (long)cfg_ms(cfg, CFG_OTPFLOW_SMS_TIMEOUT);
	s->max_in_flight = (int)cfg_int(cfg, CFG_OTPFLOW_SMS_MAX_IN_FLIGHT);
	s->max_held[SOURCE_FRESH] =
		(int)cfg_int(cfg, CFG_OTPFLOW_SMS_MAX_PENDING);
	s->max_held[SOURCE_RETRY] =
		(int)cfg_int(cfg, CFG_OTPFLOW_SMS_MAX_RETRY_PENDING);
	pg_session_init(&s->db, cfg_str(cfg, CFG_OTPFLOW_DATABASE_URL),
			"otpflow-sender");
	s->lease_ms = s->timeout_ms + cfg_ms(cfg, CFG_OTPFLOW_SMS_LEASE_MARGIN);
	s->retention_ms = cfg_ms(cfg, CFG_OTPFLOW_LEDGER_RETENTION);
	s->next_prune = clock_mono_ms() + PRUNE_FIRST_MS;
	name_instance(s);
	s->batch = calloc((size_t)s->max_in_flight, sizeof(*s->batch));
	s->offsets = offsets_new();
	s->queues = malloc(sizeof(*s->queues));
	if (!s->batch || !s->offsets || !s->queues) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	phoneqs_init(s->queues);
	delay_init(&s->delayed);
	if (load_settings(s, cfg, errstr, errstr_size) < 0) {
		rc = DAEMON_EXIT_CONFIG;
		goto fail;
	}
	if (open_io(s, errstr, errstr_size) < 0)
		goto fail;
	if (open_kafka(s, cfg, errstr, errstr_size) < 0) {
		rc = DAEMON_EXIT_CONFIG; /* an OTPFLOW_KAFKA_* property */
		goto fail;
	}
	pg_session_connect(&s->db); /* not fatal: retried, see /readyz */
	register_metrics(s);
	*state = s;
	return DAEMON_EXIT_OK;
fail:
	sender_free(s);
	return rc;
}

bool sender_db_usable(struct sender *s)
{
	/* After any failure the session backs off, connected or not: a loop
	 * over a broken statement would only spin. */
	return clock_mono_ms() >= s->db.retry_at && pg_session_connect(&s->db);
}

static void drain_wake(struct sender *s)
{
	char buf[256];

	while (read(s->wake[0], buf, sizeof(buf)) > 0)
		;
}

/* Delayed records whose time has come: retries join their number's
 * queue, records waiting for their schema are decoded again. */
static void release_due(struct sender *s)
{
	int64_t now = clock_wall_ms();
	struct job *j;

	while (!s->draining && (j = delay_pop_due(&s->delayed, now)) != NULL)
		consume_due(s, j);
}

/*
 * The ledger keeps OTPFLOW_LEDGER_RETENTION: one batch of older rows per
 * turn while there are more, then a pause.
 */
static void prune(struct sender *s)
{
	int64_t now = clock_mono_ms();
	int n;

	if (now < s->next_prune || s->draining || !sender_db_usable(s))
		return;
	n = deliveries_prune(&s->db, s->retention_ms);
	s->next_prune = n == LEDGER_PRUNE_BATCH ? now : now + PRUNE_EVERY_MS;
	if (n > 0) {
		char rows[16];

		snprintf(rows, sizeof(rows), "%d", n);
		metrics_inc(s->m_pruned, 0, (uint64_t)n);
		LOG(LOG_DEBUG, "ledger pruned", "rows", rows);
	}
}

/* How long the next poll may wait: less when a retry falls due sooner. */
static int next_wait(struct sender *s, int wait_ms, int consumed)
{
	int64_t due;

	if (consumed == CONSUME_BATCH)
		return 0;
	if (!s->draining && delay_next(&s->delayed, &due)) {
		int64_t d = due - clock_wall_ms();

		if (d < wait_ms)
			wait_ms = d < 0 ? 0 : (int)d;
	}
	if (phoneq_any_ready(s->queues) && atomic_load(&s->paused_config) &&
	    wait_ms > PAUSED_WAIT_MS)
		wait_ms = PAUSED_WAIT_MS;
	return wait_ms;
}

/* One turn: consume, release due retries, dispatch, drive curl, deliver. */
static void turn(struct sender *s, int wait_ms)
{
	int running, consumed = 0;
	struct curl_waitfd wfd = { .fd = s->wake[0],
				   .events = CURL_WAIT_POLLIN };

	for (; consumed < CONSUME_BATCH; consumed++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, 0);

		if (!m)
			break;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				LOG(LOG_WARN, "consumer error", "error",
				    rd_kafka_message_errstr(m));
		} else if (!s->draining) {
			consume_record(s, m);
			consume_backpressure(s); /* budgets hold per record */
		}
		rd_kafka_message_destroy(m);
	}
	release_due(s);
	dispatch_ready(s);
	curl_multi_perform(s->multi, &running);
	dispatch_reap(s);
	rd_kafka_poll(s->producer, 0);
	dispatch_flush_sent(s);
	if (s->reproduce)
		emit_retry_due(s, clock_mono_ms());
	prune(s);
	consume_backpressure(s);
	wait_ms = next_wait(s, wait_ms, consumed);
	if (wait_ms > 0) {
		curl_multi_poll(s->multi, &wfd, 1, wait_ms, NULL);
		drain_wake(s);
	}
}

/* Work still owed before exit: requests in flight, outcomes not delivered. */
static bool owing(struct sender *s)
{
	return s->in_flight > 0 || rd_kafka_outq_len(s->producer) > 0 ||
	       s->reproduce || s->sent_head;
}

static void abandon_link(struct phoneq_link *l, void *arg)
{
	(void)arg;
	job_abandon(job_of_link(l));
}

/* Records not started are redelivered after a restart. */
static void abandon_waiting(struct sender *s)
{
	struct job *j;

	while ((j = delay_pop(&s->delayed)) != NULL)
		job_abandon(j);
	phoneqs_clear(s->queues, abandon_link, NULL);
}

int sender_run(void *state)
{
	struct sender *s = state;
	int64_t deadline;

	LOG(LOG_INFO, "consuming", "topics", s->topic_otp, "retry_topic",
	    s->topic_retry, "instance", s->instance);
	while (!daemon_stopping())
		turn(s, 100);
	if (daemon_failed())
		LOG(LOG_ERROR, "stopping without storing further offsets");
	LOG(LOG_INFO, "draining");
	s->draining = true;
	consume_pause(s, true);
	deadline = clock_mono_ms() + s->timeout_ms + DRAIN_EXTRA_MS;
	while (owing(s) && clock_mono_ms() < deadline && !daemon_failed())
		turn(s, 50);
	if (owing(s))
		LOG(LOG_WARN, "drain timed out: unfinished records will be "
			      "redelivered");
	for (struct job *j = s->sent_head; j; j = j->bnext)
		job_log(LOG_ERROR, j,
			"SMS sent but not recorded: a redelivery may send it "
			"again",
			NULL, NULL, NULL, NULL);
	abandon_waiting(s);
	return daemon_failed() ? DAEMON_EXIT_FAILED : DAEMON_EXIT_OK;
}

bool sender_ready(void *arg, char *why, size_t why_size)
{
	struct sender *s = arg;

	if (daemon_failed()) {
		snprintf(why, why_size, "fatal error");
		return false;
	}
	if (atomic_load(&s->paused_config)) {
		snprintf(why, why_size,
			 "paused: the SMS provider rejects our "
			 "credentials or configuration");
		return false;
	}
	if (s->undecoded > 0) {
		snprintf(why, why_size, "records wait for the schema registry");
		return false;
	}
	if (!pg_session_ready(&s->db)) {
		snprintf(why, why_size, "postgres unreachable");
		return false;
	}
	return true;
}

void sender_free(void *state)
{
	struct sender *s = state;

	if (!s)
		return;
	s->closing = true;
	if (s->cq)
		rd_kafka_queue_destroy(s->cq);
	if (s->pq)
		rd_kafka_queue_destroy(s->pq);
	kafka_producer_close(s->producer, CLOSE_TIMEOUT_MS);
	kafka_consumer_close(s->consumer, CLOSE_TIMEOUT_MS);
	/* Whatever is still owed is redelivered after a restart: free it. */
	while (s->jobs) {
		struct job *j = s->jobs;

		if (j->att.req.easy && s->multi)
			curl_multi_remove_handle(s->multi, j->att.req.easy);
		job_free(j);
	}
	offsets_free(s->offsets);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	pg_session_close(&s->db);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	delay_free(&s->delayed);
	free(s->queues);
	free(s->batch);
	provider_free(s->prov);
	classifier_free(s->cls);
	templates_free(s->tpl);
	sodium_memzero(&s->keys, sizeof(s->keys));
	sodium_memzero(&s->previous, sizeof(s->previous));
	free(s);
}
