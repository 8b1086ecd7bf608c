/* provider: each provider's answer becomes an outcome, a message id and an
 * error text; classification of those outcomes is test_classify's. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "provider.h"

struct answer {
	enum provider_kind kind;
	long status;
	const char *body, *retry_after;
	const char *msgid, *code, *error;
	long long retry_ms;
};

static const struct answer answers[] = {
	{ PROVIDER_TWILIO, 201, "{\"sid\":\"SM1\",\"status\":\"queued\"}", "",
	  "SM1", "", "", 0 },
	{ PROVIDER_TWILIO, 400,
	  "{\"code\":21211,\"message\":\"The 'To' number is not valid\"}", "",
	  "", "21211", "HTTP 400 code 21211: The 'To' number is not valid", 0 },
	{ PROVIDER_TWILIO, 429, "{\"code\":20429,\"message\":\"Too Many\"}",
	  "2", "", "20429", "HTTP 429 code 20429: Too Many", 2000 },
	{ PROVIDER_TWILIO, 503, "<html>busy</html>", "", "", "", "HTTP 503",
	  0 },
	{ PROVIDER_MODICA, 202, "[{\"id\":4711}]", "", "4711", "", "", 0 },
	{ PROVIDER_MODICA, 401, "{\"error\":\"bad credentials\"}", "", "", "",
	  "HTTP 401: bad credentials", 0 },
	{ PROVIDER_WEBHOOK, 200, "{\"message_id\":\"m-9\"}", "", "m-9", "", "",
	  0 },
	{ PROVIDER_WEBHOOK, 200, "", "", "", "", "", 0 },
	/* A 2xx keeps no error text or code, an error no message id. */
	{ PROVIDER_WEBHOOK, 200, "{\"id\":\"x\",\"code\":\"7\"}", "", "x", "",
	  "", 0 },
	{ PROVIDER_WEBHOOK, 500, "{\"id\":\"x\",\"error\":\"down\"}", "", "",
	  "", "HTTP 500: down", 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		const struct answer *a = &answers[i];
		struct sms_outcome o;
		int64_t retry_ms = -1;
		char msgid[PROVIDER_MSGID_SIZE], error[PROVIDER_ERROR_SIZE];

		provider_parse_answer(a->kind, a->status, a->body,
				      strlen(a->body), a->retry_after, 0, &o,
				      &retry_ms, msgid, error);
		CHECK_INT(o.transport, SMS_TRANSPORT_NONE);
		CHECK_INT(o.http_status, a->status);
		CHECK_STR(o.provider_code, a->code);
		CHECK_STR(msgid, a->msgid);
		CHECK_STR(error, a->error);
		CHECK_INT(retry_ms, a->retry_ms);
	}
	return check_done("provider");
}
