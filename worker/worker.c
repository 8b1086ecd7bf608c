/*
 * The worker's life cycle and loop: it owns the state (engine.h), builds
 * the clients, runs the loop that moves batches through their steps
 * (batch.c, outbox.c, deadletter.c), prunes the ledger and answers
 * /readyz. The order of effects per batch is the delivery guarantee:
 *
 *   1. decode (a malformed record is set aside for the dead-letter topic;
 *      one whose writer schema cannot be fetched now holds the batch)
 *   2. pre-filter: already processed / already registered need no code
 *   3. codes, bcrypt on the hash pool, sealed
 *   4. one transaction: dedup record, users, roles, issuance, outbox, and
 *      last the codes' times and OtpIssued records (stamped at commit)
 *   5. publish the batch's outbox rows; wait for every delivery report
 *   6. delete the delivered outbox rows
 *   7. publish the dead letters (malformed records, requests that fail
 *      alone with a data error); wait for delivery; record the latter
 *   8. store the offsets (committed in the background)
 *
 * A crash before 4 commits nothing (redelivery redoes it); between 4 and 8
 * the outbox survives and is published again at start (the sender dedups
 * by otp_id); the dedup table makes a redelivered request a no-op, and a
 * request dead-lettered but not recorded is dead-lettered again. Every
 * failure that is not proven to be the data's (Postgres or Kafka outages,
 * timeouts, a read-only server, an unreachable schema registry) holds the
 * batch, retrying with backoff, rather than skip anything.
 *
 * Two batches are in flight: while batch N is committed, published and its
 * offsets stored (4-7, mostly waiting on Postgres and the broker), the hash
 * pool already computes batch N+1's codes (1-3). Commits stay in order, so
 * a REISSUE sees the user a previous batch created; the pre-filter of N+1
 * runs before N commits and may miss N's users, which costs a wasted hash,
 * never a duplicate: the transaction re-checks.
 */
#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "daemon.h"
#include "engine.h"
#include "kafka.h"
#include "ledger.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "paths.h"

#define GROUP "otpflow-worker"
#define OUTBOX_SWEEP_MS 30000 /* age and period of the outbox sweep */
#define PRUNE_PERIOD_MS 10000 /* ledger pruning, between batches */
#define PRUNE_ROUNDS 10 /* batches of LEDGER_PRUNE_BATCH per table and turn */
#define CLOSE_TIMEOUT_MS 5000 /* consumer close, producer flush */
/* md5("") — Nhost hashes the e-mail, which an SMS sign-up does not have. */
#define GRAVATAR_EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"

static const char *const outcome_labels[] = {
	[WORKER_LABEL_CREATED] = "created",
	[WORKER_LABEL_EXISTING] = "existing",
	[WORKER_LABEL_SKIP] = "skip",
	[WORKER_LABEL_DROPPED] = "dropped",
	[WORKER_LABEL_REISSUED] = "reissued",
	[WORKER_LABEL_UNDECODABLE] = "undecodable",
	[WORKER_LABEL_SIGNIN_CODE] = "signin_code",
	[WORKER_LABEL_SIGNIN_THROTTLED] = "signin_throttled",
	[WORKER_LABEL_SIGNIN_REFUSED] = "signin_refused",
	[WORKER_LABEL_SIGNIN_NO_USER] = "signin_no_user",
	NULL
};
static const char *const reason_labels[] = { "UNSTORABLE", "UNDECODABLE",
					     NULL };
static const char *const hold_labels[] = {
	[WORKER_HOLD_POSTGRES] = "postgres",
	[WORKER_HOLD_REGISTRY] = "schema_registry",
	NULL,
};
static const double seconds_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					  0.5,	 1,    2.5,   5,    10,	 30 };

void worker_crash_point(const struct worker *w, const char *name)
{
	if (w->crash_point && strcmp(w->crash_point, name) == 0) {
		LOG(LOG_WARN, "test crash point reached", "point", name);
		raise(SIGKILL);
	}
}

bool worker_pg_failed(struct worker *w, enum pg_class cls, const char *what,
		      const char *errstr)
{
	pg_session_failed(&w->pg, cls, what, errstr);
	worker_hold(w, WORKER_HOLD_POSTGRES, errstr);
	return pg_session_wait(&w->pg);
}

void worker_hold(struct worker *w, enum worker_hold cause, const char *why)
{
	metrics_inc(w->stats.holds, cause, 1);
	/* Postgres: the session logs and reports readiness itself. */
	if (cause == WORKER_HOLD_REGISTRY &&
	    atomic_exchange(&w->registry_ok, false))
		LOG(LOG_WARN,
		    "schema registry unavailable; holding the batch "
		    "(offsets do not move)",
		    "error", why);
}

void worker_hold_end(struct worker *w, enum worker_hold cause)
{
	if (cause == WORKER_HOLD_REGISTRY &&
	    !atomic_exchange(&w->registry_ok, true))
		LOG(LOG_INFO, "schema registry usable again");
}

/* 1 while a batch is held (Postgres, the registry or Kafka failing). */
static double holding(void *arg)
{
	struct worker *w = arg;

	return !pg_session_ready(&w->pg) || !atomic_load(&w->kafka_ok) ||
	       !atomic_load(&w->registry_ok);
}

static void stats_init(struct worker *w, struct worker_stats *stats)
{
	stats->requests =
		metrics_counter("otpflow_worker_requests_total",
				"signup-requests records handled, by outcome.",
				"outcome", outcome_labels);
	stats->batches = metrics_counter("otpflow_worker_batches_total",
					 "Batches committed.", NULL, NULL);
	stats->failed = metrics_counter(
		"otpflow_worker_unstorable_requests_total",
		"Requests dead-lettered because Postgres refused them with a "
		"data error that repeated when retried alone.",
		NULL, NULL);
	stats->dead_letters = metrics_counter(
		"otpflow_worker_dead_letters_total",
		"Records published to the signup dead-letter topic, by reason.",
		"reason", reason_labels);
	stats->holds = metrics_counter(
		"otpflow_worker_hold_retries_total",
		"Retries of a held batch (offsets not moving), by cause.",
		"cause", hold_labels);
	stats->pruned = metrics_counter(
		"otpflow_worker_ledger_pruned_total",
		"Ledger rows older than OTPFLOW_LEDGER_RETENTION deleted.",
		NULL, NULL);
	metrics_gauge_func("otpflow_worker_holding",
			   "1 while the worker holds a batch because "
			   "Postgres, Kafka or the schema registry fails.",
			   holding, w);
	stats->batch = metrics_histogram(
		"otpflow_worker_batch_seconds",
		"Time of a batch from decoding to stored offsets.",
		seconds_buckets,
		sizeof(seconds_buckets) / sizeof(*seconds_buckets));
	stats->commit = metrics_histogram(
		"otpflow_worker_commit_seconds",
		"Time of a batch's Postgres transaction.", seconds_buckets,
		sizeof(seconds_buckets) / sizeof(*seconds_buckets));
}

static bool migrate(struct worker *w)
{
	char sql_dir[4096], errstr[1024];
	int applied = 0;

	paths_data(w->cfg, "sql", sql_dir, sizeof(sql_dir));
	while (pg_session_wait(&w->pg)) {
		if (migrate_run(w->pg.conn, sql_dir, &applied, errstr,
				sizeof(errstr)) == 0) {
			char count[16];
			snprintf(count, sizeof(count), "%d", applied);
			LOG(LOG_INFO, "migrations applied", "count", count);
			return true;
		}
		LOG(LOG_ERROR, "migration failed", "error", errstr);
		if (PQstatus(w->pg.conn) == CONNECTION_OK)
			return false; /* a real problem, not an outage */
		pg_session_failed(&w->pg, PG_RETRY_CONN, "migrate", errstr);
	}
	return false;
}

int worker_new(const struct cfg *cfg, struct events *ev, void **state,
	       char *errstr, size_t errstr_size)
{
	struct worker *w = calloc(1, sizeof(*w));
	const char *topics[] = {
		cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS), NULL
	};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long long threads = cfg_int(cfg, CFG_OTPFLOW_WORKER_HASH_THREADS);
	long long cost = cfg_int(cfg, CFG_OTPFLOW_OTP_BCRYPT_COST);
	int rc = DAEMON_EXIT_CONFIG;

	if (!w) {
		snprintf(errstr, errstr_size, "out of memory");
		return DAEMON_EXIT_FAILED;
	}
	w->cfg = cfg;
	w->ev = ev;
	pg_session_init(&w->pg, cfg_str(cfg, CFG_OTPFLOW_DATABASE_URL),
			"otpflow-worker");
	atomic_init(&w->registry_ok, true);
	stats_init(w, &w->stats);
	w->batch_size = (size_t)cfg_int(cfg, CFG_OTPFLOW_WORKER_BATCH_SIZE);
	w->batch_timeout_ms =
		(int)cfg_ms(cfg, CFG_OTPFLOW_WORKER_BATCH_TIMEOUT);
	w->crash_point = getenv("OTPFLOW_TEST_CRASH_POINT");
	if (cfg_bool(cfg, CFG_AUTH_GRAVATAR_ENABLED))
		snprintf(w->avatar_url, sizeof(w->avatar_url),
			 "https://www.gravatar.com/avatar/%s?d=%s&r=%s",
			 GRAVATAR_EMPTY_MD5,
			 cfg_str(cfg, CFG_AUTH_GRAVATAR_DEFAULT),
			 cfg_str(cfg, CFG_AUTH_GRAVATAR_RATING));
	w->settings = (struct store_settings){
		.topic = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_OTP),
		.disabled = cfg_bool(cfg, CFG_AUTH_DISABLE_NEW_USERS),
		.avatar_url = w->avatar_url,
		.auto_signup = !cfg_bool(cfg, CFG_AUTH_DISABLE_AUTO_SIGNUP) &&
			       !cfg_bool(cfg, CFG_AUTH_DISABLE_SIGNUP),
		.cooldown_ms = cfg_ms(cfg, CFG_OTPFLOW_OTP_COOLDOWN),
		.max_per_hour = cfg_int(cfg, CFG_OTPFLOW_OTP_MAX_PER_HOUR),
		.ttl_ms = cfg_ms(cfg, CFG_OTPFLOW_OTP_TTL),
	};
	if (seal_keys_public(&w->keys,
			     cfg_str(cfg, CFG_OTPFLOW_SEAL_PUBLIC_KEY), errstr,
			     errstr_size)) {
		char why[300];

		snprintf(why, sizeof(why), "OTPFLOW_SEAL_PUBLIC_KEY: %s",
			 errstr);
		snprintf(errstr, errstr_size, "%s", why);
		goto fail;
	}
	w->producer = kafka_producer_new(cfg, outbox_on_delivery, w, NULL,
					 errstr, errstr_size);
	if (!w->producer)
		goto fail;
	w->consumer = kafka_consumer_new(cfg, GROUP, topics, NULL, NULL, NULL,
					 errstr, errstr_size);
	if (!w->consumer)
		goto fail;
	rc = DAEMON_EXIT_FAILED; /* the settings are fine from here on */
	w->hp = hashpool_new(threads > 0 ? (unsigned)threads :
					   (unsigned)(cores > 0 ? cores : 1),
			     (int)cost);
	if (!w->hp) {
		snprintf(errstr, errstr_size, "cannot start hash threads");
		goto fail;
	}
	w->queue = rd_kafka_queue_get_consumer(w->consumer);
	if (!migrate(w)) {
		snprintf(errstr, errstr_size, "migrations did not apply");
		goto fail;
	}
	*state = w;
	return DAEMON_EXIT_OK;
fail:
	worker_free(w);
	return rc;
}

/*
 * Deletes the ledger rows older than OTPFLOW_LEDGER_RETENTION, a few small
 * batches per table and turn (the next turn goes on). A failure is only
 * logged: pruning can wait, the next batch finds out about Postgres.
 */
static void prune_ledger(struct worker *w)
{
	static const struct {
		const char *table, *column;
	} ledgers[] = {
		{ "otpflow.processed_requests", "processed_at" },
		{ "otpflow.otp_issuance", "issued_at" },
	};
	long long retention = cfg_ms(w->cfg, CFG_OTPFLOW_LEDGER_RETENTION);

	w->last_prune_ms = clock_mono_ms();
	if (!pg_session_connect(&w->pg))
		return;
	for (size_t i = 0; i < sizeof(ledgers) / sizeof(*ledgers); i++) {
		for (int round = 0; round < PRUNE_ROUNDS; round++) {
			char errstr[512];
			long long n = 0;
			enum pg_class cls = ledger_prune(
				w->pg.conn, ledgers[i].table, ledgers[i].column,
				retention, &n, errstr, sizeof(errstr));

			if (cls != PG_OK) {
				pg_session_failed(&w->pg, cls, "ledger prune",
						  errstr);
				return;
			}
			metrics_inc(w->stats.pruned, 0, (uint64_t)n);
			if (n < LEDGER_PRUNE_BATCH)
				break;
		}
	}
}

/*
 * Commits the batch whose codes are ready, if any, while the next one's
 * are hashed; false on a stop signal or a fatal error (*rc set).
 */
static bool finish_ready(struct batch **ready, int *rc)
{
	bool ok = !*ready || batch_finish(*ready);

	batch_free(*ready);
	*ready = NULL;
	if (!ok)
		*rc = daemon_stopping() ? 0 : 1;
	return ok;
}

int worker_run(void *state)
{
	struct worker *w = state;
	rd_kafka_message_t **msgs = calloc(w->batch_size, sizeof(*msgs));
	struct batch *ready = NULL; /* codes made, not committed yet */
	long long last_sweep;
	int rc = 0;

	if (!msgs)
		return DAEMON_EXIT_FAILED;
	LOG(LOG_INFO, "consuming", "topic",
	    cfg_str(w->cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS));
	if (!outbox_drain(w, 0))
		goto out;
	last_sweep = clock_wall_ms();
	atomic_store(&w->kafka_ok, true);
	while (!daemon_stopping()) {
		/* With a batch waiting for its commit, take only what is
		 * already fetched: it must not wait for a full batch. */
		ssize_t n = rd_kafka_consume_batch_queue(
			w->queue, ready ? 0 : w->batch_timeout_ms, msgs,
			w->batch_size);
		struct batch *next = NULL;
		size_t m = 0;

		if (n < 0) {
			LOG(LOG_ERROR, "consume failed", "error",
			    rd_kafka_err2str(rd_kafka_last_error()));
			if (!finish_ready(&ready, &rc))
				break;
			clock_sleep_ms(200);
			continue;
		}
		/* Errors (e.g. partition EOF) carry no record. */
		for (ssize_t i = 0; i < n; i++) {
			if (msgs[i]->err &&
			    msgs[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				LOG(LOG_WARN, "consumer error", "error",
				    rd_kafka_message_errstr(msgs[i]));
			if (msgs[i]->err) {
				rd_kafka_message_destroy(msgs[i]);
				continue;
			}
			msgs[m++] = msgs[i];
		}
		if (m > 0 && !(next = batch_prepare(w, msgs, m))) {
			rc = daemon_stopping() ? 0 : 1;
			finish_ready(&ready, &rc);
			break;
		}
		if (!finish_ready(&ready, &rc)) {
			if (next)
				hashpool_wait(w->hp);
			batch_free(next);
			break;
		}
		if (next && !batch_finish_codes(next)) {
			LOG(LOG_ERROR, "cannot make codes");
			batch_free(next);
			rc = 1;
			break;
		}
		ready = next;
		if (clock_mono_ms() - w->last_prune_ms >= PRUNE_PERIOD_MS)
			prune_ledger(w);
		if (clock_wall_ms() - last_sweep > OUTBOX_SWEEP_MS) {
			if (!finish_ready(&ready, &rc) ||
			    !outbox_drain(w, OUTBOX_SWEEP_MS))
				break;
			last_sweep = clock_wall_ms();
		}
	}
	/* Stopping: the batch whose codes are made is committed (drain). */
	finish_ready(&ready, &rc);
out:
	free(msgs);
	return rc;
}

bool worker_ready(void *arg, char *why, size_t why_size)
{
	struct worker *w = arg;
	bool pg = pg_session_ready(&w->pg), kafka = atomic_load(&w->kafka_ok),
	     registry = atomic_load(&w->registry_ok);

	snprintf(why, why_size, "%s%s%s%s%s",
		 pg ? "" : "postgres unavailable or failing",
		 !pg && (!kafka || !registry) ? ", " : "",
		 kafka ? "" : "kafka not confirming",
		 !kafka && !registry ? ", " : "",
		 registry ? "" : "schema registry unavailable");
	if (!(pg && kafka && registry))
		return false;
	why[0] = '\0';
	return true;
}

void worker_free(void *state)
{
	struct worker *w = state;

	if (!w)
		return;
	if (w->queue)
		rd_kafka_queue_destroy(w->queue);
	kafka_consumer_close(w->consumer, CLOSE_TIMEOUT_MS);
	kafka_producer_close(w->producer, CLOSE_TIMEOUT_MS);
	hashpool_free(w->hp);
	pg_session_close(&w->pg);
	sodium_memzero(&w->keys, sizeof(w->keys));
	free(w);
}
