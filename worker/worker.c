/*
 * Worker loop. The order of effects per batch is the delivery guarantee:
 *
 *   1. decode (undecodable records are logged, counted and skipped)
 *   2. pre-filter: already processed / already registered need no code
 *   3. codes, bcrypt on the hash pool, sealed OtpIssued records
 *   4. one transaction: dedup record, users, roles, issuance, outbox
 *   5. publish the batch's outbox rows; wait for every delivery report
 *   6. delete the delivered outbox rows
 *   7. store the offsets (committed in the background)
 *
 * A crash before 4 commits nothing (redelivery redoes it); between 4 and 7
 * the outbox survives and is published again at start (the sender dedups
 * by otp_id); the dedup table makes a redelivered request a no-op.
 * Postgres or Kafka outages block the loop (retrying with backoff) rather
 * than skip anything.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "daemon.h"
#include "headers.h"
#include "hashpool.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "paths.h"
#include "pg.h"
#include "phone.h"
#include "seal.h"
#include "store.h"

#define GROUP "otpflow-worker"
#define OUTBOX_CHUNK 500
#define OUTBOX_SWEEP_MS 30000 /* age and period of the outbox sweep */
#define BACKOFF_MAX_MS 2000
#define FLUSH_STEP_MS 1000
#define CLOSE_TIMEOUT_MS 5000 /* consumer close, producer flush */
/* md5("") — Nhost hashes the e-mail, which an SMS sign-up does not have. */
#define GRAVATAR_EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"

static const char *const outcome_labels[] = { "created",  "existing",
					      "skip",	  "dropped",
					      "reissued", "undecodable",
					      NULL };
static const double seconds_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					  0.5,	 1,    2.5,   5,    10,	 30 };

static struct {
	struct metric *requests; /* by outcome */
	struct metric *batches;
	struct metric *batch; /* a whole batch, decode to offsets */
	struct metric *commit; /* the transaction */
	struct metric *failed; /* requests that could not be stored */
} stats;

struct worker {
	const struct cfg *cfg;
	struct events *ev;
	struct pg_session pg;
	rd_kafka_t *consumer;
	rd_kafka_queue_t *queue;
	rd_kafka_t *producer;
	struct hashpool *hp;
	struct seal_keys keys;
	size_t batch_size;
	int batch_timeout_ms;
	char avatar_url[256];
	struct store_settings settings;
	const char *crash_point; /* OTPFLOW_TEST_CRASH_POINT, tests only */
	atomic_bool kafka_ok;
};

/* Test-only: die like kill -9 at a named point. */
static void crash_point(const struct worker *w, const char *name)
{
	if (w->crash_point && strcmp(w->crash_point, name) == 0) {
		LOG(LOG_WARN, "test crash point reached", "point", name);
		raise(SIGKILL);
	}
}

/* --- Postgres ---------------------------------------------------------- */

/* A failed statement: the session takes it, then waits until Postgres is
 * usable again; false only on a stop. */
static bool pg_failed(struct worker *w, enum pg_class cls, const char *what,
		      const char *errstr)
{
	pg_session_failed(&w->pg, cls, what, errstr);
	if (cls == PG_FAILED)
		clock_sleep_ms(BACKOFF_MAX_MS);
	return pg_session_wait(&w->pg);
}

/* --- Events ------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque)
{
	struct batch_item *it = rkm->_private;

	it->delivered = rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR;
	if (!rkm->err)
		return;
	LOG(LOG_WARN, "OtpIssued not delivered", "request_id", it->request_id,
	    "error", rd_kafka_err2name(rkm->err));
	if (kafka_classify(rk, rkm->err) == KAFKA_FATAL)
		daemon_fatal("kafka producer", rd_kafka_err2str(rkm->err));
}

/*
 * A batch of records between the consumer and the stored offsets. It owns
 * its messages (destroyed with it) and carries its own code timestamps,
 * since the next batch is prepared while this one commits.
 */
struct batch {
	struct worker *w;
	rd_kafka_message_t **msgs;
	size_t n;
	struct batch_item *items; /* decoded records, packed at the front */
	size_t m;
	struct hash_job *jobs; /* one per item needing a code */
	size_t njobs;
	struct store_settings settings;
	int64_t t0; /* monotonic ns */
};

/* Seals the item's code and encodes its OtpIssued record (arg: batch). */
static int encode_otp(void *arg, struct batch_item *it)
{
	struct batch *b = arg;
	struct worker *w = b->w;
	unsigned char sealed[SEAL_MAX_BYTES];
	size_t sealed_len = 0;
	char b64[sodium_base64_ENCODED_LEN(SEAL_MAX_BYTES,
					   sodium_base64_VARIANT_ORIGINAL)];
	char errstr[256];
	json_t *rec;
	int rc;

	/* Bound to this record: the sender refuses it on any other. */
	if (seal_bind(&w->keys, it->otp_id, it->phone, it->job.code, sealed,
		      &sealed_len))
		return -1;
	sodium_bin2base64(b64, sizeof(b64), sealed, sealed_len,
			  sodium_base64_VARIANT_ORIGINAL);
	rec = json_pack("{s:s,s:s,s:s,s:s,s:O,s:s,s:I,s:I}", "otp_id",
			it->otp_id, "request_id", it->request_id, "user_id",
			it->user_id, "phone_number", it->phone, "locale",
			json_object_get(it->rec, "locale"), "otp_sealed", b64,
			"issued_at", (json_int_t)b->settings.issued_at_ms,
			"expires_at", (json_int_t)b->settings.expires_at_ms);
	if (!rec)
		return -1;
	free(it->value);
	it->value = NULL;
	rc = events_encode(w->ev, EVENTS_OTP_ISSUED, rec, &it->value,
			   &it->value_len, errstr, sizeof(errstr));
	if (rc)
		LOG(LOG_ERROR, "cannot encode OtpIssued", "request_id",
		    it->request_id, "error", errstr);
	json_decref(rec);
	return rc;
}

/* Decodes one record into an item; false (logged) if undecodable. */
static bool decode(struct worker *w, const rd_kafka_message_t *rkm,
		   struct batch_item *it)
{
	char parent[IDS_TRACEPARENT_SIZE] = "";
	char errstr[256];

	memset(it, 0, sizeof(*it));
	if (!rkm->err &&
	    events_decode(w->ev, EVENTS_SIGNUP_REQUESTED, rkm->payload,
			  rkm->len, &it->rec, errstr, sizeof(errstr)) == 0) {
		it->request_id = json_string_value(
			json_object_get(it->rec, "request_id"));
		it->phone = json_string_value(
			json_object_get(it->rec, "phone_number"));
		if (ids_uuid_valid(it->request_id) && it->phone &&
		    json_is_array(json_object_get(it->rec, "allowed_roles"))) {
			it->reissue = strcmp(json_string_value(json_object_get(
						     it->rec, "kind")),
					     "REISSUE") == 0;
			hdr_str(rkm, HDR_TRACEPARENT, parent, sizeof(parent));
			ids_traceparent_child(parent, it->traceparent);
			snprintf(it->received_at, sizeof(it->received_at),
				 "%lld",
				 (long long)json_integer_value(json_object_get(
					 it->rec, "received_at")));
			return true;
		}
		snprintf(errstr, sizeof(errstr),
			 "invalid request_id or fields");
	} else if (rkm->err) {
		snprintf(errstr, sizeof(errstr), "%s",
			 rd_kafka_err2str(rkm->err));
	}
	{
		char where[64];
		snprintf(where, sizeof(where), "%s/%d/%lld",
			 rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
			 (long long)rkm->offset);
		LOG(LOG_WARN, "undecodable record skipped", "record", where,
		    "error", errstr);
	}
	metrics_inc(stats.requests, 5, 1);
	json_decref(it->rec);
	memset(it, 0, sizeof(*it));
	return false;
}

/* --- Publishing -------------------------------------------------------- */

/*
 * Stopping with records still unconfirmed: their delivery reports point
 * into the batch about to be freed, so they are purged and their reports
 * served now. The outbox rows stay and are published at the next start.
 */
static void abandon_deliveries(struct worker *w)
{
	rd_kafka_purge(w->producer,
		       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (int i = 0; i < 50 && rd_kafka_outq_len(w->producer) > 0; i++)
		rd_kafka_poll(w->producer, 100);
}

/*
 * Publishes the items that carry an OtpIssued and waits until every one is
 * delivered, retrying failures; false only on a stop signal.
 */
static bool publish(struct worker *w, struct batch_item *items, size_t n)
{
	const char *topic = cfg_str(w->cfg, CFG_OTPFLOW_TOPIC_SMS_OTP);
	long long backoff = 100;

	for (;;) {
		size_t pending = 0;

		for (size_t i = 0; i < n; i++) {
			struct batch_item *it = &items[i];
			rd_kafka_resp_err_t err;

			if (!it->value || it->delivered ||
			    (it->outcome != OUTCOME_CREATED &&
			     it->outcome != OUTCOME_REISSUED))
				continue;
			err = rd_kafka_producev(
				w->producer, RD_KAFKA_V_TOPIC(topic),
				RD_KAFKA_V_KEY(it->phone, strlen(it->phone)),
				RD_KAFKA_V_VALUE(it->value, it->value_len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADER(HDR_REQUEST_ID,
						  it->request_id, -1),
				RD_KAFKA_V_HEADER(HDR_TRACEPARENT,
						  it->traceparent, -1),
				/* For the end-to-end latency the sender reports. */
				RD_KAFKA_V_HEADER(HDR_RECEIVED_AT,
						  it->received_at, -1),
				RD_KAFKA_V_OPAQUE(it), RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				rd_kafka_poll(w->producer, 100);
				i--; /* same item again */
				continue;
			}
			if (err)
				LOG(LOG_ERROR, "cannot queue OtpIssued",
				    "error", rd_kafka_err2name(err));
			pending++;
		}
		if (pending == 0)
			return true;
		while (rd_kafka_flush(w->producer, FLUSH_STEP_MS) ==
		       RD_KAFKA_RESP_ERR__TIMED_OUT) {
			atomic_store(&w->kafka_ok, false);
			if (daemon_stopping()) {
				abandon_deliveries(w);
				return false;
			}
		}
		pending = 0;
		for (size_t i = 0; i < n; i++)
			pending += items[i].value && !items[i].delivered &&
				   (items[i].outcome == OUTCOME_CREATED ||
				    items[i].outcome == OUTCOME_REISSUED);
		atomic_store(&w->kafka_ok, pending == 0);
		if (pending == 0)
			return true;
		if (daemon_stopping())
			return false;
		clock_sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							 backoff * 2;
	}
}

/*
 * Publishes and deletes every outbox row at least min_age_ms old: at start
 * (0) the rows a crash left; then periodically the rows whose batch lost
 * track of them (a commit whose acknowledgement was lost on the wire, a
 * worker that died). A copy published twice is deduplicated by the sender.
 */
static bool drain_outbox(struct worker *w, long long min_age_ms)
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
			if (!pg_failed(w, cls, "outbox load", errstr))
				goto out;
			continue;
		}
		if (n == 0)
			break;
		if (!publish(w, items, n))
			goto out_clear;
		while ((cls = store_outbox_delete(w->pg.conn, items, n, errstr,
						  sizeof(errstr))) != PG_OK)
			if (!pg_failed(w, cls, "outbox delete", errstr))
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

/* --- One batch --------------------------------------------------------- */

/* Marks duplicates inside the batch: request ids, and phones of SIGNUPs. */
static void dedup_batch(struct batch_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!items[i].rec || items[i].outcome != OUTCOME_NONE)
			continue;
		for (size_t j = 0; j < i; j++) {
			if (!items[j].rec)
				continue;
			if (strcmp(items[i].request_id, items[j].request_id) ==
			    0) {
				items[i].outcome = OUTCOME_SKIP;
				break;
			}
			if (!items[i].reissue && !items[j].reissue &&
			    strcmp(items[i].phone, items[j].phone) == 0) {
				items[i].outcome = OUTCOME_EXISTING;
				break;
			}
		}
	}
}

/* Starts hashing codes for every item still undecided (new users and
 * re-issues); finish_codes collects them. */
static bool start_codes(struct batch *b)
{
	b->jobs = calloc(b->m ? b->m : 1, sizeof(*b->jobs));
	if (!b->jobs)
		return false;
	for (size_t i = 0; i < b->m; i++)
		if (b->items[i].rec && b->items[i].outcome == OUTCOME_NONE &&
		    !otp_generate(b->jobs[b->njobs++].code))
			return false;
	hashpool_start(b->w->hp, b->jobs, b->njobs);
	return true;
}

static bool finish_codes(struct batch *b)
{
	size_t k = 0;

	hashpool_wait(b->w->hp);
	for (size_t i = 0; i < b->m; i++) {
		struct batch_item *it = &b->items[i];

		if (!it->rec || it->outcome != OUTCOME_NONE)
			continue;
		it->job = b->jobs[k++];
		ids_uuid_v4(it->otp_id);
		if (it->reissue)
			continue; /* encoded once the user is known */
		ids_uuid_v4(it->user_id);
		if (!it->job.ok || encode_otp(b, it))
			return false;
	}
	return true;
}

/*
 * Commits a batch. Outages are waited out; a batch that fails for good (a
 * constraint the data breaks, e.g. a role missing from auth.roles) is
 * committed one request at a time so that only the guilty requests are
 * dropped — logged, counted and recorded — instead of blocking the
 * partition forever. False only on a stop signal.
 */
static bool commit(struct batch *b, struct batch_item *items, size_t n)
{
	struct worker *w = b->w;
	char errstr[512];
	enum pg_class cls;

	while ((cls = store_commit(w->pg.conn, items, n, &b->settings,
				   encode_otp, b, errstr, sizeof(errstr))) !=
	       PG_OK) {
		if (cls == PG_FAILED && n > 1)
			break;
		if (cls == PG_FAILED) {
			LOG(LOG_ERROR, "request cannot be stored; dropped",
			    "request_id", items[0].request_id, "error", errstr);
			items[0].outcome = OUTCOME_DROPPED;
			metrics_inc(stats.failed, 0, 1);
			while ((cls = store_record_dropped(
					w->pg.conn, &items[0], errstr,
					sizeof(errstr))) != PG_OK)
				if (!pg_failed(w, cls, "record dropped",
					       errstr))
					return false;
			return true;
		}
		if (!pg_failed(w, cls, "commit", errstr))
			return false;
	}
	if (cls == PG_OK)
		return true;
	LOG(LOG_WARN, "batch failed; committing its requests one by one",
	    "error", errstr);
	for (size_t i = 0; i < n; i++)
		if (!commit(b, &items[i], 1))
			return false;
	return true;
}

/* Stores offset+1 of the last record of each partition in the batch. */
static void store_offsets(struct worker *w, rd_kafka_message_t **msgs, size_t n)
{
	rd_kafka_topic_partition_list_t *list =
		rd_kafka_topic_partition_list_new((int)n);
	rd_kafka_resp_err_t err;

	for (size_t i = 0; i < n; i++) {
		rd_kafka_topic_partition_t *tp =
			rd_kafka_topic_partition_list_find(
				list, rd_kafka_topic_name(msgs[i]->rkt),
				msgs[i]->partition);
		if (!tp)
			tp = rd_kafka_topic_partition_list_add(
				list, rd_kafka_topic_name(msgs[i]->rkt),
				msgs[i]->partition);
		if (msgs[i]->offset + 1 > tp->offset)
			tp->offset = msgs[i]->offset + 1;
	}
	err = rd_kafka_offsets_store(w->consumer, list);
	if (err)
		LOG(LOG_WARN, "offsets not stored (partition revoked?)",
		    "error", rd_kafka_err2name(err));
	rd_kafka_topic_partition_list_destroy(list);
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->m; i++)
		batch_item_clear(&b->items[i]);
	free(b->items);
	if (b->jobs)
		explicit_bzero(b->jobs, b->njobs * sizeof(*b->jobs));
	free(b->jobs);
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msgs[i]);
	free(b->msgs);
	free(b);
}

/*
 * Steps 1-3 up to the start of hashing: takes over msgs[0..n) (destroyed
 * with the batch). NULL only on a stop signal or when out of memory.
 */
static struct batch *batch_prepare(struct worker *w, rd_kafka_message_t **msgs,
				   size_t n)
{
	struct batch *b = calloc(1, sizeof(*b));
	char errstr[512];
	enum pg_class cls;

	if (!b)
		goto fail;
	b->w = w;
	b->msgs = malloc(n * sizeof(*msgs));
	b->items = calloc(n, sizeof(*b->items));
	if (!b->msgs || !b->items)
		goto fail;
	memcpy(b->msgs, msgs, n * sizeof(*msgs));
	b->n = n;
	n = 0; /* the batch owns the messages now */
	b->t0 = clock_mono_ns();
	/* Undecodable records get no item (their offsets are stored all the
	 * same); the others are packed at the front. */
	for (size_t i = 0; i < b->n; i++)
		if (decode(w, b->msgs[i], &b->items[b->m]))
			b->m++;
	dedup_batch(b->items, b->m);
	while ((cls = pg_session_wait(&w->pg) ?
			      store_prefilter(w->pg.conn, b->items, b->m,
					      errstr, sizeof(errstr)) :
			      PG_FAILED) != PG_OK)
		if (daemon_stopping() ||
		    !pg_failed(w, cls, "prefilter", errstr))
			goto fail;
	b->settings = w->settings;
	b->settings.issued_at_ms = clock_wall_ms();
	b->settings.expires_at_ms =
		b->settings.issued_at_ms + cfg_ms(w->cfg, CFG_OTPFLOW_OTP_TTL);
	if (!start_codes(b)) {
		LOG(LOG_ERROR, "cannot make codes");
		goto fail;
	}
	return b;
fail:
	for (size_t i = 0; i < n; i++)
		rd_kafka_message_destroy(msgs[i]);
	batch_free(b);
	return NULL;
}

/* Steps 4-7 for a batch whose codes are made; false on a stop signal. */
static bool batch_finish(struct batch *b)
{
	struct worker *w = b->w;
	int64_t t_commit = clock_mono_ns();
	char errstr[512];
	enum pg_class cls;

	if (!commit(b, b->items, b->m))
		return false;
	metrics_observe(stats.commit, clock_seconds_since(t_commit));
	crash_point(w, "after-commit");
	if (!publish(w, b->items, b->m))
		return false;
	crash_point(w, "after-publish");
	while ((cls = store_outbox_delete(w->pg.conn, b->items, b->m, errstr,
					  sizeof(errstr))) != PG_OK)
		if (!pg_failed(w, cls, "outbox delete", errstr))
			return false;
	if (log_enabled(LOG_DEBUG)) {
		for (size_t i = 0; i < b->m; i++) {
			char masked[PHONE_MAX + 8];
			phone_mask(b->items[i].phone, masked, sizeof(masked));
			LOG(LOG_DEBUG, "request processed", "request_id",
			    b->items[i].request_id, "phone", masked, "outcome",
			    batch_outcome_name(b->items[i].outcome));
		}
	}
	store_offsets(w, b->msgs, b->n);
	for (size_t i = 0; i < b->m; i++) {
		static const size_t label[] = {
			[OUTCOME_CREATED] = 0,	[OUTCOME_EXISTING] = 1,
			[OUTCOME_SKIP] = 2,	[OUTCOME_DROPPED] = 3,
			[OUTCOME_REISSUED] = 4,
		};
		if (b->items[i].outcome != OUTCOME_NONE)
			metrics_inc(stats.requests, label[b->items[i].outcome],
				    1);
	}
	metrics_observe(stats.batch, clock_seconds_since(b->t0));
	metrics_inc(stats.batches, 0, 1);
	return true;
}

/* --- Lifecycle --------------------------------------------------------- */

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
	stats.requests =
		metrics_counter("otpflow_worker_requests_total",
				"signup-requests records handled, by outcome.",
				"outcome", outcome_labels);
	stats.batches = metrics_counter("otpflow_worker_batches_total",
					"Batches committed.", NULL, NULL);
	stats.failed = metrics_counter(
		"otpflow_worker_unstorable_requests_total",
		"Requests dropped because Postgres refused them for good "
		"(see the error log).",
		NULL, NULL);
	stats.batch = metrics_histogram(
		"otpflow_worker_batch_seconds",
		"Time of a batch from decoding to stored offsets.",
		seconds_buckets,
		sizeof(seconds_buckets) / sizeof(*seconds_buckets));
	stats.commit = metrics_histogram(
		"otpflow_worker_commit_seconds",
		"Time of a batch's Postgres transaction.", seconds_buckets,
		sizeof(seconds_buckets) / sizeof(*seconds_buckets));
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
		.cooldown_ms = cfg_ms(cfg, CFG_OTPFLOW_OTP_COOLDOWN),
		.max_per_hour = cfg_int(cfg, CFG_OTPFLOW_OTP_MAX_PER_HOUR),
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
	w->producer = kafka_producer_new(cfg, on_delivery, w, NULL, errstr,
					 errstr_size);
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
	if (!drain_outbox(w, 0))
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
		if (next && !finish_codes(next)) {
			LOG(LOG_ERROR, "cannot make codes");
			batch_free(next);
			rc = 1;
			break;
		}
		ready = next;
		if (clock_wall_ms() - last_sweep > OUTBOX_SWEEP_MS) {
			if (!finish_ready(&ready, &rc) ||
			    !drain_outbox(w, OUTBOX_SWEEP_MS))
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
	bool pg = pg_session_ready(&w->pg), kafka = atomic_load(&w->kafka_ok);

	if (!pg || !kafka)
		snprintf(why, why_size, "%s%s%s",
			 pg ? "" : "postgres unavailable",
			 !pg && !kafka ? ", " : "",
			 kafka ? "" : "kafka not confirming");
	return pg && kafka;
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
