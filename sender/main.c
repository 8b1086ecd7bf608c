/*
 * otpflow-sender: wiring only. Configuration, event schemas, the sending
 * engine (send.c) and the admin endpoints; then run until SIGTERM/SIGINT,
 * which drains: stop consuming, finish requests in flight, deliver their
 * outcomes, store offsets, close.
 */
#include <stdio.h>

#include "admin.h"
#include "config.h"
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "send.h"

#define ADMIN_DEFAULT "127.0.0.1:9102"

static const char usage[] =
	"Consumes OtpIssued events (OTPFLOW_TOPIC_SMS_OTP and "
	"OTPFLOW_TOPIC_SMS_OTP_RETRY),\nopens the sealed code, renders "
	"templates/<locale>/sms-otp.txt and sends the SMS\nthrough "
	"OTPFLOW_SMS_PROVIDER. Outcomes go to OTPFLOW_TOPIC_SMS_SENT, the "
	"retry\ntopic, or the dead-letter topic OTPFLOW_TOPIC_DEAD_LETTER. "
	"Serves GET /healthz,\n/readyz and /metrics on OTPFLOW_ADMIN_LISTEN "
	"(default " ADMIN_DEFAULT ").\nSIGTERM/SIGINT: drain and exit 0; a "
	"second signal exits now.\n";

int main(int argc, char **argv)
{
	struct sender *s = NULL;
	struct events *ev = NULL;
	struct admin *admin = NULL;
	const char *addr;
	char errstr[1024];
	struct cfg cfg;
	int rc = daemon_start(&cfg, "sender", CFG_SENDER, usage, argc, argv);

	if (rc >= 0)
		return rc;
	rc = 1;
	ev = events_from_config(&cfg, errstr, sizeof(errstr));
	if (!ev) {
		LOG(LOG_ERROR, "cannot load event schemas", "error", errstr);
		goto out;
	}
	s = sender_new(&cfg, ev, errstr, sizeof(errstr));
	if (!s) {
		LOG(LOG_ERROR, "cannot start", "error", errstr);
		rc = 2; /* a startup (configuration) error */
		goto out;
	}
	addr = cfg_str(&cfg, CFG_OTPFLOW_ADMIN_LISTEN);
	if (!addr || !*addr)
		addr = ADMIN_DEFAULT;
	admin = admin_start(addr, sender_ready, s, errstr, sizeof(errstr));
	if (!admin) {
		LOG(LOG_ERROR, "cannot start the admin server", "error",
		    errstr);
		goto out;
	}
	LOG(LOG_INFO, "admin listening", "address", addr);
	rc = sender_run(s);
out:
	admin_stop(admin);
	sender_free(s);
	events_destroy(ev);
	cfg_free(&cfg);
	return rc;
}
