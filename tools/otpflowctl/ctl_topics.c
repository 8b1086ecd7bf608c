/*
 * otpflowctl topics: creates otpflow's topics that do not exist yet (with
 * the given partition count, replication factor and retention) through the
 * Kafka Admin API, then lists all six with their partition counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "kafka.h"

#define NTOPICS 6
#define ADMIN_TIMEOUT_MS 30000

static const enum cfg_id topic_vars[NTOPICS] = {
	CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS, CFG_OTPFLOW_TOPIC_SMS_OTP,
	CFG_OTPFLOW_TOPIC_SMS_OTP_RETRY,   CFG_OTPFLOW_TOPIC_SMS_SENT,
	CFG_OTPFLOW_TOPIC_DEAD_LETTER,	   CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER
};

/* Partition count of a topic in md, or -1 if absent. */
static int partitions_of(const struct rd_kafka_metadata *md, const char *topic)
{
	/* A topic created a moment ago may still be electing its leaders:
	 * it exists all the same. */
	for (int i = 0; i < md->topic_cnt; i++)
		if (strcmp(md->topics[i].topic, topic) == 0 &&
		    md->topics[i].partition_cnt > 0 &&
		    (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR ||
		     md->topics[i].err ==
			     RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE))
			return md->topics[i].partition_cnt;
	return -1;
}

static int create_missing(rd_kafka_t *rk, const struct cfg *cfg,
			  const struct rd_kafka_metadata *md, int partitions,
			  int replication, const char *retention_ms)
{
	rd_kafka_NewTopic_t *new[NTOPICS];
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opts =
		rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_event_t *ev = NULL;
	char errstr[512];
	int n = 0, rc = -1;

	rd_kafka_AdminOptions_set_operation_timeout(opts, ADMIN_TIMEOUT_MS,
						    errstr, sizeof(errstr));
	for (int i = 0; i < NTOPICS; i++) {
		const char *name = cfg_str(cfg, topic_vars[i]);
		if (partitions_of(md, name) >= 0)
			continue;
		new[n] = rd_kafka_NewTopic_new(name, partitions, replication,
					       errstr, sizeof(errstr));
		if (!new[n]) {
			fprintf(stderr, "otpflowctl topics: %s: %s\n", name,
				errstr);
			goto out;
		}
		if (retention_ms)
			rd_kafka_NewTopic_set_config(new[n], "retention.ms",
						     retention_ms);
		n++;
	}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	rd_kafka_CreateTopics(rk, new, (size_t)n, opts, q);
	ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
	if (!ev || rd_kafka_event_error(ev)) {
		fprintf(stderr, "otpflowctl topics: create failed: %s\n",
			ev ? rd_kafka_event_error_string(ev) : "timed out");
		goto out;
	}
	{
		const rd_kafka_CreateTopics_result_t *res =
			rd_kafka_event_CreateTopics_result(ev);
		size_t cnt;
		const rd_kafka_topic_result_t **tr =
			rd_kafka_CreateTopics_result_topics(res, &cnt);

		rc = 0;
		for (size_t i = 0; i < cnt; i++) {
			rd_kafka_resp_err_t err =
				rd_kafka_topic_result_error(tr[i]);
			if (err &&
			    err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
				fprintf(stderr, "otpflowctl topics: %s: %s\n",
					rd_kafka_topic_result_name(tr[i]),
					rd_kafka_topic_result_error_string(
						tr[i]));
				rc = -1;
			} else {
				printf("created %s\n",
				       rd_kafka_topic_result_name(tr[i]));
			}
		}
	}
out:
	for (int i = 0; i < n; i++)
		rd_kafka_NewTopic_destroy(new[i]);
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return rc;
}

int ctl_topics(int argc, char **argv)
{
	long long partitions = 6, replication = -1;
	const char *retention_ms = NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_t *rk = NULL;
	rd_kafka_resp_err_t err;
	char errstr[512];
	struct cfg cfg;
	int rc = CTL_FAILED;

	if (ctl_help(argc, argv,
		     "usage: otpflowctl topics [--partitions N] [--replication "
		     "N] [--retention-ms MS]\n\n"
		     "Creates the otpflow topics (names from OTPFLOW_TOPIC_*) "
		     "that do not exist\nyet, then lists all six with their "
		     "partition counts. Existing topics are\nleft as they are. "
		     "Defaults: 6 partitions, the broker's replication\n"
		     "factor and retention. Partitions bound how many workers "
		     "and senders can\nshare the load."))
		return CTL_OK;
	for (int i = 0; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--partitions") == 0 && val) {
			if (!cfg_parse_int(argv[++i], 1, 10000, &partitions))
				partitions = 0; /* reported below */
		} else if (strcmp(argv[i], "--replication") == 0 && val) {
			if (!cfg_parse_int(argv[++i], 1, 1000, &replication))
				replication = 0; /* reported below */
		} else if (strcmp(argv[i], "--retention-ms") == 0 && val)
			retention_ms = argv[++i];
		else {
			fprintf(stderr,
				"otpflowctl topics: bad argument %s "
				"(try --help)\n",
				argv[i]);
			return CTL_USAGE;
		}
	}
	if (partitions < 1 || partitions > 10000 || replication == 0 ||
	    replication < -1) {
		fprintf(stderr, "otpflowctl topics: --partitions must be "
				"1..10000 and --replication positive\n");
		return CTL_USAGE;
	}
	if (ctl_config_load(&cfg, "topics", false))
		return CTL_USAGE;
	{
		rd_kafka_conf_t *conf =
			kafka_conf_new(&cfg, NULL, errstr, sizeof(errstr));
		if (conf) {
			rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
					  sizeof(errstr));
			if (!rk)
				rd_kafka_conf_destroy(conf);
		}
	}
	if (!rk) {
		fprintf(stderr, "otpflowctl topics: %s\n", errstr);
		goto out;
	}
	err = rd_kafka_metadata(rk, 1, NULL, &md, ADMIN_TIMEOUT_MS);
	if (err) {
		fprintf(stderr, "otpflowctl topics: Kafka at %s: %s\n",
			cfg_str(&cfg, CFG_OTPFLOW_KAFKA_BOOTSTRAP_SERVERS),
			rd_kafka_err2str(err));
		goto out;
	}
	if (create_missing(rk, &cfg, md, (int)partitions, (int)replication,
			   retention_ms))
		goto out;
	rd_kafka_metadata_destroy(md);
	md = NULL;
	/* Newly created topics can take a moment to show in metadata
	 * (bounded: about 30 s). */
	for (int attempt = 0; attempt < 300; attempt++) {
		int missing = 0;

		if (md)
			rd_kafka_metadata_destroy(md);
		md = NULL;
		if (rd_kafka_metadata(rk, 1, NULL, &md, ADMIN_TIMEOUT_MS))
			break;
		for (int i = 0; i < NTOPICS; i++)
			missing += partitions_of(md,
						 cfg_str(&cfg, topic_vars[i])) <
				   0;
		if (!missing)
			break;
		rd_kafka_poll(rk, 100);
	}
	rc = CTL_OK;
	for (int i = 0; i < NTOPICS; i++) {
		const char *name = cfg_str(&cfg, topic_vars[i]);
		int p = md ? partitions_of(md, name) : -1;

		if (p < 0) {
			printf("%-24s missing\n", name);
			rc = CTL_FAILED;
		} else {
			printf("%-24s %d partitions\n", name, p);
		}
	}
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rk)
		rd_kafka_destroy(rk);
	cfg_free(&cfg);
	return rc;
}
