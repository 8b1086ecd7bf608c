/* otpflow-worker: wiring only (configuration, clients, loop, drain). */
#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static const char usage[] =
	"Consumes signup-requests, creates users and OTP hashes in Postgres\nand publishes OtpIssued events.\n";

int main(int argc, char **argv)
{
	struct cfg cfg;
	int rc = daemon_start(&cfg, "worker", CFG_WORKER, usage, argc, argv);

	if (rc >= 0)
		return rc;
	LOG(LOG_WARN, "not implemented yet; exiting");
	cfg_free(&cfg);
	return 0;
}
