/*
 * otpflowctl replay: gives dead letters another chance. Reads a
 * dead-letter topic up to its end offsets at start — cannot-send-sms
 * (SmsDeadLetter, ctl_replay_sms.c) by default, or with --topic the signup
 * dead-letter topic (SignupDeadLetter, ctl_replay_signup.c) — and replays
 * every record that passes the filters, idempotently: replaying the same
 * range twice publishes nothing that has an effect. Every record published
 * carries x-replay-of (the dead letter's coordinates) and x-replay-count.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_replay.h"
#include "headers.h"
#include "kafka.h"
#include "pg.h"
#include "signals.h"

#define TIMEOUT_MS 30000

static const char *const sms_reasons[] = {
	"PERMANENT", "EXPIRED", "RETRIES_EXHAUSTED", "CONFIG", "UNDECODABLE",
	"TAMPERED",  NULL
};
static const char *const signup_reasons[] = { "UNSTORABLE", "UNDECODABLE",
					      NULL };

/* "2026-11-25T18:00:00Z" or a duration ago ("2h"); false if neither. */
static bool parse_time(const char *s, long long *ms)
{
	struct tm tm = { 0 };
	const char *end;
	long long ago;

	if (cfg_parse_duration(s, &ago)) {
		*ms = clock_wall_ms() - ago;
		return true;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (strcmp(end, "Z") != 0 && *end))
		return false;
	*ms = (long long)timegm(&tm) * 1000;
	return true;
}

void replay_derived_id(const char *id, const char *purpose,
		       char out[IDS_UUID_SIZE])
{
	unsigned char h[crypto_generichash_BYTES];
	char hex[33];

	crypto_generichash(h, sizeof(h), (const unsigned char *)id, strlen(id),
			   (const unsigned char *)purpose, strlen(purpose));
	h[6] = (unsigned char)((h[6] & 0x0F) | 0x40);
	h[8] = (unsigned char)((h[8] & 0x3F) | 0x80);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, IDS_UUID_SIZE, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
}

int replay_exists(PGconn *conn, const char *sql, const char *param)
{
	PGresult *res = NULL;
	char errstr[256];
	int rc = pg_exec_params(conn, sql, 1, &param, &res, NULL, errstr,
				sizeof(errstr)) == PG_OK ?
			 PQntuples(res) > 0 :
			 -1;

	PQclear(res);
	return rc;
}

bool replay_matches(struct replay *r, long long at_ms, const char *reason,
		    const char *phone)
{
	if ((r->o.since_ms && at_ms < r->o.since_ms) ||
	    (r->o.until_ms && at_ms > r->o.until_ms) ||
	    (r->o.reason && (!reason || strcmp(reason, r->o.reason) != 0)) ||
	    (r->o.phone[0] && (!phone || strcmp(phone, r->o.phone) != 0)) ||
	    (r->o.limit >= 0 && r->n.matched >= r->o.limit))
		return false;
	r->n.matched++;
	return true;
}

int replay_submit(struct replay *r, const json_t *request,
		  const char *request_id, const char *phone, const char *tp,
		  const char *where, int count)
{
	char errstr[256];
	void *value = NULL;
	size_t len = 0;
	int rc = -1;

	if (events_encode(r->ev, EVENTS_SIGNUP_REQUESTED, request, &value, &len,
			  errstr, sizeof(errstr)) == 0)
		rc = replay_publish(
			r, cfg_str(r->cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS),
			phone, value, len, request_id, tp, where, count);
	free(value);
	return rc;
}

void replay_context(const rd_kafka_message_t *rkm, char *where,
		    size_t where_size, int *count,
		    char tp[IDS_TRACEPARENT_SIZE])
{
	char tp_in[64], count_in[16];
	long long previous;

	snprintf(where, where_size, "%s/%d/%lld", rd_kafka_topic_name(rkm->rkt),
		 (int)rkm->partition, (long long)rkm->offset);
	hdr_str(rkm, HDR_REPLAY_COUNT, count_in, sizeof(count_in));
	if (!cfg_parse_int(count_in, 0, 1000000, &previous))
		previous = 0;
	*count = (int)previous + 1;
	hdr_str(rkm, HDR_TRACEPARENT, tp_in, sizeof(tp_in));
	ids_traceparent_child(tp_in, tp);
}

void replay_report(struct replay *r, const char *action, const char *id_name,
		   const char *id, const char *phone, const char *reason)
{
	char masked[PHONE_MAX + 8];

	phone_mask(phone, masked, sizeof(masked));
	printf("%s %s %s=%s phone=%s reason=%s\n",
	       r->o.dry_run ? "would" : "did", action, id_name, id, masked,
	       reason);
	if (r->o.rate > 0 && !r->o.dry_run)
		usleep((useconds_t)(1e6 / r->o.rate));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
			void *opaque)
{
	struct replay *r = opaque;

	r->pending--;
	if (rkm->err) {
		r->n.failed++;
		fprintf(stderr, "replay: publish failed: %s\n",
			rd_kafka_err2str(rkm->err));
	}
}

int replay_publish(struct replay *r, const char *topic, const char *key,
		   const void *value, size_t len, const char *request_id,
		   const char *traceparent, const char *replay_of, int count)
{
	char count_text[16];
	rd_kafka_resp_err_t err;

	snprintf(count_text, sizeof(count_text), "%d", count);
	do {
		err = rd_kafka_producev(
			r->producer, RD_KAFKA_V_TOPIC(topic),
			RD_KAFKA_V_KEY(key, strlen(key)),
			RD_KAFKA_V_VALUE((void *)value, len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_HEADER(HDR_REQUEST_ID, request_id, -1),
			RD_KAFKA_V_HEADER(HDR_TRACEPARENT, traceparent, -1),
			RD_KAFKA_V_HEADER(HDR_REPLAY_OF, replay_of, -1),
			RD_KAFKA_V_HEADER(HDR_REPLAY_COUNT, count_text, -1),
			RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(r->producer, 100);
	} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
	if (err) {
		fprintf(stderr, "replay: cannot publish: %s\n",
			rd_kafka_err2str(err));
		r->n.failed++;
		return -1;
	}
	r->pending++;
	rd_kafka_poll(r->producer, 0);
	return 0;
}

/* ctl_record_fn: one dead letter, then the producer's reports. */
static void on_record(void *arg, const rd_kafka_message_t *rkm)
{
	struct replay *r = arg;

	if (rkm) {
		if (r->o.signups)
			replay_signup(r, rkm);
		else
			replay_sms(r, rkm);
		if (r->n.scanned % 100 == 0)
			fprintf(stderr, "replay: %lld scanned, %lld matched\n",
				r->n.scanned, r->n.matched);
	}
	if (r->producer)
		rd_kafka_poll(r->producer, 0);
}

static int parse_args(int argc, char **argv, struct replay_opts *o,
		      const char **topic)
{
	int i;

	o->limit = -1;
	for (i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--dry-run") == 0) {
			o->dry_run = true;
			continue;
		}
		if (!v)
			goto bad;
		i++;
		if (strcmp(argv[i - 1], "--since") == 0) {
			if (!parse_time(v, &o->since_ms))
				goto bad;
		} else if (strcmp(argv[i - 1], "--until") == 0) {
			if (!parse_time(v, &o->until_ms))
				goto bad;
		} else if (strcmp(argv[i - 1], "--reason") == 0) {
			o->reason = v; /* checked once the topic is known */
		} else if (strcmp(argv[i - 1], "--topic") == 0) {
			*topic = v;
		} else if (strcmp(argv[i - 1], "--phone") == 0) {
			if (!phone_normalise(v, strlen(v), o->phone,
					     sizeof(o->phone)))
				goto bad;
		} else if (strcmp(argv[i - 1], "--limit") == 0) {
			o->limit = atoll(v);
			if (o->limit < 0)
				goto bad;
		} else if (strcmp(argv[i - 1], "--rate") == 0) {
			o->rate = atof(v); /* "50" or "50/s" */
			if (o->rate <= 0)
				goto bad;
		} else {
			i--;
			goto bad;
		}
	}
	return 0;
bad:
	fprintf(stderr,
		"otpflowctl replay: bad or incomplete option '%s' "
		"(try --help)\n",
		argv[i < argc ? i : argc - 1]);
	return -1;
}

/* Which dead letters topic holds, and whether --reason fits them. */
static int check_topic(const struct cfg *cfg, const char *topic,
		       struct replay_opts *o)
{
	const char *const *reasons = sms_reasons;
	bool known = !o->reason;

	if (strcmp(topic, cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER)) ==
	    0) {
		o->signups = true;
		reasons = signup_reasons;
	} else if (strcmp(topic, cfg_str(cfg, CFG_OTPFLOW_TOPIC_DEAD_LETTER))) {
		fprintf(stderr,
			"otpflowctl replay: %s is not a dead-letter topic "
			"(OTPFLOW_TOPIC_DEAD_LETTER or "
			"OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER)\n",
			topic);
		return -1;
	}
	for (const char *const *r = reasons; *r && !known; r++)
		known = strcmp(*r, o->reason) == 0;
	if (!known) {
		fprintf(stderr,
			"otpflowctl replay: --reason %s: not a reason of %s "
			"(try --help)\n",
			o->reason, topic);
		return -1;
	}
	return 0;
}

static const char usage[] =
	"usage: otpflowctl replay [--topic T] [--since T] [--until T] "
	"[--reason R]\n"
	"                         [--phone P] [--limit N] [--dry-run] "
	"[--rate N]\n\n"
	"Reads a dead-letter topic (up to its end at start) and replays "
	"every record\nthat matches. Replaying the same range twice "
	"publishes nothing new. Every\nrecord published carries "
	"x-replay-of.\n\n"
	"cannot-send-sms (OTPFLOW_TOPIC_DEAD_LETTER, the default): a code "
	"sent since is\nleft alone; a code still valid for at least "
	"OTPFLOW_REPLAY_MIN_VALIDITY is\npublished again to sms-otp; an "
	"older one becomes a REISSUE request on\nsignup-requests, so the "
	"worker issues a fresh code (a stale code is never\nre-sent).\n\n"
	"signup-requests-dlt (OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER): a request "
	"the worker\ncould not store is submitted again to signup-requests "
	"(fix the cause first,\ne.g. a missing role); an undecodable record "
	"cannot be.\n\n"
	"  --topic T          the dead-letter topic to read\n"
	"  --since/--until T  dead-lettered (last attempt) after/before T:\n"
	"                     2026-11-25T18:00:00Z, or a duration ago such "
	"as 2h\n"
	"  --reason R         cannot-send-sms: PERMANENT, EXPIRED, "
	"RETRIES_EXHAUSTED,\n"
	"                     CONFIG, UNDECODABLE, TAMPERED; "
	"signup-requests-dlt:\n"
	"                     UNSTORABLE, UNDECODABLE\n"
	"  --phone P          one number\n"
	"  --limit N          at most N records\n"
	"  --dry-run          print what would happen; publish nothing\n"
	"  --rate N           at most N records per second\n\n"
	"Prints one line per record and a summary.";

/* The clients of a run; 0 or -1 with errstr. */
static int open_clients(struct replay *r, char *errstr, size_t errstr_size)
{
	const char *overrides[] = { "enable.auto.commit", "false", NULL };
	char group[64];

	snprintf(group, sizeof(group), "otpflowctl-replay-%d", (int)getpid());
	r->ev = events_from_config(r->cfg, errstr, errstr_size);
	if (r->ev)
		r->pg = pg_connect(cfg_str(r->cfg, CFG_OTPFLOW_DATABASE_URL),
				   "otpflowctl", errstr, errstr_size);
	if (r->pg)
		r->consumer = kafka_consumer_new(r->cfg, group, NULL, overrides,
						 NULL, NULL, errstr,
						 errstr_size);
	if (r->consumer && !r->o.dry_run)
		r->producer = kafka_producer_new(r->cfg, on_delivery, r, NULL,
						 errstr, errstr_size);
	return r->consumer && (r->o.dry_run || r->producer) ? 0 : -1;
}

static void print_summary(const struct replay *r)
{
	const struct replay_counts *n = &r->n;

	if (r->o.signups)
		printf("replay%s: %lld dead letters scanned, %lld matched: "
		       "%lld resubmitted, %lld already resubmitted, %lld not "
		       "replayable, %lld undecodable, %lld failed\n",
		       r->o.dry_run ? " (dry run)" : "", n->scanned, n->matched,
		       n->resubmitted, n->already_resubmitted,
		       n->not_replayable, n->undecodable, n->failed);
	else
		printf("replay%s: %lld dead letters scanned, %lld matched: "
		       "%lld resent, %lld reissued, %lld already sent, %lld "
		       "already reissued, %lld undecodable, %lld failed\n",
		       r->o.dry_run ? " (dry run)" : "", n->scanned, n->matched,
		       n->resent, n->reissued, n->already_sent,
		       n->already_reissued, n->undecodable, n->failed);
}

int ctl_replay(int argc, char **argv)
{
	struct replay r = { 0 };
	const char *topic = NULL;
	char errstr[512];
	struct cfg cfg;
	int rc = CTL_FAILED;

	if (ctl_help(argc, argv, usage))
		return CTL_OK;
	if (parse_args(argc, argv, &r.o, &topic))
		return CTL_USAGE;
	if (ctl_config_load(&cfg, "replay", true))
		return CTL_USAGE;
	if (!topic)
		topic = cfg_str(&cfg, CFG_OTPFLOW_TOPIC_DEAD_LETTER);
	if (check_topic(&cfg, topic, &r.o)) {
		cfg_free(&cfg);
		return CTL_USAGE;
	}
	signals_install();
	r.cfg = &cfg;
	if (open_clients(&r, errstr, sizeof(errstr)) ||
	    ctl_read_topic(r.consumer, topic, on_record, &r, errstr,
			   sizeof(errstr))) {
		fprintf(stderr, "otpflowctl replay: %s\n", errstr);
		goto out;
	}
	if (r.producer && rd_kafka_flush(r.producer, TIMEOUT_MS))
		r.n.failed += r.pending;
	print_summary(&r);
	rc = r.n.failed || signals_stop_requested() ? CTL_FAILED : CTL_OK;
out:
	kafka_consumer_close(r.consumer, CLOSE_TIMEOUT_MS);
	if (r.producer)
		rd_kafka_destroy(r.producer);
	if (r.pg)
		PQfinish(r.pg);
	events_destroy(r.ev);
	cfg_free(&cfg);
	return rc;
}
