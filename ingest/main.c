/* otpflow-ingest: wiring only (configuration, clients, loop, drain). */
#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static const char usage[] =
	"Accepts POST {AUTH_API_PREFIX}/signup/passwordless/sms and publishes\neach valid request durably to Kafka.\n";

int main(int argc, char **argv)
{
	struct cfg cfg;
	int rc = daemon_start(&cfg, "ingest", CFG_INGEST, usage, argc, argv);

	if (rc >= 0)
		return rc;
	LOG(LOG_WARN, "not implemented yet; exiting");
	cfg_free(&cfg);
	return 0;
}
