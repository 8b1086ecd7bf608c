/*
 * kafka: the producer's delivery settings as the created handle holds them
 * (no broker is contacted).
 */
#include <stdlib.h>

#include "check.h"
#include "config.h"
#include "kafka.h"

/* The producer's value of a property, read back from the handle. */
static const char *producer_prop(const char *name, char *out, size_t size)
{
	/* Its "connection refused" errors (level 3) stay out of the output. */
	static const char *const quiet[] = { "log_level", "2", NULL };
	struct cfg cfg;
	char errstr[512] = "";
	rd_kafka_t *rk;

	out[0] = '\0';
	CHECK_INT(cfg_load(&cfg, CFG_INGEST), 0);
	rk = kafka_producer_new(&cfg, NULL, NULL, quiet, errstr,
				sizeof(errstr));
	CHECK_STR(errstr, "");
	if (rk) {
		CHECK(rd_kafka_conf_get(rd_kafka_conf(rk), name, out, &size) ==
		      RD_KAFKA_CONF_OK);
		rd_kafka_destroy(rk);
	}
	cfg_free(&cfg);
	return out;
}

static void test_producer_settings(void)
{
	char v[64];

	/* Port 9 (discard): nothing listens; the handle is never used. */
	setenv("OTPFLOW_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9", 1);
	unsetenv("OTPFLOW_KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION");
	unsetenv("OTPFLOW_KAFKA_MAX_IN_FLIGHT");
	unsetenv("OTPFLOW_KAFKA_ENABLE_IDEMPOTENCE");
	unsetenv("OTPFLOW_KAFKA_ACKS");
	CHECK_STR(producer_prop("enable.idempotence", v, sizeof(v)), "true");
	CHECK_STR(producer_prop("acks", v, sizeof(v)), "-1");
	/* One request in flight by default (docs/design.md) ... */
	CHECK_STR(producer_prop("max.in.flight.requests.per.connection", v,
				sizeof(v)),
		  "1");
	/* ... unless the operator passes another value through. */
	setenv("OTPFLOW_KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION", "5", 1);
	CHECK_STR(producer_prop("max.in.flight.requests.per.connection", v,
				sizeof(v)),
		  "5");
	unsetenv("OTPFLOW_KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION");
	setenv("OTPFLOW_KAFKA_MAX_IN_FLIGHT", "3", 1);
	CHECK_STR(producer_prop("max.in.flight.requests.per.connection", v,
				sizeof(v)),
		  "3");
	unsetenv("OTPFLOW_KAFKA_MAX_IN_FLIGHT");
	/* Durability is not negotiable: applied over the pass-through. */
	setenv("OTPFLOW_KAFKA_ACKS", "1", 1);
	setenv("OTPFLOW_KAFKA_ENABLE_IDEMPOTENCE", "false", 1);
	CHECK_STR(producer_prop("acks", v, sizeof(v)), "-1");
	CHECK_STR(producer_prop("enable.idempotence", v, sizeof(v)), "true");
	unsetenv("OTPFLOW_KAFKA_ACKS");
	unsetenv("OTPFLOW_KAFKA_ENABLE_IDEMPOTENCE");
}

int main(void)
{
	test_producer_settings();
	return check_done("kafka");
}
