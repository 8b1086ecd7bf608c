/*
 * otpflow-sender: wiring only. The daemon kit runs the life cycle; the
 * sending engine (sender.h) is the state. SIGTERM/SIGINT drains: stop
 * consuming, finish requests in flight, deliver their outcomes, store
 * offsets; the consumer then closes, committing them.
 */
#include "daemon.h"
#include "sender.h"

static const char usage[] =
	"Consumes OtpIssued events (OTPFLOW_TOPIC_SMS_OTP and "
	"OTPFLOW_TOPIC_SMS_OTP_RETRY),\nopens the sealed code, renders "
	"templates/<locale>/sms-otp.txt and sends the SMS\nthrough "
	"OTPFLOW_SMS_PROVIDER. Outcomes go to OTPFLOW_TOPIC_SMS_SENT, the "
	"retry\ntopic, or the dead-letter topic OTPFLOW_TOPIC_DEAD_LETTER. "
	"Serves GET /healthz,\n/readyz and /metrics on OTPFLOW_ADMIN_LISTEN "
	"(default 127.0.0.1:9102).\nSIGTERM/SIGINT: drain and exit 0; a "
	"second signal exits now.\n";

static const struct daemon_spec spec = {
	.name = "sender",
	.user = CFG_SENDER,
	.usage = usage,
	.admin_default = "127.0.0.1:9102",
	.create = sender_new,
	.run = sender_run,
	.ready = sender_ready,
	.destroy = sender_free,
};

int main(int argc, char **argv)
{
	return daemon_main(&spec, argc, argv);
}
