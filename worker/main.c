/*
 * otpflow-worker: wiring only. The daemon kit runs the life cycle; the
 * worker loop (worker.c) is the state. On SIGTERM the loop finishes its
 * batch and stores offsets; the consumer then closes, committing them.
 */
#include "daemon.h"
#include "worker.h"

static const char usage[] =
	"Consumes OTPFLOW_TOPIC_SIGNUP_REQUESTS (group otpflow-worker), "
	"creates users and OTP\nhashes in Postgres exactly as Nhost Auth does "
	"(one transaction per batch) and\npublishes OtpIssued events to "
	"OTPFLOW_TOPIC_SMS_OTP through a transactional\noutbox. Applies the "
	"database migrations at start. SIGTERM/SIGINT: finish the\nbatch, "
	"commit offsets, exit 0; a second signal exits now.\n"
	"GET /healthz, /readyz and /metrics on OTPFLOW_ADMIN_LISTEN "
	"(default 127.0.0.1:9101).\n";

static const struct daemon_spec spec = {
	.name = "worker",
	.user = CFG_WORKER,
	.usage = usage,
	.admin_default = "127.0.0.1:9101",
	.create = worker_new,
	.run = worker_run,
	.ready = worker_ready,
	.destroy = worker_free,
};

int main(int argc, char **argv)
{
	return daemon_main(&spec, argc, argv);
}
