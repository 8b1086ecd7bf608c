/*
 * libFuzzer target: the request parser/validator of ingest (rows 5-13 of
 * docs/api.md §1.2) with a policy that enables every check, and, when a body is
 * accepted, its Avro encoding and decoding.
 */
#include <stdint.h>
#include <stdlib.h>

#include "events.h"
#include "signup.h"

static struct signup_policy policy;
static struct events *ev;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const topics[EVENTS__COUNT] = { "a", "b", "c", "d" };
	struct cfg cfg;
	char err[256];

	setenv("AUTH_CLIENT_URL", "https://my-app.com", 1);
	setenv("AUTH_SMS_PASSWORDLESS_ENABLED", "true", 1);
	setenv("AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS",
	       "https://*.my-app.com/**,myapp://cb", 1);
	setenv("AUTH_LOCALE_ALLOWED_LOCALES", "en,fr,es", 1);
	setenv("AUTH_USER_DEFAULT_ALLOWED_ROLES", "me,user,editor", 1);
	setenv("OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES", "+1,+33,+44", 1);
	cfg_load(&cfg, CFG_INGEST);
	if (signup_policy_init(&policy, &cfg, err, sizeof(err)))
		abort();
	cfg_free(&cfg);
	ev = events_new(NULL, topics, 1000, err, sizeof(err));
	if (!ev)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signup_error error;
	json_t *rec = NULL, *back = NULL;
	void *buf = NULL;
	size_t len = 0;
	char err[256];

	if (signup_validate(&policy, (const char *)data, size, &rec, &error))
		return 0;
	json_object_set_new(
		rec, "request_id",
		json_string("1b4e28ba-2fa1-41d2-883f-0016d3cca427"));
	json_object_set_new(rec, "received_at", json_integer(1));
	json_object_set_new(rec, "client_ip", json_null());
	/* An accepted body must always encode, and decode to the same. */
	if (events_encode(ev, EVENTS_SIGNUP_REQUESTED, rec, &buf, &len, err,
			  sizeof(err)) ||
	    events_decode(ev, EVENTS_SIGNUP_REQUESTED, buf, len, &back, err,
			  sizeof(err)) ||
	    !json_equal(rec, back))
		abort();
	free(buf);
	json_decref(rec);
	json_decref(back);
	return 0;
}
