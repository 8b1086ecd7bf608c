/*
 * otpflow-ingest: wiring only. The daemon kit runs the life cycle; the HTTP
 * server (which owns the Kafka producer) is the state. Drain order: stop
 * accepting, answer in-flight requests, flush Kafka, exit.
 */
#include "clock.h"
#include "daemon.h"
#include "server.h"
#include "log.h"

#define DRAIN_TIMEOUT_MS 10000

static const char usage[] =
	"Accepts POST {AUTH_API_PREFIX}/signup/passwordless/sms and\n"
	"POST {AUTH_API_PREFIX}/signin/passwordless/sms on OTPFLOW_LISTEN, "
	"validates them as\nNhost Auth does (CORS included) and answers 200 "
	"\"OK\" once the request is durably\nin Kafka (topic "
	"OTPFLOW_TOPIC_SIGNUP_REQUESTS). Also serves GET /healthz,\n/readyz, "
	"/metrics and /version, with and without the prefix. SIGTERM/SIGINT:\n"
	"drain and exit 0; a second signal exits now.\n";

/* Serves until a signal or a fatal producer, then drains. */
static int run(void *state)
{
	struct ingest_http *h = state;

	while (!daemon_stopping()) {
		if (ingest_server_fatal(h))
			daemon_fatal("kafka producer", "fatal error");
		clock_sleep_ms(100);
	}
	LOG(LOG_INFO, "draining");
	if (ingest_server_drain(h, DRAIN_TIMEOUT_MS) > 0)
		LOG(LOG_WARN,
		    "requests still in flight after the drain timeout");
	return DAEMON_EXIT_OK;
}

static void destroy(void *state)
{
	ingest_server_stop(state, DRAIN_TIMEOUT_MS);
}

static const struct daemon_spec spec = {
	.name = "ingest",
	.user = CFG_INGEST,
	.usage = usage,
	.admin_default = NULL, /* the API server serves its own probes */
	.create = ingest_server_start,
	.run = run,
	.destroy = destroy,
};

int main(int argc, char **argv)
{
	return daemon_main(&spec, argc, argv);
}
