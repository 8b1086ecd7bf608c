/*
 * otpflow-ingest: wiring only. Configuration, events, the HTTP server
 * (which owns the Kafka producer); then wait for a signal and drain in
 * order: stop accepting, answer in-flight requests, flush Kafka, exit.
 */
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "signals.h"

#define DRAIN_TIMEOUT_MS 10000

static const char usage[] =
	"Accepts POST {AUTH_API_PREFIX}/signup/passwordless/sms on "
	"OTPFLOW_LISTEN, validates\nit as Nhost Auth does and answers 200 "
	"\"OK\" once the request is durably in Kafka\n(topic "
	"OTPFLOW_TOPIC_SIGNUP_REQUESTS). Also serves GET /healthz, /readyz,\n"
	"/metrics and /version. SIGTERM/SIGINT: drain and exit 0; a second "
	"signal exits now.\n";

int main(int argc, char **argv)
{
	struct ingest_http *http = NULL;
	struct events *ev = NULL;
	char errstr[512];
	struct cfg cfg;
	int rc = daemon_start(&cfg, "ingest", CFG_INGEST, usage, argc, argv);

	if (rc >= 0)
		return rc;
	rc = 1;
	ev = events_from_config(&cfg, errstr, sizeof(errstr));
	if (!ev) {
		LOG(LOG_ERROR, "cannot load event schemas", "error", errstr);
		goto out;
	}
	http = ingest_http_start(&cfg, ev, errstr, sizeof(errstr));
	if (!http) {
		LOG(LOG_ERROR, "cannot start", "error", errstr);
		goto out;
	}
	LOG(LOG_INFO, "listening", "address",
	    cfg_str(&cfg, CFG_OTPFLOW_LISTEN));
	while (!signals_stop_requested() && !ingest_http_fatal(http))
		usleep(100 * 1000);
	rc = ingest_http_fatal(http) ? 1 : 0;
	LOG(LOG_INFO, "draining");
	if (ingest_http_drain(http, DRAIN_TIMEOUT_MS) > 0)
		LOG(LOG_WARN,
		    "requests still in flight after the drain timeout");
	ingest_http_stop(http, DRAIN_TIMEOUT_MS);
	LOG(LOG_INFO, "stopped");
out:
	events_destroy(ev);
	cfg_free(&cfg);
	return rc;
}
