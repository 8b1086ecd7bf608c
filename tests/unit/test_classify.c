/* classify: the built-in outcome table and its configuration overrides. */
#include "check.h"
#include "classify.h"

static enum sms_class http(const struct classifier *c, long status,
			   const char *code)
{
	struct sms_outcome o = { .http_status = status };

	snprintf(o.provider_code, sizeof(o.provider_code), "%s", code);
	return classify(c, &o);
}

static enum sms_class transport(const struct classifier *c,
				enum sms_transport t)
{
	struct sms_outcome o = { .transport = t };

	return classify(c, &o);
}

int main(void)
{
	char err[512];
	struct classifier *c = classifier_new(NULL, err, sizeof(err));
	char *over[] = { "code:21211=transient", "503=permanent",
			 "4xx=transient",	 "timeout=permanent",
			 "code:99999=config",	 NULL };
	char *bad1[] = { "429=maybe", NULL };
	char *bad2[] = { "6xx=transient", NULL };
	char *bad3[] = { "=success", NULL };
	char *bad4[] = { "code:=success", NULL };
	struct classifier *o;

	CHECK(c != NULL);
	/* success */
	CHECK_INT(http(c, 200, ""), SMS_SUCCESS);
	CHECK_INT(http(c, 201, ""), SMS_SUCCESS);
	CHECK_INT(http(c, 202, ""), SMS_SUCCESS);
	/* transient */
	CHECK_INT(http(c, 429, ""), SMS_TRANSIENT);
	CHECK_INT(http(c, 500, ""), SMS_TRANSIENT);
	CHECK_INT(http(c, 503, ""), SMS_TRANSIENT);
	CHECK_INT(http(c, 408, ""), SMS_TRANSIENT);
	CHECK_INT(http(c, 400, "20429"), SMS_TRANSIENT);
	CHECK_INT(http(c, 0, ""), SMS_TRANSIENT);
	CHECK_INT(http(c, 799, ""), SMS_TRANSIENT);
	CHECK_INT(transport(c, SMS_TRANSPORT_TIMEOUT), SMS_TRANSIENT);
	CHECK_INT(transport(c, SMS_TRANSPORT_CONNECT), SMS_TRANSIENT);
	CHECK_INT(transport(c, SMS_TRANSPORT_OTHER), SMS_TRANSIENT);
	/* permanent, on the first attempt */
	CHECK_INT(http(c, 400, "21211"), SMS_PERMANENT);
	CHECK_INT(http(c, 400, "21610"), SMS_PERMANENT);
	CHECK_INT(http(c, 400, ""), SMS_PERMANENT);
	CHECK_INT(http(c, 404, ""), SMS_PERMANENT);
	CHECK_INT(http(c, 422, "unknown-code"), SMS_PERMANENT);
	/* configuration: pause, no dead letter */
	CHECK_INT(http(c, 401, ""), SMS_CONFIG);
	CHECK_INT(http(c, 403, ""), SMS_CONFIG);
	CHECK_INT(http(c, 401, "20003"), SMS_CONFIG);
	CHECK_INT(http(c, 400, "21606"), SMS_CONFIG);
	CHECK_INT(transport(c, SMS_TRANSPORT_TLS), SMS_CONFIG);
	/* a code wins over the status */
	CHECK_INT(http(c, 500, "21211"), SMS_PERMANENT);

	o = classifier_new(over, err, sizeof(err));
	CHECK(o != NULL);
	CHECK_INT(http(o, 400, "21211"), SMS_TRANSIENT);
	CHECK_INT(http(o, 503, ""), SMS_PERMANENT);
	CHECK_INT(http(o, 500, ""), SMS_TRANSIENT);
	CHECK_INT(http(o, 404, ""), SMS_TRANSIENT);
	CHECK_INT(http(o, 401, ""), SMS_CONFIG); /* exact status beats 4xx */
	CHECK_INT(http(o, 200, "99999"), SMS_CONFIG);
	CHECK_INT(transport(o, SMS_TRANSPORT_TIMEOUT), SMS_PERMANENT);
	CHECK_INT(http(o, 400, "21610"), SMS_PERMANENT);
	classifier_free(o);

	CHECK(classifier_new(bad1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "429=maybe") != NULL);
	CHECK(classifier_new(bad2, err, sizeof(err)) == NULL);
	CHECK(classifier_new(bad3, err, sizeof(err)) == NULL);
	CHECK(classifier_new(bad4, err, sizeof(err)) == NULL);

	CHECK_STR(sms_class_name(SMS_CONFIG), "config");
	classifier_free(c);
	return check_done("classify");
}
