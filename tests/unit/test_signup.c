/*
 * ingest/signup: the request validator of docs/api.md §1.2 rows 5-13 (both routes). Each case
 * asserts what goes on the wire (error code, status, that the message names
 * the field without echoing the value) and that nothing is produced on a
 * refusal; accepted bodies are checked field by field and encoded with the
 * SignupRequested schema, so the output is what the producer can publish.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "events.h"
#include "signup.h"

/* Every variable the policy reads; each test starts from their defaults. */
static const char *const policy_vars[] = {
	"AUTH_USER_DEFAULT_ROLE",
	"AUTH_USER_DEFAULT_ALLOWED_ROLES",
	"AUTH_LOCALE_DEFAULT",
	"AUTH_LOCALE_ALLOWED_LOCALES",
	"AUTH_CONCEAL_ERRORS",
	"AUTH_CLIENT_URL",
	"AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS",
	"OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES",
	"AUTH_SMS_PASSWORDLESS_ENABLED",
	"AUTH_DISABLE_SIGNUP",
};

#define CLIENT_URL "https://my-app.com"
#define PHONE "+14155550123"

/*
 * Build p from the environment: the defaults, AUTH_CLIENT_URL set to
 * CLIENT_URL unless env says otherwise, then the NULL-terminated name/value
 * pairs of env. The configuration is freed before p is used, which proves
 * the policy keeps its own copies. Returns signup_policy_init's result.
 */
static int policy_env(struct signup_policy *p, const char *const *env,
		      char *err, size_t err_size)
{
	struct cfg cfg;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(policy_vars) / sizeof(*policy_vars); i++)
		unsetenv(policy_vars[i]);
	setenv("AUTH_CLIENT_URL", CLIENT_URL, 1);
	setenv("AUTH_SMS_PASSWORDLESS_ENABLED", "true", 1);
	for (i = 0; env && env[i]; i += 2)
		setenv(env[i], env[i + 1], 1);
	CHECK_INT(cfg_load(&cfg, CFG_INGEST), 0);
	ret = signup_policy_init(p, &cfg, err, err_size);
	cfg_free(&cfg);
	return ret;
}

static void policy(struct signup_policy *p, const char *const *env)
{
	char err[256] = "";

	if (policy_env(p, env, err, sizeof(err)) != 0)
		fprintf(stderr, "  policy: %s\n", err);
}

/*
 * Expect body (len bytes) to be refused with err and status; the message
 * must be non-empty, name want_in_message when given, and never contain
 * "SECRET" (bodies put that in the values that must not be echoed).
 */
static void refused_n(const struct signup_policy *p, const char *body,
		      size_t len, enum api_err err, int status,
		      const char *want_in_message, int line)
{
	struct signup_error e;
	json_t *out = (json_t *)1;
	int ret = signup_validate(p, body, len, &out, &e);

	if (ret != -1 || e.err != err || e.status != status)
		fprintf(stderr, "  line %d: ret %d, %s %d \"%s\"\n", line, ret,
			ret ? api_err_code(e.err) : "-", e.status, e.message);
	CHECK_INT(ret, -1);
	CHECK(out == NULL);
	CHECK_STR(api_err_code(e.err), api_err_code(err));
	CHECK_INT(e.status, status);
	CHECK(e.message[0] != '\0');
	CHECK(strstr(e.message, "SECRET") == NULL);
	if (want_in_message && !strstr(e.message, want_in_message)) {
		fprintf(stderr, "  line %d: message \"%s\" lacks \"%s\"\n",
			line, e.message, want_in_message);
		CHECK(!"message names the field");
	}
	if (ret == 0)
		json_decref(out);
}

#define REFUSED(p, body, err, status, field) \
	refused_n(p, body, strlen(body), API_ERR_##err, status, field, __LINE__)
#define INVALID(p, body, field) REFUSED(p, body, INVALID_REQUEST, 400, field)

/* Expect body to be accepted; returns the object (caller decrefs) or NULL. */
static json_t *accepted_n(const struct signup_policy *p, const char *body,
			  int line)
{
	struct signup_error e;
	json_t *out = NULL;

	if (signup_validate(p, body, strlen(body), &out, &e) != 0) {
		fprintf(stderr, "  line %d: refused: %s %d \"%s\"\n", line,
			api_err_code(e.err), e.status, e.message);
		CHECK(!"accepted");
		return NULL;
	}
	CHECK(json_is_object(out));
	return out;
}

#define ACCEPTED(p, body) accepted_n(p, body, __LINE__)

static const char *field(const json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

/* The allowed_roles array as "a,b,c". */
static const char *roles_text(const json_t *obj, char *buf, size_t size)
{
	json_t *roles = json_object_get(obj, "allowed_roles"), *item;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(roles, i, item)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
					 i ? "," : "", json_string_value(item));
	return buf;
}

static void test_defaults(void)
{
	struct signup_policy p;
	char buf[128];
	json_t *o;

	policy(&p, NULL);
	CHECK_INT(p.allowed_roles_len, 2);
	CHECK_INT(p.allowed_locales_len, 1);

	o = ACCEPTED(&p, "{\"phoneNumber\":\"" PHONE "\"}");
	if (o) {
		CHECK_INT(json_object_size(o), 10);
		CHECK_STR(field(o, "phone_number"), PHONE);
		CHECK_STR(field(o, "phone_e164"), PHONE);
		CHECK_STR(field(o, "display_name"), PHONE);
		CHECK_STR(field(o, "locale"), "en");
		CHECK_STR(field(o, "default_role"), "user");
		CHECK_STR(roles_text(o, buf, sizeof(buf)), "me,user");
		CHECK_STR(field(o, "metadata_json"), "null");
		CHECK_STR(field(o, "redirect_to"), CLIENT_URL);
		CHECK_STR(field(o, "kind"), "SIGNUP");
		CHECK(json_is_null(json_object_get(o, "replay_of")));
		CHECK(!json_object_get(o, "request_id"));
		CHECK(!json_object_get(o, "received_at"));
		CHECK(!json_object_get(o, "client_ip"));
	}
	json_decref(o);

	/* Whitespace around the object and an empty options are fine. */
	o = ACCEPTED(&p,
		     " \n{\"phoneNumber\":\"" PHONE "\",\"options\":{}}\r\n ");
	json_decref(o);
	signup_policy_free(&p);

	/* With every variable at its default the client URL is "". */
	{
		static const char *const env[] = { "AUTH_CLIENT_URL", "",
						   NULL };

		policy(&p, env);
		o = ACCEPTED(&p, "{\"phoneNumber\":\"" PHONE "\"}");
		if (o)
			CHECK_STR(field(o, "redirect_to"), "");
		json_decref(o);
		signup_policy_free(&p);
	}
}

static void test_full_request(void)
{
	static const char *const env[] = {
		"AUTH_LOCALE_ALLOWED_LOCALES",
		"en,fr",
		"AUTH_USER_DEFAULT_ALLOWED_ROLES",
		"me,user,editor",
		"AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS",
		"https://*.example.org",
		NULL
	};
	struct signup_policy p;
	char buf[128];
	json_t *o;

	policy(&p, env);
	CHECK_INT(p.allowed_roles_len, 3); /* "user" is not added twice */
	o = ACCEPTED(&p, "{\"phoneNumber\":\"00 44 (20) 7946-0958\","
			 "\"options\":{\"allowedRoles\":[\"me\",\"editor\","
			 "\"me\"],\"defaultRole\":\"editor\","
			 "\"displayName\":\"John Smith\",\"locale\":\"fr\","
			 "\"metadata\":{\"firstName\":\"John\"},"
			 "\"redirectTo\":\"https://app.example.org/catch"
			 "?x=1\"}}");
	if (o) {
		/* Stored as sent; the E.164 form travels beside it. */
		CHECK_STR(field(o, "phone_number"), "00 44 (20) 7946-0958");
		CHECK_STR(field(o, "phone_e164"), "+442079460958");
		CHECK_STR(field(o, "display_name"), "John Smith");
		CHECK_STR(field(o, "locale"), "fr");
		CHECK_STR(field(o, "default_role"), "editor");
		/* Repeated roles are dropped: auth.user_roles is unique. */
		CHECK_STR(roles_text(o, buf, sizeof(buf)), "me,editor");
		CHECK_STR(field(o, "metadata_json"),
			  "{\"firstName\":\"John\"}");
		CHECK_STR(field(o, "redirect_to"),
			  "https://app.example.org/catch?x=1");
	}
	json_decref(o);
	signup_policy_free(&p);
}

/* Row 5: not a JSON object, or not strictly JSON. */
static void test_row7_parse(void)
{
	struct signup_policy p;
	char *deep;
	size_t i, n = 10000;
	static const char nul_body[] = "{\"phoneNumber\":\"+1415555\0"
				       "0123\"}";

	policy(&p, NULL);
	REFUSED(&p, "", INVALID_REQUEST, 400, "empty");
	refused_n(&p, NULL, 0, API_ERR_INVALID_REQUEST, 400, NULL, __LINE__);
	INVALID(&p, "[]", "JSON object");
	INVALID(&p, "[{\"phoneNumber\":\"" PHONE "\"}]", "JSON object");
	INVALID(&p, "\"" PHONE "\"", "JSON object");
	INVALID(&p, "null", "JSON object");
	INVALID(&p, "42", "JSON object");
	INVALID(&p, "phoneNumber=%2B14155550123", NULL);
	INVALID(&p, "{'phoneNumber':'" PHONE "'}", NULL);
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",}", NULL);

	/* Duplicate keys, at any depth. */
	INVALID(&p,
		"{\"phoneNumber\":\"+14155550124\",\"phoneNumber\":\"" PHONE
		"\"}",
		"duplicate");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"locale\":"
		"\"en\",\"locale\":\"fr\"}}",
		"duplicate");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"metadata\":"
		"{\"a\":1,\"a\":2}}}",
		"duplicate");

	/* Trailing data, truncation. */
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\"} x", "after");
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\"}{}", "after");
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\"}\"SECRET\"", "after");
	INVALID(&p, "{\"phoneNumber\":\"+1415", "truncated");
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\"", "truncated");
	INVALID(&p, "{", "truncated");

	/* Deep nesting: 10000 '[' alone and inside metadata. */
	deep = malloc(2 * n + 128);
	if (deep) {
		memset(deep, '[', n);
		deep[n] = '\0';
		INVALID(&p, deep, "deeply");
		strcpy(deep, "{\"phoneNumber\":\"" PHONE "\",\"options\":"
			     "{\"metadata\":{\"a\":");
		i = strlen(deep);
		memset(deep + i, '[', n);
		memset(deep + i + n, ']', n);
		strcpy(deep + i + 2 * n, "}}}");
		INVALID(&p, deep, "deeply");
		free(deep);
	}

	/* U+0000, escaped or raw, and bytes that are not UTF-8. */
	INVALID(&p, "{\"phoneNumber\":\"+1415555\\u00000123\"}", "U+0000");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"displayName"
		"\":\"a\\u0000b\"}}",
		"U+0000");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"metadata\":"
		"{\"k\\u0000\":1}}}",
		"U+0000");
	refused_n(&p, nul_body, sizeof(nul_body) - 1, API_ERR_INVALID_REQUEST,
		  400, NULL, __LINE__);
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"displayName"
		"\":\"a\xff\"}}",
		"UTF-8");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"displayName"
		"\":\"\xc0\xaf\"}}",
		"UTF-8"); /* overlong '/' */
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"metadata\":"
		"{\"a\":\"\\ud800\"}}}",
		NULL); /* lone surrogate */
	INVALID(&p, "\xef\xbb\xbf{\"phoneNumber\":\"" PHONE "\"}", NULL);

	/* A number no double holds (Nhost's Go float64 refuses it too). */
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"metadata\":"
		"{\"a\":1e400}}}",
		"number");
	signup_policy_free(&p);
}

/* Row 5: properties outside the schema and wrong JSON types. */
static void test_row7_schema(void)
{
	struct signup_policy p;

	policy(&p, NULL);
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",\"email\":\"SECRET\"}",
		"unknown property");
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",\"SECRET\":1}",
		"unknown property");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"role\":"
		"\"user\"}}",
		"options has an unknown property");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":{\"metadata\":"
		"{},\"redirectUrl\":\"x\"}}",
		"options has an unknown");
	/* Property names are case-sensitive. */
	INVALID(&p, "{\"PhoneNumber\":\"" PHONE "\"}", "unknown property");
	/* Unknown property wins over a bad phone number (row 7 < row 8). */
	INVALID(&p, "{\"phoneNumber\":\"x\",\"extra\":1}", "unknown property");

	INVALID(&p, "{\"phoneNumber\":14155550123}", "phoneNumber must be");
	INVALID(&p, "{\"phoneNumber\":null}", "phoneNumber must be");
	INVALID(&p, "{\"phoneNumber\":[\"" PHONE "\"]}", "phoneNumber must be");
	INVALID(&p, "{\"phoneNumber\":{}}", "phoneNumber must be");
	INVALID(&p, "{\"phoneNumber\":true}", "phoneNumber must be");

	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",\"options\":\"x\"}",
		"options must be an object");
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",\"options\":null}",
		"options must be an object");
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",\"options\":[]}",
		"options must be an object");

#define OPT(json) "{\"phoneNumber\":\"" PHONE "\",\"options\":{" json "}}"
	INVALID(&p, OPT("\"allowedRoles\":\"user\""), "options.allowedRoles");
	INVALID(&p, OPT("\"allowedRoles\":null"), "options.allowedRoles");
	INVALID(&p, OPT("\"allowedRoles\":{}"), "options.allowedRoles");
	INVALID(&p, OPT("\"allowedRoles\":[1]"), "options.allowedRoles");
	INVALID(&p, OPT("\"allowedRoles\":[\"user\",null]"),
		"options.allowedRoles");
	INVALID(&p, OPT("\"allowedRoles\":[[\"user\"]]"),
		"options.allowedRoles");
	INVALID(&p, OPT("\"defaultRole\":1"), "options.defaultRole");
	INVALID(&p, OPT("\"defaultRole\":null"), "options.defaultRole");
	INVALID(&p, OPT("\"defaultRole\":[\"user\"]"), "options.defaultRole");
	INVALID(&p, OPT("\"displayName\":1"), "options.displayName");
	INVALID(&p, OPT("\"displayName\":null"), "options.displayName");
	INVALID(&p, OPT("\"displayName\":false"), "options.displayName");
	INVALID(&p, OPT("\"locale\":1"), "options.locale");
	INVALID(&p, OPT("\"locale\":null"), "options.locale");
	INVALID(&p, OPT("\"metadata\":\"{}\""), "options.metadata");
	INVALID(&p, OPT("\"metadata\":null"), "options.metadata");
	INVALID(&p, OPT("\"metadata\":[]"), "options.metadata");
	INVALID(&p, OPT("\"metadata\":1"), "options.metadata");
	INVALID(&p, OPT("\"redirectTo\":1"), "options.redirectTo");
	INVALID(&p, OPT("\"redirectTo\":null"), "options.redirectTo");
	INVALID(&p, OPT("\"redirectTo\":{\"url\":\"x\"}"),
		"options.redirectTo");
	/* A wrong type wins over the later rows. */
	INVALID(&p, "{\"phoneNumber\":\"x\",\"options\":{\"locale\":1}}",
		"options.locale");
	signup_policy_free(&p);
}

/* Row 10: the phone number. */
static void test_row8_phone(void)
{
	static const char *const env[] = {
		"OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES", "+1, +44", NULL
	};
	struct signup_policy p;
	json_t *o;

	policy(&p, NULL);
	INVALID(&p, "{}", "phoneNumber is required");
	INVALID(&p, "{\"options\":{\"locale\":\"en\"}}",
		"phoneNumber is required");
	INVALID(&p, "{\"phoneNumber\":\"\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"SECRET\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"+1234567\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"+1234567890123456\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"+04155550123\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"14155550123\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"+1415555012a\"}", "phoneNumber");
	INVALID(&p,
		"{\"phoneNumber\":\"+\\uff11\\uff14\\uff11\\uff15\\uff15"
		"\\uff15\\uff15\\uff10\\uff11\\uff12\"}",
		"phoneNumber");
	/* Row 10 is checked before the later rows. */
	INVALID(&p,
		"{\"phoneNumber\":\"x\",\"options\":{\"allowedRoles\":"
		"[\"admin\"],\"redirectTo\":\"https://evil.com\"}}",
		"phoneNumber");
	o = ACCEPTED(&p, "{\"phoneNumber\":\"+33 6 12 34 56 78\"}");
	if (o)
		CHECK_STR(field(o, "phone_e164"), "+33612345678");
	json_decref(o);
	signup_policy_free(&p);

	policy(&p, env);
	INVALID(&p, "{\"phoneNumber\":\"+33612345678\"}", "phoneNumber");
	INVALID(&p, "{\"phoneNumber\":\"0033612345678\"}", "phoneNumber");
	o = ACCEPTED(&p, "{\"phoneNumber\":\"" PHONE "\"}");
	json_decref(o);
	o = ACCEPTED(&p, "{\"phoneNumber\":\"0044 20 7946 0958\"}");
	if (o)
		CHECK_STR(field(o, "phone_e164"), "+442079460958");
	json_decref(o);
	signup_policy_free(&p);
}

/* Row 6: displayName, 32 code points and Nhost's character classes. */
static void test_row9_display_name(void)
{
	struct signup_policy p;
	char body[512], name[256];
	json_t *o;
	int i;

	policy(&p, NULL);
	/* 32 two-byte characters (64 bytes) are fine, 33 are not. */
	name[0] = '\0';
	for (i = 0; i < 32; i++)
		strcat(name, "\xc3\xa9");
	snprintf(body, sizeof(body), OPT("\"displayName\":\"%s\""), name);
	o = ACCEPTED(&p, body);
	if (o)
		CHECK_STR(field(o, "display_name"), name);
	json_decref(o);
	strcat(name, "\xc3\xa9");
	snprintf(body, sizeof(body), OPT("\"displayName\":\"%s\""), name);
	INVALID(&p, body, "32 characters");
	/* The same in ASCII. */
	snprintf(body, sizeof(body), OPT("\"displayName\":\"%s\""),
		 "abcdefghijklmnopqrstuvwxyzABCDEF");
	o = ACCEPTED(&p, body);
	json_decref(o);
	snprintf(body, sizeof(body), OPT("\"displayName\":\"%s\""),
		 "abcdefghijklmnopqrstuvwxyzABCDEFG");
	INVALID(&p, body, "32 characters");

	INVALID(&p, OPT("\"displayName\":\"\""), "options.displayName");
	INVALID(&p, OPT("\"displayName\":\"<b>SECRET</b>\""),
		"options.displayName");
	INVALID(&p, OPT("\"displayName\":\"SECRET/x\""), "options.displayName");
	INVALID(&p, OPT("\"displayName\":\"a&b\""), "options.displayName");
	INVALID(&p, OPT("\"displayName\":\"line\\nbreak\""),
		"options.displayName");
	/* Row 6 before row 11. */
	INVALID(&p,
		OPT("\"displayName\":\"a:b\",\"redirectTo\":"
		    "\"https://evil.com\""),
		"options.displayName");

	o = ACCEPTED(&p, OPT("\"displayName\":"
			     "\"O'Brien-Smith, Jr. \\u00e9\\u20ac\""));
	if (o)
		CHECK_STR(field(o, "display_name"),
			  "O'Brien-Smith, Jr. \xc3\xa9\xe2\x82\xac");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"locale\":\"en\""));
	if (o)
		CHECK_STR(field(o, "display_name"), PHONE);
	json_decref(o);
	signup_policy_free(&p);
}

/* Row 7: locale length; a locale not allowed becomes the default. */
static void test_row10_locale(void)
{
	static const char *const env[] = { "AUTH_LOCALE_ALLOWED_LOCALES",
					   "fr, es", "AUTH_LOCALE_DEFAULT",
					   "en", NULL };
	struct signup_policy p;
	json_t *o;

	policy(&p, env);
	CHECK_INT(p.allowed_locales_len, 3); /* the default is added */
	INVALID(&p, OPT("\"locale\":\"e\""), "options.locale");
	INVALID(&p, OPT("\"locale\":\"\""), "options.locale");
	INVALID(&p, OPT("\"locale\":\"SECRET\""), "options.locale");
	INVALID(&p, OPT("\"locale\":\"engl\""), "options.locale");
	/* Characters, not bytes: 4 two-byte characters are too many ... */
	INVALID(&p, OPT("\"locale\":\"\\u00e9\\u00e9\\u00e9\\u00e9\""),
		"options.locale");
	/* ... 3 of them (6 bytes) have an acceptable length. */
	o = ACCEPTED(&p, OPT("\"locale\":\"\\u00e9\\u00e9\\u00e9\""));
	if (o)
		CHECK_STR(field(o, "locale"), "en");
	json_decref(o);
	/* Row 7 before row 12. */
	INVALID(&p, OPT("\"locale\":\"e\",\"allowedRoles\":[\"admin\"]"),
		"options.locale");

	o = ACCEPTED(&p, OPT("\"locale\":\"xx\""));
	if (o)
		CHECK_STR(field(o, "locale"), "en");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"locale\":\"fr\""));
	if (o)
		CHECK_STR(field(o, "locale"), "fr");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"locale\":\"spa\""));
	if (o)
		CHECK_STR(field(o, "locale"), "en");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"locale\":\"FR\"")); /* exact match, as Nhost */
	if (o)
		CHECK_STR(field(o, "locale"), "en");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"locale\":\"en\""));
	if (o)
		CHECK_STR(field(o, "locale"), "en");
	json_decref(o);
	signup_policy_free(&p);
}

/* Row 11: redirectTo against AUTH_CLIENT_URL and the allowed URLs. */
static void test_row11_redirect(void)
{
	static const char *const env[] = {
		"AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS",
		"https://*.acme.io, myapp://my.app", NULL
	};
	struct signup_policy p;
	struct signup_error e;
	json_t *o = NULL;

	policy(&p, env);
	REFUSED(&p, OPT("\"redirectTo\":\"https://evil.com\""),
		REDIRECT_TO_NOT_ALLOWED, 400, NULL);
	REFUSED(&p, OPT("\"redirectTo\":\"https://my-app.com.evil.com\""),
		REDIRECT_TO_NOT_ALLOWED, 400, NULL);
	REFUSED(&p, OPT("\"redirectTo\":\"not-a-url\""),
		REDIRECT_TO_NOT_ALLOWED, 400, NULL);
	REFUSED(&p, OPT("\"redirectTo\":\"\""), REDIRECT_TO_NOT_ALLOWED, 400,
		NULL);
	/* Nhost's text. */
	signup_validate(&p, OPT("\"redirectTo\":\"https://evil.com\""),
			strlen(OPT("\"redirectTo\":\"https://evil.com\"")), &o,
			&e);
	CHECK_STR(e.message,
		  "The value of \"options.redirectTo\" is not allowed.");
	/* Row 11 before row 12. */
	REFUSED(&p,
		OPT("\"redirectTo\":\"https://evil.com\","
		    "\"allowedRoles\":[\"admin\"]"),
		REDIRECT_TO_NOT_ALLOWED, 400, NULL);

	o = ACCEPTED(&p, OPT("\"redirectTo\":\"https://my-app.com/catch\""));
	if (o)
		CHECK_STR(field(o, "redirect_to"), "https://my-app.com/catch");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"redirectTo\":\"https://x.acme.io/y\""));
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"redirectTo\":\"myapp://my.app/path\""));
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"metadata\":{}"));
	if (o)
		CHECK_STR(field(o, "redirect_to"), CLIENT_URL);
	json_decref(o);
	signup_policy_free(&p);
}

/* Rows 12 and 13: roles, with and without AUTH_CONCEAL_ERRORS. */
static void test_roles(void)
{
	static const char *const conceal[] = { "AUTH_CONCEAL_ERRORS", "true",
					       NULL };
	static const char *const admin[] = { "AUTH_USER_DEFAULT_ROLE", "admin",
					     NULL };
	struct signup_policy p;
	struct signup_error e;
	char buf[128];
	json_t *o = NULL;
	const char *body;

	policy(&p, NULL);
	REFUSED(&p, OPT("\"allowedRoles\":[\"admin\"]"), ROLE_NOT_ALLOWED, 400,
		"Role not allowed");
	REFUSED(&p, OPT("\"allowedRoles\":[\"me\",\"user\",\"admin\"]"),
		ROLE_NOT_ALLOWED, 400, NULL);
	REFUSED(&p, OPT("\"allowedRoles\":[\"\"]"), ROLE_NOT_ALLOWED, 400,
		NULL);
	REFUSED(&p, OPT("\"allowedRoles\":[\"User\"]"), ROLE_NOT_ALLOWED, 400,
		NULL);
	/* Row 12 before row 13. */
	REFUSED(&p, OPT("\"allowedRoles\":[\"admin\"],\"defaultRole\":\"x\""),
		ROLE_NOT_ALLOWED, 400, NULL);

	REFUSED(&p, OPT("\"allowedRoles\":[]"),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400,
		"Default role must be in allowed roles");
	REFUSED(&p, OPT("\"allowedRoles\":[],\"defaultRole\":\"user\""),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400, NULL);
	REFUSED(&p, OPT("\"allowedRoles\":[\"me\"]"),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400, NULL);
	REFUSED(&p, OPT("\"allowedRoles\":[\"user\"],\"defaultRole\":\"me\""),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400, NULL);
	REFUSED(&p, OPT("\"defaultRole\":\"admin\""),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400, NULL);
	REFUSED(&p, OPT("\"defaultRole\":\"\""),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400, NULL);

	o = ACCEPTED(&p, OPT("\"defaultRole\":\"me\""));
	if (o) {
		CHECK_STR(field(o, "default_role"), "me");
		CHECK_STR(roles_text(o, buf, sizeof(buf)), "me,user");
	}
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"allowedRoles\":[\"user\"]"));
	if (o) {
		CHECK_STR(field(o, "default_role"), "user");
		CHECK_STR(roles_text(o, buf, sizeof(buf)), "user");
	}
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"allowedRoles\":[\"me\"],\"defaultRole\":"
			     "\"me\""));
	if (o)
		CHECK_STR(roles_text(o, buf, sizeof(buf)), "me");
	json_decref(o);
	signup_policy_free(&p);

	/* The default role joins the default allowed roles. */
	policy(&p, admin);
	o = ACCEPTED(&p, "{\"phoneNumber\":\"" PHONE "\"}");
	if (o) {
		CHECK_STR(field(o, "default_role"), "admin");
		CHECK_STR(roles_text(o, buf, sizeof(buf)), "me,admin");
	}
	json_decref(o);
	signup_policy_free(&p);

	/* Concealed: role-not-allowed turns generic; the others stay. */
	policy(&p, conceal);
	CHECK(p.conceal_errors);
	body = OPT("\"allowedRoles\":[\"admin\"]");
	CHECK_INT(signup_validate(&p, body, strlen(body), &o, &e), -1);
	CHECK(o == NULL);
	CHECK_STR(api_err_code(e.err), "invalid-request");
	CHECK_INT(e.status, 400);
	CHECK_STR(e.message, "The request payload is incorrect");
	REFUSED(&p, OPT("\"allowedRoles\":[]"),
		DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES, 400, NULL);
	REFUSED(&p, OPT("\"redirectTo\":\"https://evil.com\""),
		REDIRECT_TO_NOT_ALLOWED, 400, NULL);
	INVALID(&p, OPT("\"locale\":1"), "options.locale");
	signup_policy_free(&p);
}

/*
 * Rows 8 and 9, in Nhost's order: the endpoint's switches come after the
 * body's shape (rows 5-7) and before the phone number (row 10); signup
 * disabled refuses the signup route only.
 */
static void test_switches_order(void)
{
	static const char *const off[] = { "AUTH_SMS_PASSWORDLESS_ENABLED",
					   "false", NULL };
	static const char *const nosignup[] = { "AUTH_DISABLE_SIGNUP", "true",
						NULL };
	static const char *const concealed[] = { "AUTH_DISABLE_SIGNUP", "true",
						 "AUTH_CONCEAL_ERRORS", "true",
						 NULL };
	struct signup_policy p;
	struct signup_error e;
	const char *body = "{\"phoneNumber\":\"" PHONE "\"}";
	json_t *o = NULL;

	policy(&p, off);
	INVALID(&p, "{\"phoneNumber\":\"" PHONE "\",\"extra\":1}", NULL);
	INVALID(&p, "[1]", NULL);
	INVALID(&p, "{\"options\":{}}", "phoneNumber");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":"
		"{\"displayName\":\"a@b\"}}",
		"displayName");
	INVALID(&p,
		"{\"phoneNumber\":\"" PHONE "\",\"options\":"
		"{\"locale\":\"e\"}}",
		"locale");
	REFUSED(&p, body, DISABLED_ENDPOINT, 409, NULL);
	REFUSED(&p, "{\"phoneNumber\":\"not a phone\"}", DISABLED_ENDPOINT, 409,
		NULL);
	signup_policy_free(&p);

	policy(&p, nosignup);
	INVALID(&p, "{}", "phoneNumber");
	REFUSED(&p, body, SIGNUP_DISABLED, 403, NULL);
	REFUSED(&p, "{\"phoneNumber\":\"x\"}", SIGNUP_DISABLED, 403, NULL);
	/* The sign-in route: the worker decides (no user is created). */
	CHECK_INT(signup_validate_route(&p, SIGNUP_ROUTE_SIGNIN, body,
					strlen(body), &o, &e),
		  0);
	if (o)
		CHECK_STR(field(o, "kind"), "SIGNIN");
	json_decref(o);
	signup_policy_free(&p);

	policy(&p, concealed);
	REFUSED(&p, body, INVALID_REQUEST, 400, NULL);
	signup_policy_free(&p);
}

/* The sign-in route: same body, same checks, same record but its kind. */
static void test_signin_route(void)
{
	struct signup_policy p;
	struct signup_error e;
	const char *body = "{\"phoneNumber\":\"+1 (415) 555-2671\","
			   "\"options\":{\"locale\":\"en\"}}";
	const char *bad = "{\"phoneNumber\":\"+1415\"}";
	json_t *up = NULL, *in = NULL;

	policy(&p, NULL);
	CHECK_INT(signup_validate_route(&p, SIGNUP_ROUTE_SIGNUP, body,
					strlen(body), &up, &e),
		  0);
	CHECK_INT(signup_validate_route(&p, SIGNUP_ROUTE_SIGNIN, body,
					strlen(body), &in, &e),
		  0);
	if (up && in) {
		CHECK_STR(field(up, "kind"), "SIGNUP");
		CHECK_STR(field(in, "kind"), "SIGNIN");
		CHECK_STR(field(in, "phone_number"), "+1 (415) 555-2671");
		CHECK_STR(field(in, "phone_e164"), "+14155552671");
		CHECK_STR(field(in, "display_name"), "+1 (415) 555-2671");
		json_object_set_new(in, "kind", json_string("SIGNUP"));
		CHECK(json_equal(up, in));
	}
	json_decref(up);
	json_decref(in);
	CHECK_INT(signup_validate_route(&p, SIGNUP_ROUTE_SIGNIN, bad,
					strlen(bad), &in, &e),
		  -1);
	CHECK(in == NULL);
	CHECK_STR(api_err_code(e.err), "invalid-request");
	signup_policy_free(&p);
}

static void test_metadata(void)
{
	struct signup_policy p;
	json_t *o;

	policy(&p, NULL);
	o = ACCEPTED(&p, OPT("\"metadata\":{\"firstName\":\"John\", "
			     "\"lastName\" : \"Smith\"}"));
	if (o)
		CHECK_STR(field(o, "metadata_json"),
			  "{\"firstName\":\"John\",\"lastName\":\"Smith\"}");
	json_decref(o);
	o = ACCEPTED(&p, OPT("\"metadata\":{}"));
	if (o)
		CHECK_STR(field(o, "metadata_json"), "{}");
	json_decref(o);
	/* Any JSON inside, numbers as Nhost's float64 writes them back. */
	o = ACCEPTED(&p, OPT("\"metadata\":{\"n\":0.1,\"i\":1,\"neg\":-2.5,"
			     "\"big\":12345678901234567890,\"e\":1E5,"
			     "\"tiny\":1e-7,\"t\":true,\"f\":false,\"z\":null,"
			     "\"a\":[1,[2,{}],\"\\u00e9\\n\\\"\\/\"],"
			     "\"o\":{\"x\":{\"y\":[]}}}"));
	if (o)
		CHECK_STR(field(o, "metadata_json"),
			  "{\"n\":0.1,\"i\":1,\"neg\":-2.5,"
			  "\"big\":12345678901234567000,\"e\":100000,"
			  "\"tiny\":1e-7,\"t\":true,\"f\":false,\"z\":null,"
			  "\"a\":[1,[2,{}],\"\xc3\xa9\\u000a\\\"/\"],"
			  "\"o\":{\"x\":{\"y\":[]}}}");
	json_decref(o);

	/* Deep but within jansson's limit: written back whole. */
	{
		size_t n = 2000, i;
		char *body = malloc(2 * n + 128), *want = malloc(2 * n + 16);

		if (body && want) {
			strcpy(body, "{\"phoneNumber\":\"" PHONE
				     "\",\"options\":{\"metadata\":{\"a\":");
			i = strlen(body);
			memset(body + i, '[', n);
			memset(body + i + n, ']', n);
			strcpy(body + i + 2 * n, "}}}");
			strcpy(want, "{\"a\":");
			memset(want + 5, '[', n);
			memset(want + 5 + n, ']', n);
			strcpy(want + 5 + 2 * n, "}");
			o = ACCEPTED(&p, body);
			if (o)
				CHECK(strcmp(field(o, "metadata_json"), want) ==
				      0);
			json_decref(o);
		}
		free(body);
		free(want);
	}

	/* Go's float64 notation: plain from 1e-6 up to 1e21, else exponent. */
	{
		static const char *const nums[][2] = {
			{ "0", "0" },
			{ "-0", "-0" },
			{ "-0.0", "-0" },
			{ "1.0", "1" },
			{ "123.456", "123.456" },
			{ "1e20", "100000000000000000000" },
			{ "1e21", "1e+21" },
			{ "-1.5E+300", "-1.5e+300" },
			{ "0.000001", "0.000001" },
			{ "1.5e-7", "1.5e-7" },
			{ "1e-100", "1e-100" },
			{ "0.30000000000000004", "0.30000000000000004" },
			{ "9007199254740993", "9007199254740992" },
		};
		char body[256], want[128];
		size_t i;

		for (i = 0; i < sizeof(nums) / sizeof(*nums); i++) {
			snprintf(body, sizeof(body),
				 OPT("\"metadata\":{\"v\":%s}"), nums[i][0]);
			snprintf(want, sizeof(want), "{\"v\":%s}", nums[i][1]);
			o = ACCEPTED(&p, body);
			if (o)
				CHECK_STR(field(o, "metadata_json"), want);
			json_decref(o);
		}
	}
	signup_policy_free(&p);
}

/* Accepted output plus the HTTP layer's three fields is a valid record. */
static void test_encodes(void)
{
	static const char *const topics[EVENTS__COUNT] = {
		"signup-requests", "sms-otp", "sms-sent", "cannot-send-sms",
		"signup-requests-dlt"
	};
	struct signup_policy p;
	struct events *ev;
	char err[256] = "";
	void *buf = NULL;
	size_t len = 0;
	json_t *o;

	ev = events_new(NULL, topics, 1000, err, sizeof(err));
	if (!ev) {
		fprintf(stderr, "  events_new: %s\n", err);
		CHECK(ev != NULL);
		return;
	}
	policy(&p, NULL);
	o = ACCEPTED(&p, OPT("\"displayName\":\"J\",\"metadata\":{\"a\":1}"));
	if (o) {
		json_object_set_new(
			o, "request_id",
			json_string("0b6f6a4e-3c1a-4d2e-9f7a-1c2b3d4e5f60"));
		json_object_set_new(o, "received_at",
				    json_integer(1700000000000));
		json_object_set_new(o, "client_ip", json_string("192.0.2.1"));
		if (events_encode(ev, EVENTS_SIGNUP_REQUESTED, o, &buf, &len,
				  err, sizeof(err)) != 0)
			fprintf(stderr, "  events_encode: %s\n", err);
		CHECK(buf != NULL && len > 5);
		free(buf);
	}
	json_decref(o);
	signup_policy_free(&p);
	events_destroy(ev);
}

static void test_policy_errors(void)
{
	static const char *const bad_locale[] = { "AUTH_LOCALE_DEFAULT",
						  "english", NULL };
	static const char *const empty_role[] = { "AUTH_USER_DEFAULT_ROLE", "",
						  NULL };
	static const char *const bad_url[] = {
		"AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS", "no-scheme", NULL
	};
	struct signup_policy p;
	char err[256];

	err[0] = '\0';
	CHECK_INT(policy_env(&p, bad_locale, err, sizeof(err)), -1);
	CHECK(strstr(err, "AUTH_LOCALE_DEFAULT") != NULL);
	CHECK(p.allowed_roles == NULL);
	signup_policy_free(&p); /* harmless after a failure */
	err[0] = '\0';
	CHECK_INT(policy_env(&p, empty_role, err, sizeof(err)), -1);
	CHECK(strstr(err, "AUTH_USER_DEFAULT_ROLE") != NULL);
	err[0] = '\0';
	CHECK_INT(policy_env(&p, bad_url, err, sizeof(err)), -1);
	CHECK(err[0] != '\0');
	signup_policy_free(NULL);
}

int main(void)
{
	test_defaults();
	test_full_request();
	test_row7_parse();
	test_row7_schema();
	test_row8_phone();
	test_row9_display_name();
	test_switches_order();
	test_signin_route();
	test_row10_locale();
	test_row11_redirect();
	test_roles();
	test_metadata();
	test_encodes();
	test_policy_errors();
	return check_done("signup");
}
