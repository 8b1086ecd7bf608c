/* otpflow-sender: wiring only (configuration, clients, loop, drain). */
#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static const char usage[] =
	"Consumes OtpIssued events and sends the SMS, with retries and dead letters.\n";

int main(int argc, char **argv)
{
	struct cfg cfg;
	int rc = daemon_start(&cfg, "sender", CFG_SENDER, usage, argc, argv);

	if (rc >= 0)
		return rc;
	LOG(LOG_WARN, "not implemented yet; exiting");
	cfg_free(&cfg);
	return 0;
}
