/*
 * twilio (docs/api.md §4): Messages API, a form POST to
 * /2010-04-01/Accounts/{sid}/Messages.json with To, From or
 * MessagingServiceSid and Body, HTTP Basic auth with the account SID and
 * auth token (Nhost's AUTH_SMS_TWILIO_* names). Answers carry "sid",
 * errors "code" and "message" (read by provider.c).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_impl.h"

#define FIELD_SIZE 1024
#define BODY_FIELD_SIZE (3 * 1700)

static int twilio_init(struct provider *p, const struct cfg *cfg, char *errstr,
		       size_t errstr_size)
{
	const char *sid = cfg_str(cfg, CFG_AUTH_SMS_TWILIO_ACCOUNT_SID);
	const char *from =
		cfg_str(cfg, CFG_AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID);
	char path[256];
	int bad = 0;

	provider_need(cfg, CFG_AUTH_SMS_TWILIO_ACCOUNT_SID,
		      "AUTH_SMS_TWILIO_ACCOUNT_SID", "by the twilio provider",
		      errstr, errstr_size, &bad);
	provider_need(cfg, CFG_AUTH_SMS_TWILIO_AUTH_TOKEN,
		      "AUTH_SMS_TWILIO_AUTH_TOKEN", "by the twilio provider",
		      errstr, errstr_size, &bad);
	provider_need(cfg, CFG_AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID,
		      "AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID",
		      "by the twilio provider", errstr, errstr_size, &bad);
	if (bad)
		return -1;
	if (strncmp(sid, "VA", 2) == 0) {
		/* Nhost then uses Twilio Verify, which makes its own codes:
		 * they would not match our otp_hash. */
		snprintf(errstr, errstr_size,
			 "AUTH_SMS_TWILIO_ACCOUNT_SID: Twilio Verify "
			 "services (VA...) are not supported");
		return -1;
	}
	snprintf(path, sizeof(path), "2010-04-01/Accounts/%s/Messages.json",
		 sid);
	p->url = provider_url(cfg_str(cfg, CFG_OTPFLOW_SMS_TWILIO_BASE_URL),
			      path);
	p->user = provider_strdup(sid);
	p->password =
		provider_strdup(cfg_str(cfg, CFG_AUTH_SMS_TWILIO_AUTH_TOKEN));
	p->twilio_sender = provider_strdup(from);
	p->twilio_service = strncmp(from, "MG", 2) == 0;
	return 0;
}

static int twilio_payload(const struct provider *p, const char *to,
			  const char *body, char *out, size_t cap)
{
	char a[FIELD_SIZE], b[BODY_FIELD_SIZE], c[FIELD_SIZE];
	int n = -1;

	if (provider_escape_form(to, a, sizeof(a)) >= 0 &&
	    provider_escape_form(body, b, sizeof(b)) >= 0 &&
	    provider_escape_form(p->twilio_sender, c, sizeof(c)) >= 0)
		n = snprintf(out, cap, "To=%s&%s=%s&Body=%s", a,
			     p->twilio_service ? "MessagingServiceSid" : "From",
			     c, b);
	sodium_memzero(b, sizeof(b));
	return n;
}

static struct curl_slist *twilio_headers(const struct provider *p,
					 struct curl_slist *h)
{
	(void)p;
	return curl_slist_append(
		h, "Content-Type: application/x-www-form-urlencoded");
}

static void twilio_fini(struct provider *p)
{
	free(p->twilio_sender);
}

const struct provider_ops provider_twilio_ops = {
	.name = "twilio",
	.kind = PROVIDER_TWILIO,
	.init = twilio_init,
	.payload = twilio_payload,
	.headers = twilio_headers,
	.fini = twilio_fini,
};
