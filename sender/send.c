/*
 * The sender's loop (see send.h). Ownership: a job owns its copy of the
 * consumed record and, while it sends, the plaintext code (wiped as soon as
 * the request is answered). A partition tracker owns the ordered list of its
 * records' completion flags; it outlives a revocation until the last job of
 * that partition is gone.
 *
 * Order of effects for one record:
 *   claim the otp_id in Postgres ('sending'; a 'sent' row means skip; the
 *   claims of one turn share one statement) -> provider request ->
 *   classify -> produce the outcome record -> delivery report -> (for
 *   SmsSent: 'sent' in Postgres, batched per poll) -> store the offset.
 * A crash after the provider's 2xx and before 'sent' is recorded may send
 * that SMS again (at most one per number in flight); a 'sent' row always has
 * its SmsSent. A failed produce is retried, never dropped; nothing after it
 * in the partition gets its offset stored meanwhile.
 */
#include "send.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"
#include "daemon.h"
#include "headers.h"
#include "ids.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "pg.h"
#include "phone.h"
#include "provider.h"
#include "retry.h"
#include "seal.h"
#include "signals.h"
#include "template.h"

#define GROUP "otpflow-sender"
#define PHONE_BUCKETS 16384
#define BODY_SIZE (TEMPLATE_MAX_BYTES + 64)
#define ERR_SIZE 512
#define DB_RETRY_MS 1000
#define PRODUCE_RETRY_MS 1000
#define CONSUME_BATCH 1000
#define CLOSE_TIMEOUT_MS 5000 /* consumer close, producer flush */

enum dlt_reason {
	DLT_PERMANENT,
	DLT_EXPIRED,
	DLT_EXHAUSTED,
	DLT_CONFIG,
	DLT_UNDECODABLE,
	DLT__COUNT
};
static const char *const dlt_names[] = { "PERMANENT",	      "EXPIRED",
					 "RETRIES_EXHAUSTED", "CONFIG",
					 "UNDECODABLE",	      NULL };

enum out_kind { OUT_NONE, OUT_SENT, OUT_RETRY, OUT_DLT };
enum { M_SENT, M_RETRIED, M_DEAD, M_DUPLICATE };
static const char *const outcome_labels[] = { "sent", "retried",
					      "dead_lettered", "duplicate",
					      NULL };
static const char *const class_labels[] = { "success", "transient", "permanent",
					    "config", NULL };

struct ptrack;

struct pentry {
	struct pentry *next;
	int64_t offset;
	bool done;
	struct ptrack *pt;
};

struct ptrack {
	struct ptrack *next; /* active list */
	char *topic;
	int32_t partition;
	struct pentry *head, *tail;
	int refs; /* entries alive */
	bool revoked; /* detached: never store its offsets */
};

struct phq;

struct job {
	struct sender *s;
	struct job *aprev, *anext; /* s->jobs */
	struct pentry *pe;
	int32_t partition;
	int64_t offset;
	void *raw;
	size_t raw_len;
	json_t *otp; /* decoded OtpIssued while being read (then NULL) */
	bool decodable; /* raw is a valid OtpIssued */
	char rec_request_id[64]; /* request_id field of the record */
	char phone[64], otp_id[IDS_UUID_SIZE + 8], request_id[64];
	char user_id[IDS_UUID_SIZE + 8], locale[16];
	char traceparent[IDS_TRACEPARENT_SIZE];
	unsigned char sealed[SEAL_SEALED_BYTES];
	int64_t issued_at, expires_at, received_at;
	int attempts;
	int64_t first_attempt_at, last_attempt_at, due_ms, started_ms;
	char code[SEAL_CODE_DIGITS + 1];
	struct provider_req req;
	bool probe;
	int claim; /* batch claim result: 1 claimed, 0 already sent */
	char msgid[PROVIDER_MSGID_SIZE];
	int64_t sent_at;
	struct job *bnext; /* sent batch */
	/* last provider answer, for the dead letter */
	long http_status;
	char provider_code[32];
	char error[ERR_SIZE];
	/* queues */
	struct phq *q;
	struct job *qnext;
	/* outcome record, kept for re-producing */
	enum out_kind out;
	enum dlt_reason reason;
	const char *out_topic;
	void *out_value;
	size_t out_len;
	rd_kafka_headers_t *out_hdrs;
	int64_t produce_due;
	struct job *rnext; /* produce-retry list */
};

struct phq {
	struct phq *hnext; /* hash bucket chain */
	struct phq *rnext; /* ready list */
	struct job *head, *tail;
	bool busy, ready;
	char phone[64];
};

struct sender {
	const struct cfg *cfg;
	struct events *ev;
	struct seal_keys keys;
	struct seal_keys previous; /* during a key rotation */
	bool has_previous;
	struct templates *tpl;
	struct classifier *cls;
	struct provider *prov;
	struct retry_policy pol;
	const char *topic_otp, *topic_retry, *topic_sent, *topic_dlt;
	rd_kafka_t *consumer, *producer;
	rd_kafka_queue_t *cq, *pq;
	int wake[2];
	CURLM *multi;
	PGconn *pg;
	int64_t db_retry_at; /* no Postgres use before this time */
	long connect_timeout_ms, timeout_ms;
	int max_in_flight, max_pending;
	int in_flight, pending;
	struct phq *buckets[PHONE_BUCKETS];
	struct phq *ready_head, *ready_tail;
	struct job **heap;
	size_t heap_len, heap_cap;
	struct job *reproduce;
	struct job *sent_head, **sent_tail; /* answered 2xx, not recorded */
	struct job **batch; /* claim batch, max_in_flight */
	struct ptrack *tracks; /* assigned partitions */
	struct ptrack *revoked; /* revoked, kept until their last job ends */
	struct job *jobs; /* every live job (freed at exit) */
	bool consume_paused; /* partitions paused (backpressure/config/drain) */
	bool draining;
	bool closing; /* sender_free: delivery reports change nothing */
	int64_t next_probe;
	atomic_bool paused_config, db_ok, fatal;
	struct metric *m_outcomes, *m_dead, *m_class, *m_in_flight, *m_pending,
		*m_paused, *m_latency, *m_end_to_end;
};

/* --- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void masked(const char *phone, char out[PHONE_MAX + 8])
{
	phone_mask(phone, out, PHONE_MAX + 8);
}

/* Replaces every occurrence of the code in s (providers may echo the body). */
static void scrub(char *s, const char *code)
{
	char *p;

	if (!code[0])
		return;
	while ((p = strstr(s, code)) != NULL)
		memset(p, '*', strlen(code));
}

static void job_log(enum log_level lvl, const struct job *j, const char *ev,
		    const char *k1, const char *v1, const char *k2,
		    const char *v2)
{
	char part[16], off[24], ph[PHONE_MAX + 8], att[16];

	if (!log_enabled(lvl))
		return;
	snprintf(part, sizeof(part), "%d", j->partition);
	snprintf(off, sizeof(off), "%lld", (long long)j->offset);
	snprintf(att, sizeof(att), "%d", j->attempts);
	masked(j->phone, ph);
#define JOB_CTX                                                              \
	"topic", j->pe ? j->pe->pt->topic : "", "partition", part, "offset", \
		off, "otp_id", j->otp_id, "request_id", j->request_id,       \
		"phone", ph, "attempts", att
	if (k2)
		log_event(lvl, ev, JOB_CTX, k1, v1, k2, v2, (const char *)NULL);
	else if (k1)
		log_event(lvl, ev, JOB_CTX, k1, v1, (const char *)NULL);
	else
		log_event(lvl, ev, JOB_CTX, (const char *)NULL);
#undef JOB_CTX
}

/* --- partition trackers and offsets ------------------------------------ */

static struct ptrack *track_get(struct sender *s, const char *topic,
				int32_t partition)
{
	struct ptrack *pt;

	for (pt = s->tracks; pt; pt = pt->next)
		if (pt->partition == partition && strcmp(pt->topic, topic) == 0)
			return pt;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return NULL;
	pt->topic = strdup(topic);
	pt->partition = partition;
	pt->next = s->tracks;
	s->tracks = pt;
	return pt;
}

static void track_free(struct ptrack *pt)
{
	while (pt->head) {
		struct pentry *h = pt->head;

		pt->head = h->next;
		free(h);
	}
	free(pt->topic);
	free(pt);
}

static void track_maybe_free(struct sender *s, struct ptrack *pt)
{
	if (!pt->revoked || pt->refs > 0)
		return;
	for (struct ptrack **pp = &s->revoked; *pp; pp = &(*pp)->next)
		if (*pp == pt) {
			*pp = pt->next;
			break;
		}
	track_free(pt);
}

static void track_detach(struct sender *s, const char *topic, int32_t partition)
{
	for (struct ptrack **pp = &s->tracks; *pp; pp = &(*pp)->next) {
		struct ptrack *pt = *pp;

		if (pt->partition == partition &&
		    strcmp(pt->topic, topic) == 0) {
			*pp = pt->next;
			pt->revoked = true;
			pt->next = s->revoked;
			s->revoked = pt;
			track_maybe_free(s, pt);
			return;
		}
	}
}

static struct pentry *track_append(struct ptrack *pt, int64_t offset)
{
	struct pentry *pe = calloc(1, sizeof(*pe));

	if (!pe)
		return NULL;
	pe->offset = offset;
	pe->pt = pt;
	if (pt->tail)
		pt->tail->next = pe;
	else
		pt->head = pe;
	pt->tail = pe;
	pt->refs++;
	return pe;
}

/* Marks a record finished; stores the offset after the last contiguous
 * finished record of the partition. */
static void track_done(struct sender *s, struct pentry *pe)
{
	struct ptrack *pt = pe->pt;
	int64_t store = -1;

	pe->done = true;
	while (pt->head && pt->head->done) {
		struct pentry *h = pt->head;

		store = h->offset + 1;
		pt->head = h->next;
		if (!pt->head)
			pt->tail = NULL;
		free(h);
		pt->refs--;
	}
	if (store >= 0 && !pt->revoked) {
		rd_kafka_topic_partition_list_t *l =
			rd_kafka_topic_partition_list_new(1);

		rd_kafka_topic_partition_list_add(l, pt->topic, pt->partition)
			->offset = store;
		rd_kafka_offsets_store(s->consumer, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	track_maybe_free(s, pt);
}

/* --- jobs ---------------------------------------------------------------- */

static void job_free(struct job *j)
{
	if (j->aprev)
		j->aprev->anext = j->anext;
	else
		j->s->jobs = j->anext;
	if (j->anext)
		j->anext->aprev = j->aprev;
	provider_req_cleanup(&j->req);
	sodium_memzero(j->code, sizeof(j->code));
	json_decref(j->otp);
	free(j->raw);
	free(j->out_value);
	if (j->out_hdrs)
		rd_kafka_headers_destroy(j->out_hdrs);
	j->s->pending--;
	metrics_set(j->s->m_pending, j->s->pending);
	free(j);
}

/* The record's effects are durable: store its offset, forget it. */
static void job_finish(struct job *j)
{
	struct sender *s = j->s;
	struct pentry *pe = j->pe;

	job_free(j);
	if (pe)
		track_done(s, pe);
}

/* Forgets a job whose record will be redelivered (drain, revocation). */
static void job_abandon(struct job *j)
{
	struct sender *s = j->s;
	struct pentry *pe = j->pe;

	job_free(j);
	/* Revoked partition: the entry only keeps its tracker alive (no
	 * offset is stored for it any more). Otherwise the entry stays not
	 * done, so no later offset of the partition is stored past it. */
	if (pe && pe->pt->revoked)
		track_done(s, pe);
}

/* --- per-phone queues ---------------------------------------------------- */

static uint32_t hash_phone(const char *p)
{
	uint32_t h = 2166136261u;

	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % PHONE_BUCKETS;
}

static struct phq *phq_get(struct sender *s, const char *phone, bool create)
{
	uint32_t b = hash_phone(phone);
	struct phq *q;

	for (q = s->buckets[b]; q; q = q->hnext)
		if (strcmp(q->phone, phone) == 0)
			return q;
	if (!create)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	snprintf(q->phone, sizeof(q->phone), "%s", phone);
	q->hnext = s->buckets[b];
	s->buckets[b] = q;
	return q;
}

static void phq_remove(struct sender *s, struct phq *q)
{
	uint32_t b = hash_phone(q->phone);

	for (struct phq **pp = &s->buckets[b]; *pp; pp = &(*pp)->hnext)
		if (*pp == q) {
			*pp = q->hnext;
			break;
		}
	free(q);
}

static void ready_push(struct sender *s, struct phq *q, bool front)
{
	if (q->ready || q->busy || !q->head)
		return;
	q->ready = true;
	q->rnext = NULL;
	if (front) {
		q->rnext = s->ready_head;
		s->ready_head = q;
		if (!s->ready_tail)
			s->ready_tail = q;
	} else {
		if (s->ready_tail)
			s->ready_tail->rnext = q;
		else
			s->ready_head = q;
		s->ready_tail = q;
	}
}

static struct phq *ready_pop(struct sender *s)
{
	struct phq *q = s->ready_head;

	if (!q)
		return NULL;
	s->ready_head = q->rnext;
	if (!s->ready_head)
		s->ready_tail = NULL;
	q->ready = false;
	q->rnext = NULL;
	return q;
}

static bool enqueue(struct sender *s, struct job *j)
{
	struct phq *q = phq_get(s, j->phone, true);

	if (!q)
		return false;
	j->q = q;
	j->qnext = NULL;
	if (q->tail)
		q->tail->qnext = j;
	else
		q->head = j;
	q->tail = j;
	ready_push(s, q, false);
	return true;
}

/* The number's current job is over (its outcome may still be producing):
 * the next job of that number may start. */
static void release_phone(struct sender *s, struct job *j)
{
	struct phq *q = j->q;

	if (!q)
		return;
	q->head = j->qnext;
	if (!q->head)
		q->tail = NULL;
	q->busy = false;
	j->q = NULL;
	j->qnext = NULL;
	if (q->head)
		ready_push(s, q, false);
	else if (!q->ready)
		phq_remove(s, q);
}

/* Puts a started job back at the front of its number's queue. */
static void requeue_front(struct sender *s, struct job *j)
{
	j->q->busy = false;
	ready_push(s, j->q, true);
}

/* --- delay heap ---------------------------------------------------------- */

static bool heap_push(struct sender *s, struct job *j)
{
	size_t i;

	if (s->heap_len == s->heap_cap) {
		size_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
		struct job **h = realloc(s->heap, cap * sizeof(*h));

		if (!h)
			return false;
		s->heap = h;
		s->heap_cap = cap;
	}
	i = s->heap_len++;
	while (i > 0 && s->heap[(i - 1) / 2]->due_ms > j->due_ms) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = j;
	return true;
}

static struct job *heap_pop(struct sender *s)
{
	struct job *top, *last;
	size_t i = 0;

	if (!s->heap_len)
		return NULL;
	top = s->heap[0];
	last = s->heap[--s->heap_len];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->heap_len)
			break;
		if (c + 1 < s->heap_len &&
		    s->heap[c + 1]->due_ms < s->heap[c]->due_ms)
			c++;
		if (s->heap[c]->due_ms >= last->due_ms)
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->heap_len)
		s->heap[i] = last;
	return top;
}

/* --- Postgres -------------------------------------------------------------- */

static bool db_usable(struct sender *s, int64_t now)
{
	char errstr[ERR_SIZE];

	if (now < s->db_retry_at)
		return false;
	if (s->pg)
		return true;
	s->pg = pg_connect(cfg_str(s->cfg, CFG_OTPFLOW_DATABASE_URL),
			   "otpflow-sender", errstr, sizeof(errstr));
	if (!s->pg) {
		s->db_retry_at = now + DB_RETRY_MS;
		if (atomic_exchange(&s->db_ok, false))
			LOG(LOG_WARN, "postgres unreachable: not ready",
			    "error", errstr);
		return false;
	}
	if (!atomic_exchange(&s->db_ok, true))
		LOG(LOG_INFO, "postgres connected");
	return true;
}

static void db_succeeded(struct sender *s)
{
	if (!atomic_exchange(&s->db_ok, true))
		LOG(LOG_INFO, "postgres usable again");
}

static void db_failed(struct sender *s, const PGresult *res)
{
	char msg[ERR_SIZE];

	snprintf(msg, sizeof(msg), "%s",
		 res && PQresultErrorMessage(res)[0] ?
			 PQresultErrorMessage(res) :
			 PQerrorMessage(s->pg));
	msg[strcspn(msg, "\n")] = '\0';
	LOG(LOG_WARN, "postgres statement failed: not ready", "error", msg);
	if (pg_classify(s->pg, res) == PG_RETRY_CONN) {
		PQfinish(s->pg);
		s->pg = NULL;
	}
	/* Hold every send a moment: a loop over a broken database would only
	 * spin. */
	s->db_retry_at = now_ms() + DB_RETRY_MS;
	atomic_store(&s->db_ok, false);
}

/* Runs one statement; returns rows affected/returned, -1 on failure. */
static int db_exec(struct sender *s, const char *sql, int n,
		   const char *const *params)
{
	PGresult *res;
	enum pg_class cls;
	int rows = -1;

	if (!db_usable(s, now_ms()))
		return -1;
	res = PQexecParams(s->pg, sql, n, NULL, params, NULL, NULL, 0);
	cls = pg_classify(s->pg, res);
	if (cls == PG_OK) {
		rows = PQresultStatus(res) == PGRES_TUPLES_OK ?
			       PQntuples(res) :
			       (int)strtol(PQcmdTuples(res), NULL, 10);
		db_succeeded(s);
	} else {
		db_failed(s, res);
	}
	PQclear(res);
	return rows;
}

/* A Postgres array literal under construction ("{a,b}"), capped. */
struct arr {
	char *buf;
	size_t cap, len;
};

static bool arr_init(struct arr *a, size_t n, size_t per)
{
	a->cap = n * per + 16;
	a->len = 0;
	a->buf = malloc(a->cap);
	if (a->buf)
		a->buf[0] = '\0';
	return a->buf != NULL;
}

/* Appends one element, double-quoted and escaped when quote is set. */
static bool arr_push(struct arr *a, const char *v, bool quote)
{
	size_t need = quote ? 2 * strlen(v) + 4 : strlen(v) + 2;

	if (a->len + need + 2 >= a->cap) /* room for the closing brace */
		return false;
	char sep = a->len ? ',' : '{';

	a->buf[a->len++] = sep;
	if (quote)
		a->buf[a->len++] = '"';
	for (const char *p = v; *p; p++) {
		if (quote && (*p == '"' || *p == '\\'))
			a->buf[a->len++] = '\\';
		a->buf[a->len++] = *p;
	}
	if (quote)
		a->buf[a->len++] = '"';
	a->buf[a->len] = '\0';
	return true;
}

static const char *arr_end(struct arr *a)
{
	if (a->len == 0)
		a->buf[a->len++] = '{';
	a->buf[a->len++] = '}';
	a->buf[a->len] = '\0';
	return a->buf;
}

/*
 * Claims the otp_ids of n jobs in one statement (one commit): sets
 * j->claim to 1 (send) or 0 (already sent, skip). -1 when Postgres is
 * unavailable (nothing claimed).
 */
static int db_claim_batch(struct sender *s, struct job **jobs, size_t n)
{
	struct arr ids, users, atts;
	const char *p[4];
	PGresult *res = NULL;
	int rc = -1;

	if (!n)
		return 0;
	if (!db_usable(s, now_ms()))
		return -1;
	ids.buf = users.buf = atts.buf = NULL;
	if (!arr_init(&ids, n, IDS_UUID_SIZE + 2) ||
	    !arr_init(&users, n, IDS_UUID_SIZE + 2) || !arr_init(&atts, n, 16))
		goto out;
	for (size_t i = 0; i < n; i++) {
		char a[16];

		snprintf(a, sizeof(a), "%d", jobs[i]->attempts + 1);
		jobs[i]->claim = 0;
		if (!arr_push(&ids, jobs[i]->otp_id, false) ||
		    !arr_push(&users, jobs[i]->user_id, false) ||
		    !arr_push(&atts, a, false))
			goto out; /* cannot happen: sized above */
	}
	p[0] = arr_end(&ids);
	p[1] = arr_end(&users);
	p[2] = provider_name(s->prov);
	p[3] = arr_end(&atts);
	res = PQexecParams(
		s->pg,
		"INSERT INTO otpflow.sms_deliveries AS d (otp_id, user_id, "
		"status, provider, attempts) SELECT t.o, t.u, 'sending', $3, t.a "
		"FROM unnest($1::uuid[], $2::uuid[], $4::int[]) AS t(o, u, a) "
		"ON CONFLICT (otp_id) DO UPDATE SET status = 'sending', "
		"provider = EXCLUDED.provider, attempts = EXCLUDED.attempts, "
		"reason = NULL, updated_at = now() WHERE d.status <> 'sent' "
		"RETURNING d.otp_id::text",
		4, NULL, p, NULL, NULL, 0);
	if (pg_classify(s->pg, res) != PG_OK) {
		db_failed(s, res);
		goto out;
	}
	db_succeeded(s);
	for (int r = 0; r < PQntuples(res); r++) {
		const char *id = PQgetvalue(res, r, 0);

		for (size_t i = 0; i < n; i++)
			if (strcmp(jobs[i]->otp_id, id) == 0)
				jobs[i]->claim = 1;
	}
	rc = 0;
out:
	PQclear(res);
	free(ids.buf);
	free(users.buf);
	free(atts.buf);
	return rc;
}

/* Records every 2xx of the sent list as 'sent' in one statement. */
static void db_mark_sent_batch(struct sender *s, struct job *list, size_t n)
{
	struct arr ids, msgids, atts;
	const char *p[3];
	PGresult *res = NULL;
	bool ok = false;

	ids.buf = msgids.buf = atts.buf = NULL;
	if (!db_usable(s, now_ms()) || !arr_init(&ids, n, IDS_UUID_SIZE + 2) ||
	    !arr_init(&msgids, n, 2 * PROVIDER_MSGID_SIZE + 4) ||
	    !arr_init(&atts, n, 16))
		goto done;
	for (struct job *j = list; j; j = j->bnext) {
		char a[16];

		snprintf(a, sizeof(a), "%d", j->attempts);
		if (!arr_push(&ids, j->otp_id, false) ||
		    !arr_push(&msgids, j->msgid, true) ||
		    !arr_push(&atts, a, false))
			goto done;
	}
	p[0] = arr_end(&ids);
	p[1] = arr_end(&msgids);
	p[2] = arr_end(&atts);
	res = PQexecParams(
		s->pg,
		"UPDATE otpflow.sms_deliveries AS d SET status = 'sent', "
		"provider_message_id = t.m, attempts = t.a, reason = NULL, "
		"updated_at = now() FROM unnest($1::uuid[], $2::text[], "
		"$3::int[]) AS t(o, m, a) WHERE d.otp_id = t.o",
		3, NULL, p, NULL, NULL, 0);
	if (pg_classify(s->pg, res) == PG_OK) {
		db_succeeded(s);
		ok = true;
	} else {
		db_failed(s, res);
	}
done:
	PQclear(res);
	free(ids.buf);
	free(msgids.buf);
	free(atts.buf);
	if (!ok)
		for (struct job *j = list; j; j = j->bnext)
			job_log(LOG_ERROR, j,
				"SMS sent but not recorded: a redelivery may "
				"send it again",
				NULL, NULL, NULL, NULL);
}

static void db_mark_dead(struct sender *s, struct job *j)
{
	char att[16];
	const char *p[] = { j->otp_id, j->user_id, provider_name(s->prov), att,
			    dlt_names[j->reason] };

	snprintf(att, sizeof(att), "%d", j->attempts);
	if (!j->decodable)
		return;
	db_exec(s,
		"INSERT INTO otpflow.sms_deliveries AS d (otp_id, user_id, "
		"status, provider, attempts, reason) VALUES ($1, $2, "
		"'dead_lettered', $3, $4, $5) ON CONFLICT (otp_id) DO UPDATE "
		"SET status = 'dead_lettered', attempts = EXCLUDED.attempts, "
		"reason = EXCLUDED.reason, updated_at = now() "
		"WHERE d.status <> 'sent'",
		5, p);
}

/* --- consumer pause / resume --------------------------------------------- */

static void set_consume_paused(struct sender *s, bool paused)
{
	rd_kafka_topic_partition_list_t *l = NULL;

	if (s->consume_paused == paused)
		return;
	if (rd_kafka_assignment(s->consumer, &l) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    l) {
		if (paused)
			rd_kafka_pause_partitions(s->consumer, l);
		else
			rd_kafka_resume_partitions(s->consumer, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	s->consume_paused = paused;
}

static void update_backpressure(struct sender *s)
{
	bool want = s->draining || atomic_load(&s->paused_config) ||
		    s->pending >= s->max_pending;

	if (!want && s->consume_paused && s->pending > s->max_pending / 2)
		want = true; /* hysteresis */
	set_consume_paused(s, want);
}

/* --- producing outcomes -------------------------------------------------- */

static void add_hdr(rd_kafka_headers_t *h, const char *name, const void *v,
		    size_t len)
{
	rd_kafka_header_add(h, name, -1, v, (ssize_t)len);
}

static void base_headers(struct job *j, rd_kafka_headers_t *h)
{
	char tp[IDS_TRACEPARENT_SIZE];

	ids_traceparent_child(j->traceparent[0] ? j->traceparent : NULL, tp);
	add_hdr(h, HDR_REQUEST_ID, j->request_id, strlen(j->request_id));
	add_hdr(h, HDR_TRACEPARENT, tp, strlen(tp));
}

static void produce(struct sender *s, struct job *j)
{
	rd_kafka_resp_err_t err;
	rd_kafka_headers_t *h = rd_kafka_headers_copy(j->out_hdrs);

	err = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(j->out_topic),
				RD_KAFKA_V_KEY(j->phone, strlen(j->phone)),
				RD_KAFKA_V_VALUE(j->out_value, j->out_len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(j),
				RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(h);
		if (kafka_classify(s->producer, err) == KAFKA_FATAL)
			atomic_store(&s->fatal, true);
		j->produce_due =
			now_ms() + (err == RD_KAFKA_RESP_ERR__QUEUE_FULL ?
					    50 :
					    PRODUCE_RETRY_MS);
		j->rnext = s->reproduce;
		s->reproduce = j;
	}
}

/* Encodes and produces an outcome; the job waits for its delivery report. */
static void emit(struct sender *s, struct job *j, enum out_kind kind,
		 const char *topic, enum events_type type, json_t *obj,
		 rd_kafka_headers_t *h)
{
	char errstr[ERR_SIZE];

	j->out = kind;
	j->out_topic = topic;
	j->out_hdrs = h;
	if (type == EVENTS__COUNT) { /* raw: the OtpIssued bytes as consumed */
		j->out_value = malloc(j->raw_len ? j->raw_len : 1);
		if (j->out_value)
			memcpy(j->out_value, j->raw, j->raw_len);
		j->out_len = j->raw_len;
	} else if (events_encode(s->ev, type, obj, &j->out_value, &j->out_len,
				 errstr, sizeof(errstr)) < 0) {
		/* A bug (schema mismatch): stop rather than lose the record. */
		job_log(LOG_ERROR, j, "cannot encode outcome record", "error",
			errstr, NULL, NULL);
		atomic_store(&s->fatal, true);
		json_decref(obj);
		return;
	}
	json_decref(obj);
	if (!j->out_value) {
		atomic_store(&s->fatal, true);
		return;
	}
	produce(s, j);
}

static void emit_dlt(struct sender *s, struct job *j, enum dlt_reason reason,
		     const char *msg)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	unsigned char b4[4], b8[8];
	char emsg[ERR_SIZE];
	int64_t now = now_ms();
	json_t *obj, *otp = NULL;

	/* Records in memory keep only their bytes: decode again (it worked
	 * once) to put the full OtpIssued into the dead letter. */
	if (j->decodable &&
	    events_decode(s->ev, EVENTS_OTP_ISSUED, j->raw, j->raw_len, &otp,
			  emsg, sizeof(emsg)) < 0)
		otp = NULL;
	snprintf(emsg, sizeof(emsg), "%s", msg);
	scrub(emsg, j->code);
	j->reason = reason;
	if (!j->first_attempt_at)
		j->first_attempt_at = now;
	if (!j->last_attempt_at)
		j->last_attempt_at = now;
	obj = json_pack(
		"{s:o?, s:s, s:s, s:o, s:o, s:s, s:i, s:I, s:I, s:s, s:i, s:I, "
		"s:o}",
		"otp", otp, "reason", dlt_names[reason], "provider",
		provider_name(s->prov), "http_status",
		j->http_status ? json_integer(j->http_status) : json_null(),
		"provider_code",
		j->provider_code[0] ? json_string(j->provider_code) :
				      json_null(),
		"error_message", emsg, "attempts", j->attempts,
		"first_attempt_at", (json_int_t)j->first_attempt_at,
		"last_attempt_at", (json_int_t)j->last_attempt_at,
		"original_topic", j->pe ? j->pe->pt->topic : "",
		"original_partition", (int)j->partition, "original_offset",
		(json_int_t)j->offset, "raw_value", json_null());
	if (obj && !otp) {
		size_t n = sodium_base64_ENCODED_LEN(
			j->raw_len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(n);

		if (b64) {
			sodium_bin2base64(b64, n, j->raw ? j->raw : (void *)"",
					  j->raw_len,
					  sodium_base64_VARIANT_ORIGINAL);
			json_object_set_new(obj, "raw_value", json_string(b64));
			free(b64);
		}
	}
	if (!obj) {
		atomic_store(&s->fatal, true);
		rd_kafka_headers_destroy(h);
		return;
	}
	base_headers(j, h);
	add_hdr(h, HDR_DLT_TOPIC, j->pe->pt->topic, strlen(j->pe->pt->topic));
	add_hdr(h, HDR_DLT_PARTITION, b4, hdr_int32(j->partition, b4));
	add_hdr(h, HDR_DLT_OFFSET, b8, hdr_int64(j->offset, b8));
	add_hdr(h, HDR_DLT_MESSAGE, emsg, strlen(emsg));
	job_log(LOG_WARN, j, "dead letter", "reason", dlt_names[reason],
		"error", emsg);
	emit(s, j, OUT_DLT, s->topic_dlt, EVENTS_SMS_DEAD_LETTER, obj, h);
}

static void emit_sent(struct sender *s, struct job *j, const char *msgid,
		      int64_t sent_at)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	int64_t since = j->received_at ? j->received_at : j->issued_at;
	json_t *obj;

	if (j->received_at)
		metrics_observe(s->m_end_to_end,
				(double)(sent_at - j->received_at) / 1000.0);
	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I}", "otp_id",
			j->otp_id, "request_id", j->rec_request_id, "user_id",
			j->user_id, "provider", provider_name(s->prov),
			"provider_message_id", msgid, "attempts", j->attempts,
			"sent_at", (json_int_t)sent_at, "accepted_latency_ms",
			(json_int_t)(sent_at - since));

	if (!obj) {
		atomic_store(&s->fatal, true);
		rd_kafka_headers_destroy(h);
		return;
	}
	base_headers(j, h);
	emit(s, j, OUT_SENT, s->topic_sent, EVENTS_SMS_SENT, obj, h);
}

static void emit_retry(struct sender *s, struct job *j, int64_t due)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(6);
	unsigned char b4[4], b8[8];
	char first[24];

	base_headers(j, h);
	add_hdr(h, HDR_RETRY_ATTEMPTS, b4, hdr_int32(j->attempts, b4));
	add_hdr(h, HDR_RETRY_BACKOFF, b8, hdr_bigint(due, b8));
	snprintf(first, sizeof(first), "%lld", (long long)j->first_attempt_at);
	add_hdr(h, HDR_FIRST_ATTEMPT, first, strlen(first));
	if (j->received_at) {
		char rec[24];

		snprintf(rec, sizeof(rec), "%lld", (long long)j->received_at);
		add_hdr(h, HDR_RECEIVED_AT, rec, strlen(rec));
	}
	emit(s, j, OUT_RETRY, s->topic_retry, EVENTS__COUNT, NULL, h);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque)
{
	struct sender *s = opaque;
	struct job *j = rkm->_private;

	if (!j || s->closing)
		return;
	if (rkm->err) {
		enum kafka_class kc = kafka_classify(rk, rkm->err);

		job_log(LOG_ERROR, j, "outcome record not delivered; retrying",
			"error", rd_kafka_err2str(rkm->err), NULL, NULL);
		if (kc == KAFKA_FATAL) {
			atomic_store(&s->fatal, true);
			return;
		}
		j->produce_due = now_ms() + PRODUCE_RETRY_MS;
		j->rnext = s->reproduce;
		s->reproduce = j;
		return;
	}
	switch (j->out) {
	case OUT_SENT:
		/* Recorded in Postgres with the other reports of this poll
		 * (flush_sent), then finished. */
		j->bnext = NULL;
		*s->sent_tail = j;
		s->sent_tail = &j->bnext;
		return;
	case OUT_RETRY:
		metrics_inc(s->m_outcomes, M_RETRIED, 1);
		break;
	case OUT_DLT:
		metrics_inc(s->m_outcomes, M_DEAD, 1);
		metrics_inc(s->m_dead, j->reason, 1);
		db_mark_dead(s, j);
		break;
	default:
		break;
	}
	job_finish(j);
}

/* --- sending ---------------------------------------------------------------- */

static void after_send(struct sender *s, struct job *j,
		       const struct sms_outcome *o, int64_t retry_after,
		       const char *msgid, const char *error);

/* Expired before an attempt: dead letter, no provider call. */
static void expire_before_send(struct sender *s, struct job *j)
{
	char errstr[ERR_SIZE];

	snprintf(errstr, sizeof(errstr),
		 "code expires at %lld ms; too late to send after %d "
		 "attempt(s)%s%.300s",
		 (long long)j->expires_at, j->attempts,
		 j->error[0] ? "; last error: " : "", j->error);
	release_phone(s, j);
	emit_dlt(s, j, DLT_EXPIRED, errstr);
}

/* A claimed job: open the code, render, send (or hand to curl). */
static void start_send(struct sender *s, struct job *j, int64_t now)
{
	char body[BODY_SIZE], errstr[ERR_SIZE];

	if (seal_open(&s->keys, j->sealed, sizeof(j->sealed), j->code) < 0 &&
	    (!s->has_previous || seal_open(&s->previous, j->sealed,
					   sizeof(j->sealed), j->code) < 0)) {
		release_phone(s, j);
		emit_dlt(s, j, DLT_CONFIG,
			 "cannot open the sealed code (OTPFLOW_SEAL_SECRET_KEY "
			 "does not match the worker's public key?)");
		return;
	}
	if (templates_render(s->tpl, j->locale, j->code, body, sizeof(body)) <
	    0) {
		release_phone(s, j);
		emit_dlt(s, j, DLT_PERMANENT, "rendered SMS too long");
		return;
	}
	j->attempts++;
	if (!j->first_attempt_at)
		j->first_attempt_at = now;
	j->last_attempt_at = now;
	j->started_ms = now;
	if (provider_kind(s->prov) == PROVIDER_DEV) {
		struct sms_outcome o;
		char msgid[PROVIDER_MSGID_SIZE];

		memset(&o, 0, sizeof(o));
		snprintf(msgid, sizeof(msgid), "dev-%s", j->otp_id);
		if (provider_dev_send(s->prov, j->phone, body, j->otp_id, now,
				      errstr, sizeof(errstr)) == 0) {
			o.http_status = 200;
			after_send(s, j, &o, 0, msgid, "");
		} else {
			o.transport = SMS_TRANSPORT_OTHER;
			after_send(s, j, &o, 0, "", errstr);
		}
		sodium_memzero(body, sizeof(body));
		return;
	}
	if (provider_request(s->prov, j->phone, body, s->connect_timeout_ms,
			     s->timeout_ms, &j->req, errstr,
			     sizeof(errstr)) < 0) {
		sodium_memzero(body, sizeof(body));
		provider_req_cleanup(&j->req);
		release_phone(s, j);
		emit_dlt(s, j, DLT_PERMANENT, errstr);
		return;
	}
	sodium_memzero(body, sizeof(body));
	curl_multi_add_handle(s->multi, j->req.easy);
	s->in_flight++;
	metrics_set(s->m_in_flight, s->in_flight);
}

static void enter_pause(struct sender *s, struct job *j, const char *error)
{
	int64_t now = now_ms();

	s->next_probe = now + cfg_ms(s->cfg, CFG_OTPFLOW_SMS_PAUSE_PROBE);
	if (!atomic_exchange(&s->paused_config, true)) {
		job_log(LOG_ERROR, j,
			"provider rejects our configuration: consumption "
			"paused, not ready",
			"error", error, NULL, NULL);
		metrics_set(s->m_paused, 1);
	}
	update_backpressure(s);
}

static void leave_pause(struct sender *s)
{
	if (atomic_exchange(&s->paused_config, false)) {
		LOG(LOG_INFO, "provider accepts our configuration again: "
			      "resumed");
		metrics_set(s->m_paused, 0);
	}
	update_backpressure(s);
}

static void after_send(struct sender *s, struct job *j,
		       const struct sms_outcome *o, int64_t retry_after,
		       const char *msgid, const char *error)
{
	enum sms_class cls = classify(s->cls, o);
	int64_t now = now_ms();
	char hs[16];

	metrics_inc(s->m_class, cls, 1);
	metrics_observe(s->m_latency, (double)(now - j->started_ms) / 1000.0);
	j->http_status = o->http_status;
	snprintf(j->provider_code, sizeof(j->provider_code), "%s",
		 o->provider_code);
	snprintf(j->error, sizeof(j->error), "%s", error);
	scrub(j->error, j->code);
	sodium_memzero(j->code, sizeof(j->code));
	snprintf(hs, sizeof(hs), "%ld", o->http_status);
	if (j->probe && cls != SMS_CONFIG)
		leave_pause(s);
	j->probe = false;
	switch (cls) {
	case SMS_SUCCESS:
		/* SmsSent first, then 'sent' in Postgres once it is delivered
		 * (flush_sent): a 'sent' row always has its SmsSent. The
		 * number stays busy until then, so a copy queued behind it
		 * sees 'sent'. */
		snprintf(j->msgid, sizeof(j->msgid), "%s", msgid);
		j->sent_at = now;
		job_log(LOG_DEBUG, j, "sent", "provider_message_id", j->msgid,
			NULL, NULL);
		emit_sent(s, j, j->msgid, j->sent_at);
		return;
	case SMS_PERMANENT:
		release_phone(s, j);
		emit_dlt(s, j, DLT_PERMANENT, j->error);
		return;
	case SMS_CONFIG:
		j->attempts--; /* our fault, not the code's */
		requeue_front(s, j);
		enter_pause(s, j, j->error);
		return;
	case SMS_TRANSIENT: {
		int64_t delay = retry_backoff_ms(
			&s->pol, j->attempts,
			(double)randombytes_uniform(1000000) / 1e6,
			retry_after);
		int64_t due = 0;
		enum retry_verdict v = retry_decide(&s->pol, j->attempts, now,
						    delay, j->expires_at, &due);

		release_phone(s, j);
		if (v == RETRY_EXHAUSTED) {
			emit_dlt(s, j, DLT_EXHAUSTED, j->error);
		} else if (v == RETRY_EXPIRED) {
			char m[ERR_SIZE + 64];

			snprintf(m, sizeof(m),
				 "next attempt would be after expiry; last "
				 "error: %.400s",
				 j->error);
			emit_dlt(s, j, DLT_EXPIRED, m);
		} else {
			char d[24];

			snprintf(d, sizeof(d), "%lld", (long long)delay);
			job_log(LOG_INFO, j, "transient failure: retry later",
				"error", j->error, "delay_ms", d);
			emit_retry(s, j, due);
		}
		return;
	}
	}
}

/*
 * Records the SmsSent delivered since the last call as 'sent' (one
 * statement), then frees their numbers and finishes them (offsets).
 */
static void flush_sent(struct sender *s)
{
	struct job *list = s->sent_head;
	size_t n = 0;

	if (!list)
		return;
	s->sent_head = NULL;
	s->sent_tail = &s->sent_head;
	for (struct job *j = list; j; j = j->bnext)
		n++;
	db_mark_sent_batch(s, list, n);
	while (list) {
		struct job *j = list;

		list = j->bnext;
		j->bnext = NULL;
		metrics_inc(s->m_outcomes, M_SENT, 1);
		release_phone(s, j);
		job_finish(j);
	}
}

static void reap_curl(struct sender *s)
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
		j = (struct job *)((char *)req - offsetof(struct job, req));
		provider_result(s->prov, &j->req, m->data.result, now_ms(), &o,
				&retry_after, msgid, error);
		curl_multi_remove_handle(s->multi, m->easy_handle);
		provider_req_cleanup(&j->req);
		s->in_flight--;
		metrics_set(s->m_in_flight, s->in_flight);
		after_send(s, j, &o, retry_after, msgid, error);
	}
}

static bool in_batch(struct sender *s, size_t n, const struct job *j)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->batch[i]->otp_id, j->otp_id) == 0)
			return true;
	return false;
}

/*
 * Starts as many ready numbers as the in-flight budget allows: their
 * otp_ids are claimed in one Postgres statement, then each is sent. While
 * paused by a configuration error only one probe goes out per interval.
 */
static void dispatch(struct sender *s)
{
	int64_t now = now_ms();
	bool paused = atomic_load(&s->paused_config);
	size_t n = 0;

	while (s->in_flight + (int)n < s->max_in_flight && s->ready_head &&
	       !s->draining) {
		struct phq *q;
		struct job *j;

		if (!db_usable(s, now))
			break;
		if (paused) {
			if (now < s->next_probe || n)
				break;
			s->next_probe =
				now +
				cfg_ms(s->cfg, CFG_OTPFLOW_SMS_PAUSE_PROBE);
		}
		q = ready_pop(s);
		j = q->head;
		q->busy = true;
		j->probe = paused;
		if (j->pe->pt->revoked) {
			/* Another instance owns the partition now and will
			 * redeliver the record: sending it here too would
			 * race that instance. */
			release_phone(s, j);
			job_abandon(j);
			continue;
		}
		if (retry_too_late(&s->pol, now, j->expires_at)) {
			expire_before_send(s, j);
			continue;
		}
		if (in_batch(s, n, j)) { /* one otp_id twice: next turn */
			requeue_front(s, j);
			break;
		}
		s->batch[n++] = j;
	}
	if (!n)
		return;
	if (db_claim_batch(s, s->batch, n) < 0) {
		for (size_t i = n; i-- > 0;)
			requeue_front(s, s->batch[i]);
		return;
	}
	for (size_t i = 0; i < n && !atomic_load(&s->fatal); i++) {
		struct job *j = s->batch[i];

		if (!j->claim) {
			job_log(LOG_INFO, j, "already sent: skipped", NULL,
				NULL, NULL, NULL);
			metrics_inc(s->m_outcomes, M_DUPLICATE, 1);
			release_phone(s, j);
			job_finish(j);
			continue;
		}
		start_send(s, j, now);
	}
}

/* --- consuming ------------------------------------------------------------ */

static int copy_field(json_t *obj, const char *key, char *out, size_t size)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (!v || strlen(v) >= size)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* Fills the job from a decoded OtpIssued; -1 with a reason if unusable. */
static int job_from_otp(struct job *j, char *why, size_t why_size)
{
	const char *b64 =
		json_string_value(json_object_get(j->otp, "otp_sealed"));
	char norm[PHONE_MAX];
	size_t bin_len = 0;

	if (copy_field(j->otp, "otp_id", j->otp_id, sizeof(j->otp_id)) ||
	    !ids_uuid_valid(j->otp_id) ||
	    copy_field(j->otp, "user_id", j->user_id, sizeof(j->user_id)) ||
	    !ids_uuid_valid(j->user_id) ||
	    copy_field(j->otp, "phone_number", j->phone, sizeof(j->phone)) ||
	    copy_field(j->otp, "locale", j->locale, sizeof(j->locale))) {
		snprintf(why, why_size,
			 "OtpIssued with a missing or invalid "
			 "otp_id, user_id, phone_number or locale");
		return -1;
	}
	if (!phone_normalise(j->phone, strlen(j->phone), norm, sizeof(norm)) ||
	    strcmp(norm, j->phone) != 0) {
		snprintf(why, why_size,
			 "OtpIssued phone_number is not a "
			 "normalised E.164 number");
		return -1;
	}
	if (!b64 ||
	    sodium_base642bin(j->sealed, sizeof(j->sealed), b64, strlen(b64),
			      NULL, &bin_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    bin_len != sizeof(j->sealed)) {
		snprintf(why, why_size,
			 "OtpIssued otp_sealed is not a sealed "
			 "6-digit code");
		return -1;
	}
	if (copy_field(j->otp, "request_id", j->rec_request_id,
		       sizeof(j->rec_request_id)) ||
	    !ids_uuid_valid(j->rec_request_id)) {
		snprintf(why, why_size, "OtpIssued request_id is not a uuid");
		return -1;
	}
	if (!j->request_id[0])
		snprintf(j->request_id, sizeof(j->request_id), "%s",
			 j->rec_request_id);
	j->issued_at = json_integer_value(json_object_get(j->otp, "issued_at"));
	j->expires_at =
		json_integer_value(json_object_get(j->otp, "expires_at"));
	return 0;
}

static void on_record(struct sender *s, rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct ptrack *pt = track_get(s, topic, m->partition);
	struct job *j = calloc(1, sizeof(*j));
	char why[ERR_SIZE];
	size_t len;
	const void *v;
	int64_t now = now_ms();

	if (!pt || !j || !(j->pe = track_append(pt, m->offset))) {
		LOG(LOG_ERROR, "out of memory");
		atomic_store(&s->fatal, true);
		free(j);
		return;
	}
	j->s = s;
	j->anext = s->jobs;
	if (s->jobs)
		s->jobs->aprev = j;
	s->jobs = j;
	j->partition = m->partition;
	j->offset = m->offset;
	s->pending++;
	metrics_set(s->m_pending, s->pending);
	j->raw = malloc(m->len ? m->len : 1);
	if (j->raw && m->len)
		memcpy(j->raw, m->payload, m->len);
	j->raw_len = m->len;
	if (m->key_len < sizeof(j->phone)) {
		memcpy(j->phone, m->key, m->key_len);
		j->phone[m->key_len] = '\0';
	}
	hdr_str(m, HDR_REQUEST_ID, j->request_id, sizeof(j->request_id));
	hdr_str(m, HDR_TRACEPARENT, j->traceparent, sizeof(j->traceparent));
	v = hdr_get(m, HDR_RETRY_ATTEMPTS, &len);
	if (v && hdr_parse_attempts(v, len) > 0)
		j->attempts = hdr_parse_attempts(v, len);
	v = hdr_get(m, HDR_RETRY_BACKOFF, &len);
	if (v && hdr_parse_timestamp(v, len) > 0)
		j->due_ms = hdr_parse_timestamp(v, len);
	j->first_attempt_at = hdr_ms(m, HDR_FIRST_ATTEMPT);
	j->received_at = hdr_ms(m, HDR_RECEIVED_AT);

	if (events_decode(s->ev, EVENTS_OTP_ISSUED, m->payload, m->len, &j->otp,
			  why, sizeof(why)) < 0 ||
	    job_from_otp(j, why, sizeof(why)) < 0) {
		json_decref(j->otp);
		j->otp = NULL;
		if (!j->request_id[0])
			snprintf(j->request_id, sizeof(j->request_id), "%s",
				 "");
		emit_dlt(s, j, DLT_UNDECODABLE, why);
		return;
	}
	json_decref(j->otp);
	j->otp = NULL;
	j->decodable = true;
	if (j->due_ms > now) {
		if (!heap_push(s, j)) {
			atomic_store(&s->fatal, true);
			return;
		}
		return;
	}
	if (!enqueue(s, j))
		atomic_store(&s->fatal, true);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct sender *s = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++) {
			char pn[16];

			/* a fresh tracker: records before the committed
			 * offset are somebody else's now */
			track_detach(s, parts->elems[i].topic,
				     parts->elems[i].partition);
			snprintf(pn, sizeof(pn), "%d",
				 parts->elems[i].partition);
			LOG(LOG_INFO, "partition assigned", "topic",
			    parts->elems[i].topic, "partition", pn);
		}
		if (coop)
			rd_kafka_error_destroy(
				rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		if (s->consume_paused)
			rd_kafka_pause_partitions(rk, parts);
	} else {
		for (int i = 0; i < parts->cnt; i++) {
			char pn[16];

			track_detach(s, parts->elems[i].topic,
				     parts->elems[i].partition);
			snprintf(pn, sizeof(pn), "%d",
				 parts->elems[i].partition);
			LOG(LOG_INFO, "partition revoked", "topic",
			    parts->elems[i].topic, "partition", pn);
		}
		if (coop)
			rd_kafka_error_destroy(
				rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
	}
}

/* --- construction ---------------------------------------------------------- */

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
				    dlt_names);
	s->m_class = metrics_counter("otpflow_sender_provider_attempts_total",
				     "Provider attempts by classified outcome.",
				     "class", class_labels);
	s->m_in_flight = metrics_gauge("otpflow_sender_in_flight",
				       "Provider requests in flight.");
	s->m_pending = metrics_gauge(
		"otpflow_sender_pending",
		"Consumed records held in memory (queued, delayed, in flight).");
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
}

int sender_new(const struct cfg *cfg, struct events *ev, void **state,
	       char *errstr, size_t errstr_size)
{
	struct sender *s = calloc(1, sizeof(*s));
	char dir[4096], why[ERR_SIZE];
	const char *tdir = cfg_str(cfg, CFG_OTPFLOW_TEMPLATES_DIR);
	const char *poverrides[] = { "linger.ms", "5", "message.timeout.ms",
				     "0", NULL };
	const char *topics[] = { cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_OTP),
				 cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_OTP_RETRY),
				 NULL };
	int rc = DAEMON_EXIT_CONFIG;

	if (!s) {
		snprintf(errstr, errstr_size, "out of memory");
		return DAEMON_EXIT_FAILED;
	}
	s->cfg = cfg;
	s->ev = ev;
	s->wake[0] = s->wake[1] = -1;
	s->sent_tail = &s->sent_head;
	atomic_init(&s->paused_config, false);
	atomic_init(&s->db_ok, false);
	atomic_init(&s->fatal, false);
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
	s->max_pending = (int)cfg_int(cfg, CFG_OTPFLOW_SMS_MAX_PENDING);
	s->batch = calloc((size_t)s->max_in_flight, sizeof(*s->batch));
	if (!s->batch) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	if (seal_keys_secret(&s->keys,
			     cfg_str(cfg, CFG_OTPFLOW_SEAL_SECRET_KEY), why,
			     sizeof(why)) < 0) {
		snprintf(errstr, errstr_size, "OTPFLOW_SEAL_SECRET_KEY: %s",
			 why);
		goto fail;
	}
	{
		const char *prev =
			cfg_str(cfg, CFG_OTPFLOW_SEAL_PREVIOUS_SECRET_KEY);
		if (prev && *prev) {
			if (seal_keys_secret(&s->previous, prev, why,
					     sizeof(why)) < 0) {
				snprintf(errstr, errstr_size,
					 "OTPFLOW_SEAL_PREVIOUS_SECRET_KEY: %s",
					 why);
				goto fail;
			}
			s->has_previous = true;
		}
	}
	if (!tdir || !*tdir)
		tdir = paths_data(cfg, "templates", dir, sizeof(dir));
	s->tpl = templates_load(tdir, cfg_str(cfg, CFG_AUTH_LOCALE_DEFAULT),
				why, sizeof(why));
	if (!s->tpl) {
		snprintf(errstr, errstr_size, "%s", why);
		goto fail;
	}
	s->cls = classifier_new(cfg_list(cfg, CFG_OTPFLOW_SMS_CLASSIFY), why,
				sizeof(why));
	if (!s->cls) {
		snprintf(errstr, errstr_size, "%s", why);
		goto fail;
	}
	s->prov = provider_new(cfg, why, sizeof(why));
	if (!s->prov) {
		snprintf(errstr, errstr_size, "%s", why);
		goto fail;
	}
	rc = DAEMON_EXIT_FAILED; /* the settings are fine from here on */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(s->multi = curl_multi_init())) {
		snprintf(errstr, errstr_size, "cannot initialise libcurl");
		goto fail;
	}
	/* Keep a connection per request in flight: reconnecting for every
	 * SMS costs a handshake (TLS in production) each time. */
	curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)s->max_in_flight);
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS,
			  (long)s->max_in_flight);
	if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
		goto fail;
	}
	rc = DAEMON_EXIT_CONFIG; /* an OTPFLOW_KAFKA_* property */
	s->producer = kafka_producer_new(cfg, on_delivery, s, poverrides,
					 errstr, errstr_size);
	if (!s->producer)
		goto fail;
	s->consumer = kafka_consumer_new(cfg, GROUP, topics, NULL, on_rebalance,
					 s, errstr, errstr_size);
	if (!s->consumer)
		goto fail;
	s->cq = rd_kafka_queue_get_consumer(s->consumer);
	s->pq = rd_kafka_queue_get_main(s->producer);
	rd_kafka_queue_io_event_enable(s->cq, s->wake[1], "c", 1);
	rd_kafka_queue_io_event_enable(s->pq, s->wake[1], "p", 1);
	db_usable(s, now_ms()); /* not fatal: retried, reported by /readyz */
	register_metrics(s);
	LOG(LOG_INFO, "sender configured", "provider", provider_name(s->prov),
	    "templates", tdir);
	*state = s;
	return DAEMON_EXIT_OK;
fail:
	sender_free(s);
	return rc;
}

/* --- the loop ---------------------------------------------------------------- */

static void drain_wake(struct sender *s)
{
	char buf[256];

	while (read(s->wake[0], buf, sizeof(buf)) > 0)
		;
}

static void retry_produces(struct sender *s, int64_t now)
{
	struct job *list = s->reproduce, *keep = NULL;

	s->reproduce = NULL;
	while (list) {
		struct job *j = list;

		list = j->rnext;
		if (j->produce_due <= now) {
			produce(s, j);
		} else {
			j->rnext = keep;
			keep = j;
		}
	}
	/* produce() may have appended to s->reproduce meanwhile */
	while (keep) {
		struct job *j = keep;

		keep = j->rnext;
		j->rnext = s->reproduce;
		s->reproduce = j;
	}
}

/* One turn: consume, release due retries, dispatch, drive curl, deliver. */
static int turn(struct sender *s, int wait_ms)
{
	int64_t now = now_ms();
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
			on_record(s, m);
		}
		rd_kafka_message_destroy(m);
	}
	while (s->heap_len && s->heap[0]->due_ms <= now && !s->draining) {
		struct job *j = heap_pop(s);

		if (j->pe->pt->revoked)
			job_abandon(j);
		else if (!enqueue(s, j))
			atomic_store(&s->fatal, true);
	}
	dispatch(s);
	curl_multi_perform(s->multi, &running);
	reap_curl(s);
	rd_kafka_poll(s->producer, 0);
	flush_sent(s);
	if (s->reproduce)
		retry_produces(s, now);
	update_backpressure(s);
	if (consumed == CONSUME_BATCH)
		wait_ms = 0;
	if (s->heap_len && !s->draining) {
		int64_t d = s->heap[0]->due_ms - now_ms();

		if (d < wait_ms)
			wait_ms = d < 0 ? 0 : (int)d;
	}
	if (s->ready_head && atomic_load(&s->paused_config) && wait_ms > 100)
		wait_ms = 100;
	if (wait_ms > 0) {
		curl_multi_poll(s->multi, &wfd, 1, wait_ms, NULL);
		drain_wake(s);
	}
	return 0;
}

/* Work still owed before exit: requests in flight, outcomes not delivered. */
static bool busy(struct sender *s)
{
	return s->in_flight > 0 || rd_kafka_outq_len(s->producer) > 0 ||
	       s->reproduce || s->sent_head;
}

static void abandon_waiting(struct sender *s)
{
	struct phq *q;

	while (s->heap_len)
		job_abandon(heap_pop(s));
	while ((q = ready_pop(s)) != NULL)
		(void)q;
	for (size_t b = 0; b < PHONE_BUCKETS; b++) {
		while (s->buckets[b]) {
			struct phq *ph = s->buckets[b];
			struct job *j = ph->head;

			s->buckets[b] = ph->hnext;
			while (j) {
				struct job *next = j->qnext;

				if (!ph->busy || j != ph->head)
					job_abandon(j);
				j = next;
			}
			free(ph);
		}
	}
}

int sender_run(void *state)
{
	struct sender *s = state;
	int64_t deadline;
	int rc = 0;

	LOG(LOG_INFO, "consuming", "topics", s->topic_otp, "retry_topic",
	    s->topic_retry);
	while (!signals_stop_requested() && !atomic_load(&s->fatal))
		turn(s, 100);
	if (atomic_load(&s->fatal)) {
		LOG(LOG_ERROR, "fatal error: stopping without storing further "
			       "offsets");
		rc = 1;
	}
	LOG(LOG_INFO, "draining");
	s->draining = true;
	set_consume_paused(s, true);
	deadline = now_ms() + s->timeout_ms + 10000;
	while (busy(s) && now_ms() < deadline && !atomic_load(&s->fatal))
		turn(s, 50);
	if (busy(s))
		LOG(LOG_WARN, "drain timed out: unfinished records will be "
			      "redelivered");
	abandon_waiting(s);
	return rc;
}

bool sender_ready(void *arg, char *why, size_t why_size)
{
	struct sender *s = arg;

	if (atomic_load(&s->fatal)) {
		snprintf(why, why_size, "fatal error");
		return false;
	}
	if (atomic_load(&s->paused_config)) {
		snprintf(why, why_size,
			 "paused: the SMS provider rejects our "
			 "credentials or configuration");
		return false;
	}
	if (!atomic_load(&s->db_ok)) {
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

		if (j->req.easy && s->multi)
			curl_multi_remove_handle(s->multi, j->req.easy);
		job_free(j);
	}
	while (s->tracks) {
		struct ptrack *pt = s->tracks;

		s->tracks = pt->next;
		track_free(pt);
	}
	while (s->revoked) {
		struct ptrack *pt = s->revoked;

		s->revoked = pt->next;
		track_free(pt);
	}
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->pg)
		PQfinish(s->pg);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	free(s->heap);
	free(s->batch);
	provider_free(s->prov);
	classifier_free(s->cls);
	templates_free(s->tpl);
	sodium_memzero(&s->keys, sizeof(s->keys));
	sodium_memzero(&s->previous, sizeof(s->previous));
	free(s);
}
