/*
 * otpflow-worker: wiring only. Configuration, events, the worker loop;
 * on SIGTERM the loop finishes its batch, stores offsets and the consumer
 * closes (committing them).
 */
#include <stdio.h>

#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "worker.h"

#define DEFAULT_ADMIN_LISTEN "127.0.0.1:9101"

static const char usage[] =
	"Consumes OTPFLOW_TOPIC_SIGNUP_REQUESTS (group otpflow-worker), "
	"creates users and OTP\nhashes in Postgres exactly as Nhost Auth does "
	"(one transaction per batch) and\npublishes OtpIssued events to "
	"OTPFLOW_TOPIC_SMS_OTP through a transactional\noutbox. Applies the "
	"database migrations at start. SIGTERM/SIGINT: finish the\nbatch, "
	"commit offsets, exit 0; a second signal exits now.\n"
	"GET /healthz, /readyz and /metrics on OTPFLOW_ADMIN_LISTEN "
	"(default " DEFAULT_ADMIN_LISTEN ").\n";

int main(int argc, char **argv)
{
	struct events *ev = NULL;
	struct worker *w = NULL;
	struct admin *admin = NULL;
	const char *listen;
	char errstr[512];
	struct cfg cfg;
	int rc = daemon_start(&cfg, "worker", CFG_WORKER, usage, argc, argv);

	if (rc >= 0)
		return rc;
	rc = 1;
	ev = events_from_config(&cfg, errstr, sizeof(errstr));
	if (!ev) {
		LOG(LOG_ERROR, "cannot load event schemas", "error", errstr);
		goto out;
	}
	w = worker_new(&cfg, ev, errstr, sizeof(errstr));
	if (!w) {
		LOG(LOG_ERROR, "cannot start", "error", errstr);
		goto out;
	}
	listen = cfg_str(&cfg, CFG_OTPFLOW_ADMIN_LISTEN);
	listen = listen && *listen ? listen : DEFAULT_ADMIN_LISTEN;
	admin = admin_start(listen, worker_ready, w, errstr, sizeof(errstr));
	if (!admin) {
		LOG(LOG_ERROR, "cannot start the admin server", "address",
		    listen, "error", errstr);
		goto out;
	}
	LOG(LOG_INFO, "consuming", "topic",
	    cfg_str(&cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS));
	rc = worker_run(w);
	LOG(LOG_INFO, "stopping");
out:
	admin_stop(admin);
	worker_free(w);
	events_destroy(ev);
	cfg_free(&cfg);
	return rc;
}
