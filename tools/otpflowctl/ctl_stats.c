/*
 * otpflowctl stats: where every accepted request is. Kafka side: records
 * per topic (end - start offsets) and the committed lag of the worker and
 * sender groups. Postgres side: users, request outcomes, pending outbox
 * rows, issued / sent / dead-lettered codes, and the signup dead letters
 * by reason (read from their topic). Then the reconciliation of
 * docs/api.md §5:
 *
 *   accepted = created + existing + dropped + reissued + sign-in outcomes
 *              + undecodable dead letters                (+ worker lag)
 *   issued   = sent + dead-lettered                      (+ in flight)
 *
 * (a request dead-lettered as UNSTORABLE is recorded 'dropped').
 *
 * "balanced" when nothing is in flight; otherwise what is outstanding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "events.h"
#include "kafka.h"
#include "pg.h"

#define TIMEOUT_MS 15000

struct topic_stat {
	enum cfg_id var;
	const char *group; /* consumer group reading it, or NULL */
	long long records;
	long long lag;
	char detail[8192]; /* one line per partition */
};

/* Records and committed lag of one topic. -1 on failure. */
static int topic_stats(rd_kafka_t *rk, const struct cfg *cfg,
		       struct topic_stat *ts, char *errstr, size_t errstr_size)
{
	const char *topic = cfg_str(cfg, ts->var);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t err;
	int rc = -1;

	err = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);
	rd_kafka_topic_destroy(rkt);
	ts->records = 0;
	ts->lag = 0;
	ts->detail[0] = '\0';
	if (err || md->topics[0].err) {
		/* A topic nobody wrote yet: nothing to count. */
		if (!err && md->topics[0].err ==
				    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			rc = 0;
		else
			snprintf(errstr, errstr_size, "%s: %s", topic,
				 rd_kafka_err2str(err ? err :
							md->topics[0].err));
		if (md)
			rd_kafka_metadata_destroy(md);
		return rc;
	}
	parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int p = 0; p < md->topics[0].partition_cnt; p++)
		rd_kafka_topic_partition_list_add(
			parts, topic, md->topics[0].partitions[p].id);
	rd_kafka_metadata_destroy(md);
	if (ts->group) {
		rd_kafka_conf_t *conf =
			kafka_conf_new(cfg, NULL, errstr, errstr_size);
		rd_kafka_t *group = NULL;

		if (conf &&
		    rd_kafka_conf_set(conf, "group.id", ts->group, errstr,
				      errstr_size) == RD_KAFKA_CONF_OK)
			group = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
					     errstr_size);
		else if (conf)
			rd_kafka_conf_destroy(conf);
		if (!group || rd_kafka_committed(group, parts, TIMEOUT_MS) !=
				      RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (group)
				rd_kafka_destroy(group);
			snprintf(errstr, errstr_size,
				 "committed offsets of %s unavailable",
				 ts->group);
			goto out;
		}
		rd_kafka_destroy(group);
	}
	for (int i = 0; i < parts->cnt; i++) {
		int64_t low, high;

		/* A partition changing leader answers for a moment with a
		 * transient error: ask again (bounded). */
		for (int attempt = 0; attempt < 20; attempt++) {
			err = rd_kafka_query_watermark_offsets(
				rk, topic, parts->elems[i].partition, &low,
				&high, TIMEOUT_MS);
			if (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
			    err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
				break;
			rd_kafka_poll(rk, 250);
		}
		if (err) {
			snprintf(errstr, errstr_size, "%s: %s", topic,
				 rd_kafka_err2str(err));
			goto out;
		}
		{
			int64_t committed = parts->elems[i].offset;
			int64_t from = committed > low ? committed : low;

			ts->records += high - low;
			if (ts->group)
				ts->lag += high - from;
			snprintf(ts->detail + strlen(ts->detail),
				 sizeof(ts->detail) - strlen(ts->detail),
				 "  %-26s p%-3d offsets %lld..%lld", "",
				 (int)parts->elems[i].partition, (long long)low,
				 (long long)high);
			if (ts->group && committed >= 0)
				snprintf(ts->detail + strlen(ts->detail),
					 sizeof(ts->detail) -
						 strlen(ts->detail),
					 " committed %lld lag %lld\n",
					 (long long)committed,
					 (long long)(high - from));
			else
				snprintf(ts->detail + strlen(ts->detail),
					 sizeof(ts->detail) -
						 strlen(ts->detail),
					 "%s\n",
					 ts->group ? " nothing committed" : "");
		}
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(parts);
	return rc;
}

/* One integer from a query; -1 on failure (message in errstr). */
static long long count(PGconn *conn, const char *sql, char *errstr,
		       size_t errstr_size)
{
	PGresult *res = NULL;
	long long n = -1;

	if (pg_exec_params(conn, sql, 0, NULL, &res, NULL, errstr,
			   errstr_size) == PG_OK &&
	    PQntuples(res) == 1)
		n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* Signup dead letters by reason: [0] UNSTORABLE, [1] UNDECODABLE. */
struct dead_counts {
	struct events *ev;
	long long reason[2], other;
};

static void count_dead_letter(void *arg, const rd_kafka_message_t *rkm)
{
	struct dead_counts *c = arg;
	json_t *dl = NULL;
	const char *reason;
	char errstr[256];

	if (!rkm)
		return;
	if (events_decode(c->ev, EVENTS_SIGNUP_DEAD_LETTER, rkm->payload,
			  rkm->len, &dl, errstr, sizeof(errstr)) == 0 &&
	    (reason = json_string_value(json_object_get(dl, "reason"))))
		c->reason[strcmp(reason, "UNSTORABLE") != 0]++;
	else
		c->other++;
	json_decref(dl);
}

/* Reads the signup dead-letter topic; 0 or -1 with errstr. */
static int count_dead_letters(const struct cfg *cfg, struct dead_counts *c,
			      char *errstr, size_t errstr_size)
{
	const char *overrides[] = { "enable.auto.commit", "false", NULL };
	rd_kafka_t *rk = NULL;
	char group[64];
	int rc = -1;

	snprintf(group, sizeof(group), "otpflowctl-stats-%d", (int)getpid());
	c->ev = events_from_config(cfg, errstr, errstr_size);
	if (c->ev)
		rk = kafka_consumer_new(cfg, group, NULL, overrides, NULL, NULL,
					errstr, errstr_size);
	if (rk)
		rc = ctl_read_topic(
			rk, cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER),
			count_dead_letter, c, errstr, errstr_size);
	kafka_consumer_close(rk, CLOSE_TIMEOUT_MS);
	events_destroy(c->ev);
	c->ev = NULL;
	return rc;
}

int ctl_stats(int argc, char **argv)
{
	struct topic_stat topics[] = {
		{ .var = CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS,
		  .group = "otpflow-worker" },
		{ .var = CFG_OTPFLOW_TOPIC_SMS_OTP, .group = "otpflow-sender" },
		{ .var = CFG_OTPFLOW_TOPIC_SMS_OTP_RETRY,
		  .group = "otpflow-sender" },
		{ .var = CFG_OTPFLOW_TOPIC_SMS_SENT },
		{ .var = CFG_OTPFLOW_TOPIC_DEAD_LETTER },
		{ .var = CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER },
	};
	struct dead_counts dead_letters = { 0 };
	static const char *const outcomes[] = {
		"created",	  "existing",	    "dropped",
		"reissued",	  "signin_code",    "signin_throttled",
		"signin_refused", "signin_no_user",
	};
	long long outcome[8], users, outbox, issued, sent, dead,
		processed = 0, undecodable, unprocessed;
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	PGconn *conn = NULL;
	struct cfg cfg;
	int rc = CTL_FAILED;

	if (ctl_help(argc, argv,
		     "usage: otpflowctl stats\n\n"
		     "Records per topic and the lag of the otpflow-worker and "
		     "otpflow-sender\ngroups; users, request outcomes, pending "
		     "outbox rows, issued, sent and\ndead-lettered codes; then "
		     "the signup dead letters by reason; then the "
		     "reconciliation\n"
		     "  accepted = created + existing + dropped + reissued\n"
		     "             + sign-in outcomes + undecodable signup "
		     "dead letters\n"
		     "  issued   = sent + dead-lettered\n"
		     "ending with \"balanced\" or \"not balanced: ...\" (records "
		     "still in flight).\nCounts of topics assume nothing was "
		     "deleted by retention yet."))
		return CTL_OK;
	if (ctl_no_args("stats", argc, argv) ||
	    ctl_config_load(&cfg, "stats", true))
		return CTL_USAGE;
	/* A consumer handle: its metadata requests never auto-create topics. */
	conf = kafka_conf_new(&cfg, NULL, errstr, sizeof(errstr));
	if (conf && !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
					sizeof(errstr))))
		rd_kafka_conf_destroy(conf);
	conn = rk ? pg_connect(cfg_str(&cfg, CFG_OTPFLOW_DATABASE_URL),
			       "otpflowctl", errstr, sizeof(errstr)) :
		    NULL;
	if (!conn)
		goto fail;

	puts("topic                        records   group lag");
	for (size_t i = 0; i < sizeof(topics) / sizeof(*topics); i++) {
		if (topic_stats(rk, &cfg, &topics[i], errstr, sizeof(errstr)))
			goto fail;
		printf("%-28s %7lld   ", cfg_str(&cfg, topics[i].var),
		       topics[i].records);
		if (topics[i].group)
			printf("%s %lld\n", topics[i].group, topics[i].lag);
		else
			puts("-");
		fputs(topics[i].detail, stdout);
	}
	for (int i = 0; i < 8; i++) {
		char sql[160];
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM otpflow.processed_requests "
			 "WHERE outcome = '%s'",
			 outcomes[i]);
		if ((outcome[i] = count(conn, sql, errstr, sizeof(errstr))) < 0)
			goto fail;
		processed += outcome[i];
	}
	users = count(conn, "SELECT count(*) FROM auth.users", errstr,
		      sizeof(errstr));
	outbox = count(conn, "SELECT count(*) FROM otpflow.outbox", errstr,
		       sizeof(errstr));
	issued = count(conn, "SELECT count(*) FROM otpflow.otp_issuance",
		       errstr, sizeof(errstr));
	sent = count(conn,
		     "SELECT count(*) FROM otpflow.sms_deliveries "
		     "WHERE status = 'sent'",
		     errstr, sizeof(errstr));
	dead = count(conn,
		     "SELECT count(*) FROM otpflow.sms_deliveries "
		     "WHERE status = 'dead_lettered'",
		     errstr, sizeof(errstr));
	if (users < 0 || outbox < 0 || issued < 0 || sent < 0 || dead < 0)
		goto fail;

	printf("\nusers %lld | requests: created %lld, existing %lld, "
	       "dropped %lld, reissued %lld | outbox pending %lld\n",
	       users, outcome[0], outcome[1], outcome[2], outcome[3], outbox);
	printf("sign-ins: new code %lld, throttled %lld, refused %lld, "
	       "unknown number %lld\n",
	       outcome[4], outcome[5], outcome[6], outcome[7]);
	printf("codes issued %lld = sent %lld + dead-lettered %lld + in "
	       "flight %lld\n",
	       issued, sent, dead, issued - sent - dead);
	if (topics[5].records > 0 &&
	    count_dead_letters(&cfg, &dead_letters, errstr, sizeof(errstr)))
		goto fail;
	undecodable = dead_letters.reason[1];
	if (topics[5].records > 0)
		printf("signup dead letters: %lld unstorable (recorded as "
		       "dropped), %lld undecodable, %lld unreadable\n",
		       dead_letters.reason[0], undecodable, dead_letters.other);
	unprocessed = topics[0].records - processed - undecodable;
	if (undecodable)
		printf("accepted %lld = processed %lld + undecodable %lld + "
		       "not yet processed %lld\n",
		       topics[0].records, processed, undecodable, unprocessed);
	else
		printf("accepted %lld = processed %lld + not yet processed "
		       "%lld\n",
		       topics[0].records, processed, unprocessed);
	if (unprocessed == 0 && outbox == 0 && issued == sent + dead &&
	    topics[0].lag == 0)
		puts("balanced");
	else
		printf("not balanced: %lld requests unprocessed, %lld outbox "
		       "rows, %lld codes in flight, worker lag %lld\n",
		       unprocessed, outbox, issued - sent - dead,
		       topics[0].lag);
	rc = CTL_OK;
	goto out;
fail:
	fprintf(stderr, "otpflowctl stats: %s\n", errstr);
out:
	if (conn)
		PQfinish(conn);
	if (rk)
		rd_kafka_destroy(rk);
	cfg_free(&cfg);
	return rc;
}
