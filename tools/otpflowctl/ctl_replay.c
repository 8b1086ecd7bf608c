/*
 * otpflowctl replay: gives dead-lettered codes another chance. Reads the
 * dead-letter topic up to its end offsets at start; for every record that
 * passes the filters:
 *
 *   - its code was sent since (sms_deliveries says 'sent')  -> nothing
 *   - still valid >= OTPFLOW_REPLAY_MIN_VALIDITY             -> the same
 *     OtpIssued again on sms-otp (the sender dedups by otp_id)
 *   - otherwise                                               -> a REISSUE
 *     request on signup-requests, so the worker issues a fresh code; a
 *     stale code is never re-sent
 *
 * The REISSUE's request_id is derived from the otp_id, so the worker's
 * dedup makes a second replay of the same range a no-op. Every record
 * published carries x-replay-of (the dead letter's coordinates) and
 * x-replay-count.
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
#include "config.h"
#include "ctl.h"
#include "events.h"
#include "ids.h"
#include "kafka.h"
#include "phone.h"
#include "pg.h"
#include "signals.h"

#define TIMEOUT_MS 30000

struct replay_opts {
	long long since_ms, until_ms; /* on last_attempt_at; 0 = open */
	const char *reason;
	char phone[PHONE_MAX];
	long long limit;
	bool dry_run;
	double rate; /* records per second; 0 = unlimited */
};

struct replay_counts {
	long long scanned, matched, resent, reissued, already_sent,
		already_reissued, undecodable, failed;
};

struct replay {
	const struct cfg *cfg;
	struct replay_opts o;
	struct replay_counts n;
	struct events *ev;
	rd_kafka_t *consumer, *producer;
	PGconn *pg;
	int pending; /* produced, report not yet seen */
};

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

/* A UUID derived from otp_id: the same dead letter, the same REISSUE. */
static void reissue_request_id(const char *otp_id, char out[IDS_UUID_SIZE])
{
	unsigned char h[crypto_generichash_BYTES];
	char hex[33];

	crypto_generichash(h, sizeof(h), (const unsigned char *)otp_id,
			   strlen(otp_id), (const unsigned char *)"reissue", 7);
	h[6] = (unsigned char)((h[6] & 0x0F) | 0x40);
	h[8] = (unsigned char)((h[8] & 0x3F) | 0x80);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, IDS_UUID_SIZE, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
}

/* Whether a query with one text parameter returns a row. -1 on error. */
static int exists(PGconn *conn, const char *sql, const char *param)
{
	PGresult *res = PQexecParams(conn, sql, 1, NULL, &param, NULL, NULL, 0);
	int rc = pg_classify(conn, res) == PG_OK ? PQntuples(res) > 0 : -1;

	PQclear(res);
	return rc;
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

static const char *header(const rd_kafka_message_t *rkm, const char *name,
			  char *out, size_t size)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *v = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (rd_kafka_message_headers(rkm, &hdrs) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    rd_kafka_header_get_last(hdrs, name, &v, &len) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    v && len < size) {
		memcpy(out, v, len);
		out[len] = '\0';
	}
	return out;
}

static int publish(struct replay *r, const char *topic, const char *key,
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
			RD_KAFKA_V_HEADER("request-id", request_id, -1),
			RD_KAFKA_V_HEADER("traceparent", traceparent, -1),
			RD_KAFKA_V_HEADER("x-replay-of", replay_of, -1),
			RD_KAFKA_V_HEADER("x-replay-count", count_text, -1),
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

/* One dead letter: filter, decide, act (or say what it would do). */
static void replay_one(struct replay *r, const rd_kafka_message_t *rkm)
{
	json_t *dl = NULL, *otp;
	char errstr[256], where[128], masked[PHONE_MAX + 8], tp_in[64],
		tp[IDS_TRACEPARENT_SIZE], count_in[16];
	const char *otp_id, *phone, *action;
	long long last_attempt, expires, previous;
	int count;

	r->n.scanned++;
	snprintf(where, sizeof(where), "%s/%d/%lld",
		 rd_kafka_topic_name(rkm->rkt), (int)rkm->partition,
		 (long long)rkm->offset);
	if (events_decode(r->ev, EVENTS_SMS_DEAD_LETTER, rkm->payload, rkm->len,
			  &dl, errstr, sizeof(errstr)) ||
	    !json_is_object(otp = json_object_get(dl, "otp"))) {
		r->n.undecodable++; /* nothing to replay without the code */
		goto out;
	}
	otp_id = json_string_value(json_object_get(otp, "otp_id"));
	phone = json_string_value(json_object_get(otp, "phone_number"));
	last_attempt =
		json_integer_value(json_object_get(dl, "last_attempt_at"));
	expires = json_integer_value(json_object_get(otp, "expires_at"));
	if ((r->o.since_ms && last_attempt < r->o.since_ms) ||
	    (r->o.until_ms && last_attempt > r->o.until_ms) ||
	    (r->o.reason &&
	     strcmp(json_string_value(json_object_get(dl, "reason")),
		    r->o.reason) != 0) ||
	    (r->o.phone[0] && strcmp(phone, r->o.phone) != 0))
		goto out;
	if (r->o.limit >= 0 && r->n.matched >= r->o.limit)
		goto out;
	r->n.matched++;
	phone_mask(phone, masked, sizeof(masked));
	if (!cfg_parse_int(header(rkm, "x-replay-count", count_in,
				  sizeof(count_in)),
			   0, 1000000, &previous))
		previous = 0;
	count = (int)previous + 1;
	ids_traceparent_child(header(rkm, "traceparent", tp_in, sizeof(tp_in)),
			      tp);

	if (exists(r->pg,
		   "SELECT 1 FROM otpflow.sms_deliveries "
		   "WHERE otp_id = $1::uuid AND status = 'sent'",
		   otp_id) == 1) {
		r->n.already_sent++;
		action = "already sent";
	} else if (expires - clock_wall_ms() >=
		   cfg_ms(r->cfg, CFG_OTPFLOW_REPLAY_MIN_VALIDITY)) {
		action = "resend";
		if (!r->o.dry_run) {
			void *value = NULL;
			size_t len = 0;

			if (events_encode(r->ev, EVENTS_OTP_ISSUED, otp, &value,
					  &len, errstr, sizeof(errstr)) ||
			    publish(r,
				    cfg_str(r->cfg, CFG_OTPFLOW_TOPIC_SMS_OTP),
				    phone, value, len,
				    json_string_value(
					    json_object_get(otp, "request_id")),
				    tp, where, count))
				action = "failed";
			free(value);
		}
		if (strcmp(action, "resend") == 0)
			r->n.resent++;
	} else {
		char request_id[IDS_UUID_SIZE];

		reissue_request_id(otp_id, request_id);
		if (exists(r->pg,
			   "SELECT 1 FROM otpflow.processed_requests "
			   "WHERE request_id = $1::uuid",
			   request_id) == 1) {
			r->n.already_reissued++;
			action = "already reissued";
		} else {
			action = "reissue";
			if (!r->o.dry_run) {
				json_t *req = json_pack(
					"{s:s,s:I,s:s,s:s,s:O,s:s,s:[],s:s,s:s,"
					"s:n,s:s,s:s}",
					"request_id", request_id, "received_at",
					(json_int_t)clock_wall_ms(),
					"phone_number", phone, "display_name",
					phone, "locale",
					json_object_get(otp, "locale"),
					"default_role", "", "allowed_roles",
					"metadata_json", "null", "redirect_to",
					"", "client_ip", "kind", "REISSUE",
					"replay_of", otp_id);
				void *value = NULL;
				size_t len = 0;

				if (!req ||
				    events_encode(r->ev,
						  EVENTS_SIGNUP_REQUESTED, req,
						  &value, &len, errstr,
						  sizeof(errstr)) ||
				    publish(r,
					    cfg_str(r->cfg,
						    CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS),
					    phone, value, len, request_id, tp,
					    where, count))
					action = "failed";
				free(value);
				json_decref(req);
			}
			if (strcmp(action, "reissue") == 0)
				r->n.reissued++;
		}
	}
	printf("%s %s otp_id=%s phone=%s reason=%s\n",
	       r->o.dry_run ? "would" : "did", action, otp_id, masked,
	       json_string_value(json_object_get(dl, "reason")));
	if (r->o.rate > 0 && !r->o.dry_run)
		usleep((useconds_t)(1e6 / r->o.rate));
out:
	json_decref(dl);
}

static int parse_args(int argc, char **argv, struct replay_opts *o)
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
			static const char *const reasons[] = {
				"PERMANENT", "EXPIRED",	    "RETRIES_EXHAUSTED",
				"CONFIG",    "UNDECODABLE", "TAMPERED",
				NULL
			};
			bool known = false;
			for (const char *const *r = reasons; *r; r++)
				known |= strcmp(*r, v) == 0;
			if (!known)
				goto bad;
			o->reason = v;
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

/* The dead-letter partitions with their end offsets now (what to read). */
static rd_kafka_topic_partition_list_t *
snapshot(rd_kafka_t *rk, const char *topic, char *errstr, size_t size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err =
		rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);

	rd_kafka_topic_destroy(rkt);
	if (err || md->topics[0].err) {
		err = err ? err : md->topics[0].err;
		if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			parts = rd_kafka_topic_partition_list_new(0);
		else
			snprintf(errstr, size, "%s: %s", topic,
				 rd_kafka_err2str(err));
		goto out;
	}
	parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int p = 0; p < md->topics[0].partition_cnt; p++) {
		int64_t low = 0, high = 0;
		rd_kafka_topic_partition_t *tp;

		err = rd_kafka_query_watermark_offsets(
			rk, topic, md->topics[0].partitions[p].id, &low, &high,
			TIMEOUT_MS);
		if (err) {
			snprintf(errstr, size, "%s: %s", topic,
				 rd_kafka_err2str(err));
			rd_kafka_topic_partition_list_destroy(parts);
			parts = NULL;
			goto out;
		}
		if (high <= low)
			continue; /* nothing to read there */
		tp = rd_kafka_topic_partition_list_add(
			parts, topic, md->topics[0].partitions[p].id);
		tp->offset = low;
		/* The end offset travels in the opaque. */
		tp->opaque = (void *)(intptr_t)high;
	}
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	return parts;
}

int ctl_replay(int argc, char **argv)
{
	struct replay r = { 0 };
	rd_kafka_topic_partition_list_t *parts = NULL;
	const char *topic;
	char errstr[512], group[64];
	struct cfg cfg;
	int rc = CTL_FAILED, left;

	if (ctl_wants_help(argc, argv)) {
		puts("usage: otpflowctl replay [--since T] [--until T] "
		     "[--reason R] [--phone P]\n"
		     "                         [--limit N] [--dry-run] "
		     "[--rate N]\n\n"
		     "Reads the dead-letter topic (up to its end at start) and, "
		     "for each record\nthat matches: a code sent since is left "
		     "alone; a code still valid for at\nleast "
		     "OTPFLOW_REPLAY_MIN_VALIDITY is published again to "
		     "sms-otp; an older\none becomes a REISSUE request on "
		     "signup-requests, so the worker issues a\nfresh code "
		     "(a stale code is never re-sent). Replaying the same "
		     "range twice\nsends nothing new. Every record published "
		     "carries x-replay-of.\n\n"
		     "  --since/--until T  last attempt after/before T: "
		     "2026-11-25T18:00:00Z, or\n"
		     "                     a duration ago such as 2h\n"
		     "  --reason R         PERMANENT, EXPIRED, RETRIES_EXHAUSTED, "
		     "CONFIG, TAMPERED\n"
		     "  --phone P          one number\n"
		     "  --limit N          at most N records\n"
		     "  --dry-run          print what would happen; publish "
		     "nothing\n"
		     "  --rate N           at most N records per second\n\n"
		     "Prints one line per record and a summary.");
		return CTL_OK;
	}
	if (parse_args(argc, argv, &r.o))
		return CTL_USAGE;
	cfg_load(&cfg, CFG_CTL);
	if (!cfg_str(&cfg, CFG_OTPFLOW_DATABASE_URL))
		cfg_error(&cfg, "OTPFLOW_DATABASE_URL is required by "
				"'otpflowctl replay'");
	if (cfg.nerrors) {
		fprintf(stderr, "otpflowctl replay: invalid configuration:\n%s",
			cfg.errors);
		cfg_free(&cfg);
		return CTL_USAGE;
	}
	signals_install();
	r.cfg = &cfg;
	topic = cfg_str(&cfg, CFG_OTPFLOW_TOPIC_DEAD_LETTER);
	snprintf(group, sizeof(group), "otpflowctl-replay-%d", (int)getpid());
	{
		const char *overrides[] = { "enable.auto.commit", "false",
					    NULL };
		r.ev = events_from_config(&cfg, errstr, sizeof(errstr));
		if (r.ev)
			r.pg = pg_connect(cfg_str(&cfg,
						  CFG_OTPFLOW_DATABASE_URL),
					  "otpflowctl", errstr, sizeof(errstr));
		if (r.pg)
			r.consumer = kafka_consumer_new(&cfg, group, NULL,
							overrides, NULL, NULL,
							errstr, sizeof(errstr));
		if (r.consumer && !r.o.dry_run)
			r.producer = kafka_producer_new(&cfg, on_delivery, &r,
							NULL, errstr,
							sizeof(errstr));
	}
	if (!r.consumer || (!r.o.dry_run && !r.producer) ||
	    !(parts = snapshot(r.consumer, topic, errstr, sizeof(errstr)))) {
		fprintf(stderr, "otpflowctl replay: %s\n", errstr);
		goto out;
	}
	left = parts->cnt;
	if (left)
		rd_kafka_assign(r.consumer, parts);
	while (left > 0 && !signals_stop_requested()) {
		rd_kafka_message_t *rkm =
			rd_kafka_consumer_poll(r.consumer, 500);

		if (!rkm)
			continue;
		if (!rkm->err) {
			rd_kafka_topic_partition_t *tp =
				rd_kafka_topic_partition_list_find(
					parts, topic, rkm->partition);
			int64_t end = tp ? (intptr_t)tp->opaque : 0;

			if (tp && rkm->offset < end)
				replay_one(&r, rkm);
			if (tp && rkm->offset + 1 >= end && tp->offset != -1) {
				tp->offset = -1; /* done with this partition */
				left--;
			}
			if (r.n.scanned % 100 == 0)
				fprintf(stderr,
					"replay: %lld scanned, %lld "
					"matched\n",
					r.n.scanned, r.n.matched);
		} else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			fprintf(stderr, "otpflowctl replay: %s\n",
				rd_kafka_message_errstr(rkm));
		}
		rd_kafka_message_destroy(rkm);
		if (r.producer)
			rd_kafka_poll(r.producer, 0);
	}
	if (r.producer && rd_kafka_flush(r.producer, TIMEOUT_MS))
		r.n.failed += r.pending;
	printf("replay%s: %lld dead letters scanned, %lld matched: %lld "
	       "resent, %lld reissued, %lld already sent, %lld already "
	       "reissued, %lld undecodable, %lld failed\n",
	       r.o.dry_run ? " (dry run)" : "", r.n.scanned, r.n.matched,
	       r.n.resent, r.n.reissued, r.n.already_sent, r.n.already_reissued,
	       r.n.undecodable, r.n.failed);
	rc = r.n.failed || signals_stop_requested() ? CTL_FAILED : CTL_OK;
out:
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	kafka_consumer_close(r.consumer, CLOSE_TIMEOUT_MS);
	if (r.producer)
		rd_kafka_destroy(r.producer);
	if (r.pg)
		PQfinish(r.pg);
	events_destroy(r.ev);
	cfg_free(&cfg);
	return rc;
}
