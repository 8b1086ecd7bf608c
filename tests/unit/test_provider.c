/* provider: each provider's answer becomes an outcome, a message id and an
 * error text; classification of those outcomes is test_classify's. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "provider.h"
#include "utf8.h"

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

static bool whole(const char *s, size_t size)
{
	size_t count;

	return strlen(s) < size && utf8_count(s, strlen(s), &count);
}

/*
 * Hostile answers: ids, codes and messages of multi-byte characters (2, 3
 * and 4 bytes) shifted by 0-3 bytes, so that every limit falls inside a
 * character once: what comes out is whole characters, within its size.
 */
static void multibyte_cut_at_every_limit(void)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac",
					     "\xf0\x9f\x98\x80" };
	static const long statuses[] = { 201, 400 };
	bool ok = true;

	for (size_t c = 0; c < 3; c++)
		for (size_t shift = 0; shift < 4; shift++)
			for (size_t st = 0; st < 2; st++) {
				char text[1200], body[4096];
				size_t n = 0;
				struct sms_outcome o;
				int64_t retry_ms;
				char msgid[PROVIDER_MSGID_SIZE];
				char error[PROVIDER_ERROR_SIZE];

				for (size_t k = 0; k < shift; k++)
					text[n++] = 'x';
				while (n + 4 < 1000) {
					memcpy(text + n, chars[c],
					       strlen(chars[c]));
					n += strlen(chars[c]);
				}
				text[n] = '\0';
				snprintf(body, sizeof(body),
					 "{\"sid\":\"%s\",\"code\":\"%s\","
					 "\"message\":\"%s\"}",
					 text, text, text);
				provider_parse_answer(PROVIDER_TWILIO,
						      statuses[st], body,
						      strlen(body), "", 0, &o,
						      &retry_ms, msgid, error);
				if (!whole(msgid, sizeof(msgid)) ||
				    !whole(error, sizeof(error)) ||
				    !whole(o.provider_code,
					   sizeof(o.provider_code)))
					ok = false;
				/* Cut, not dropped. */
				if (statuses[st] == 201 && strlen(msgid) < 120)
					ok = false;
				if (statuses[st] == 400 &&
				    (strlen(o.provider_code) < 28 ||
				     strlen(error) < 200))
					ok = false;
			}
	CHECK(ok);
}

int main(void)
{
	multibyte_cut_at_every_limit();
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
