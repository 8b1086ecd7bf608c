/*
 * modica (docs/api.md §4): Mobile Gateway REST v2 as Nhost uses it, a JSON
 * POST {"destination","content"} to rest/sms/v2/messages with HTTP Basic
 * auth (AUTH_SMS_MODICA_*); accepted with 202 and an array of
 * {"id": ...}.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_impl.h"

#define FIELD_SIZE 1024
#define BODY_FIELD_SIZE (3 * 1700)

static int modica_init(struct provider *p, const struct cfg *cfg, char *errstr,
		       size_t errstr_size)
{
	int bad = 0;

	provider_need(cfg, CFG_AUTH_SMS_MODICA_USERNAME,
		      "AUTH_SMS_MODICA_USERNAME", "by the modica provider",
		      errstr, errstr_size, &bad);
	provider_need(cfg, CFG_AUTH_SMS_MODICA_PASSWORD,
		      "AUTH_SMS_MODICA_PASSWORD", "by the modica provider",
		      errstr, errstr_size, &bad);
	if (bad)
		return -1;
	p->url = provider_url(cfg_str(cfg, CFG_OTPFLOW_SMS_MODICA_BASE_URL),
			      "rest/sms/v2/messages");
	p->user = provider_strdup(cfg_str(cfg, CFG_AUTH_SMS_MODICA_USERNAME));
	p->password =
		provider_strdup(cfg_str(cfg, CFG_AUTH_SMS_MODICA_PASSWORD));
	return 0;
}

static int modica_payload(const struct provider *p, const char *to,
			  const char *body, char *out, size_t cap)
{
	char a[FIELD_SIZE], b[BODY_FIELD_SIZE];
	int n = -1;

	(void)p;
	if (provider_escape_json(to, a, sizeof(a)) >= 0 &&
	    provider_escape_json(body, b, sizeof(b)) >= 0)
		n = snprintf(out, cap,
			     "{\"destination\":\"%s\",\"content\":\"%s\"}", a,
			     b);
	sodium_memzero(b, sizeof(b));
	return n;
}

static struct curl_slist *modica_headers(const struct provider *p,
					 struct curl_slist *h)
{
	(void)p;
	return curl_slist_append(h, "Content-Type: application/json");
}

/* An accepted message: [{"id": ...}]. */
static void modica_msgid(const json_t *doc, char msgid[PROVIDER_MSGID_SIZE])
{
	const json_t *first = json_array_get(doc, 0);

	if (json_is_object(first))
		provider_json_text(first, "id", msgid, PROVIDER_MSGID_SIZE);
}

const struct provider_ops provider_modica_ops = {
	.name = "modica",
	.kind = PROVIDER_MODICA,
	.init = modica_init,
	.payload = modica_payload,
	.headers = modica_headers,
	.msgid_other = modica_msgid,
};
