/* config: parsing, every problem reported at once, secrets never echoed. */
#include <stdlib.h>

#include "check.h"
#include "config.h"
#include "err.h"
#include "kafka.h"

static void test_durations(void)
{
	long long ms = -1;

	CHECK(cfg_parse_duration("250ms", &ms) && ms == 250);
	CHECK(cfg_parse_duration("10s", &ms) && ms == 10000);
	CHECK(cfg_parse_duration("5m", &ms) && ms == 300000);
	CHECK(cfg_parse_duration("1h", &ms) && ms == 3600000);
	CHECK(cfg_parse_duration("1h30m", &ms) && ms == 5400000);
	CHECK(cfg_parse_duration("1m500ms", &ms) && ms == 60500);
	CHECK(cfg_parse_duration("0", &ms) && ms == 0);
	CHECK(!cfg_parse_duration("5", &ms));
	CHECK(!cfg_parse_duration("", &ms));
	CHECK(!cfg_parse_duration("5 m", &ms));
	CHECK(!cfg_parse_duration("-5s", &ms));
	CHECK(!cfg_parse_duration("5d", &ms));
	CHECK(!cfg_parse_duration("99999999999h", &ms));
}

static void test_load(void)
{
	struct cfg cfg;

	setenv("OTPFLOW_OTP_TTL", "soon", 1);
	setenv("AUTH_DISABLE_NEW_USERS", "perhaps", 1);
	setenv("OTPFLOW_OTP_BCRYPT_COST", "-3", 1);
	unsetenv("OTPFLOW_DATABASE_URL");
	unsetenv("OTPFLOW_SEAL_PUBLIC_KEY");
	CHECK_INT(cfg_load(&cfg, CFG_WORKER), 5);
	CHECK(strstr(cfg.errors, "OTPFLOW_OTP_TTL") != NULL);
	CHECK(strstr(cfg.errors, "AUTH_DISABLE_NEW_USERS") != NULL);
	CHECK(strstr(cfg.errors, "OTPFLOW_OTP_BCRYPT_COST") != NULL);
	CHECK(strstr(cfg.errors, "OTPFLOW_DATABASE_URL") != NULL);
	CHECK(strstr(cfg.errors, "OTPFLOW_SEAL_PUBLIC_KEY") != NULL);
	cfg_free(&cfg);

	/* Ingest needs neither database nor keys; defaults apply. */
	unsetenv("AUTH_USER_DEFAULT_ALLOWED_ROLES");
	setenv("AUTH_LOCALE_ALLOWED_LOCALES", " en, fr ,,es ", 1);
	CHECK_INT(cfg_load(&cfg, CFG_INGEST), 0);
	CHECK_INT(cfg_int(&cfg, CFG_OTPFLOW_MAX_BODY_BYTES), 16384);
	CHECK_INT(cfg_ms(&cfg, CFG_AUTH_RATE_LIMIT_SMS_INTERVAL), 3600000);
	CHECK(!cfg_bool(&cfg, CFG_AUTH_SMS_PASSWORDLESS_ENABLED));
	CHECK_STR(cfg_list(&cfg, CFG_AUTH_USER_DEFAULT_ALLOWED_ROLES)[0], "me");
	CHECK(cfg_list(&cfg, CFG_AUTH_USER_DEFAULT_ALLOWED_ROLES)[1] == NULL);
	CHECK_STR(cfg_list(&cfg, CFG_AUTH_LOCALE_ALLOWED_LOCALES)[1], "fr");
	CHECK(cfg_list_has(&cfg, CFG_AUTH_LOCALE_ALLOWED_LOCALES, "es"));
	CHECK(!cfg_list_has(&cfg, CFG_AUTH_LOCALE_ALLOWED_LOCALES, ""));
	CHECK(cfg_list(&cfg,
		       CFG_AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS)[0] ==
	      NULL);
	cfg_free(&cfg);

	/* A malformed secret is reported without its value. */
	setenv("OTPFLOW_DATABASE_URL", "", 1);
	setenv("OTPFLOW_SEAL_SECRET_KEY", "", 1);
	CHECK(cfg_load(&cfg, CFG_SENDER) >= 1);
	CHECK(strstr(cfg.errors, "OTPFLOW_DATABASE_URL is required") != NULL);
	cfg_free(&cfg);
}

static void test_kafka_names(void)
{
	char prop[64];

	CHECK(kafka_property_name("OTPFLOW_KAFKA_SECURITY_PROTOCOL", prop,
				  sizeof(prop)));
	CHECK_STR(prop, "security.protocol");
	CHECK(kafka_property_name("OTPFLOW_KAFKA_SASL_MECHANISMS=PLAIN", prop,
				  sizeof(prop)));
	CHECK_STR(prop, "sasl.mechanisms");
	CHECK(!kafka_property_name("OTPFLOW_KAFKA_", prop, sizeof(prop)));
	CHECK(!kafka_property_name("AUTH_KAFKA_X", prop, sizeof(prop)));
	CHECK(!kafka_property_name("OTPFLOW_KAFKA_A_VERY_LONG_PROPERTY_NAME",
				   prop, 8));
}

static void test_error_bodies(void)
{
	char body[256];

	CHECK(api_err_body(API_ERR_ROLE_NOT_ALLOWED, 0, NULL, body,
			   sizeof(body)) > 0);
	CHECK_STR(body, "{\"status\":400,\"message\":\"Role not allowed\","
			"\"error\":\"role-not-allowed\"}");
	api_err_body(API_ERR_INVALID_REQUEST, 413, "body \"too\" large", body,
		     sizeof(body));
	CHECK_STR(body,
		  "{\"status\":413,\"message\":\"body \\\"too\\\" large\","
		  "\"error\":\"invalid-request\"}");
	api_err_body(API_ERR_REDIRECT_TO_NOT_ALLOWED, 0, NULL, body,
		     sizeof(body));
	CHECK_STR(body, "{\"status\":400,\"message\":\"The value of "
			"\\\"options.redirectTo\\\" is not allowed.\","
			"\"error\":\"redirectTo-not-allowed\"}");
	CHECK_INT(api_err_body(API_ERR_INVALID_REQUEST, 0, NULL, body, 10), 0);
	CHECK_INT(api_err_status(API_ERR_DISABLED_ENDPOINT), 409);
	CHECK(api_err_is_sensitive(API_ERR_SIGNUP_DISABLED));
	CHECK(!api_err_is_sensitive(API_ERR_DISABLED_ENDPOINT));
}

int main(void)
{
	test_durations();
	test_load();
	test_kafka_names();
	test_error_bodies();
	return check_done("config");
}
