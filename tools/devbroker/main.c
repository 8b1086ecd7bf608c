/*
 * otpflow-devbroker: the zero-dependency local broker. Runs librdkafka's
 * in-memory mock cluster, creates otpflow's topics, prints its bootstrap
 * address on stdout and serves until SIGTERM/SIGINT.
 *
 * It speaks the real protocol but keeps data in memory and its
 * transactions are incomplete: for demos and fast component tests only,
 * never as evidence of a delivery guarantee (use scripts/kafka.sh).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "signals.h"
#include "version.h"

static const char usage[] =
	"usage: otpflow-devbroker [--partitions N]\n"
	"\n"
	"Starts an in-memory Kafka mock cluster (librdkafka), creates the\n"
	"otpflow topics (names from OTPFLOW_TOPIC_*), prints the bootstrap\n"
	"address as the only line on stdout and runs until SIGTERM/SIGINT.\n"
	"Data is lost on exit. Not for production, not for delivery tests.\n";

int main(int argc, char **argv)
{
	static const enum cfg_id topics[] = {
		CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS,
		CFG_OTPFLOW_TOPIC_SMS_OTP,
		CFG_OTPFLOW_TOPIC_SMS_OTP_RETRY,
		CFG_OTPFLOW_TOPIC_SMS_SENT,
		CFG_OTPFLOW_TOPIC_DEAD_LETTER,
		CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER
	};
	long long partitions = 6;
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	struct cfg cfg;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("otpflow-devbroker %s\n", otpflow_version());
			return 0;
		} else if (strcmp(argv[i], "--partitions") == 0 &&
			   i + 1 < argc) {
			if (!cfg_parse_int(argv[++i], 1, 1000, &partitions))
				partitions = 0; /* reported below */
		} else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (partitions < 1 || partitions > 1000) {
		fprintf(stderr,
			"otpflow-devbroker: --partitions must be 1..1000\n");
		return 2;
	}
	log_init("devbroker", LOG_WARN);
	if (cfg_load(&cfg, CFG_DEVBROKER)) {
		fprintf(stderr, "otpflow-devbroker: configuration:\n%s",
			cfg.errors);
		cfg_free(&cfg);
		return 2;
	}
	signals_install();

	conf = rd_kafka_conf_new();
	/* The handle only hosts the mock cluster; it connects nowhere. */
	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "otpflow-devbroker: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc) {
		fprintf(stderr,
			"otpflow-devbroker: cannot start mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	for (size_t i = 0; i < sizeof(topics) / sizeof(*topics); i++)
		rd_kafka_mock_topic_create(mc, cfg_str(&cfg, topics[i]),
					   (int)partitions, 1);
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	while (!signals_stop_requested())
		pause();

	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	cfg_free(&cfg);
	return 0;
}
