/*
 * webhook (docs/api.md §4): a POST of OTPFLOW_SMS_WEBHOOK_BODY to
 * OTPFLOW_SMS_WEBHOOK_URL, ${to} and ${body} replaced and escaped for the
 * content type (JSON or form), with extra "Name: value" headers (an
 * Authorization, say). Answers: "id" or "message_id" when the service
 * gives one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider_impl.h"
#include "template.h"

#define JSON_CTYPE "application/json"
#define FORM_CTYPE "application/x-www-form-urlencoded"

static int webhook_init(struct provider *p, const struct cfg *cfg, char *errstr,
			size_t errstr_size)
{
	char *const *h = cfg_list(cfg, CFG_OTPFLOW_SMS_WEBHOOK_HEADERS);
	int bad = 0;

	provider_need(cfg, CFG_OTPFLOW_SMS_WEBHOOK_URL,
		      "OTPFLOW_SMS_WEBHOOK_URL", "by the webhook provider",
		      errstr, errstr_size, &bad);
	if (bad)
		return -1;
	p->url = provider_strdup(cfg_str(cfg, CFG_OTPFLOW_SMS_WEBHOOK_URL));
	p->webhook_ctype = provider_strdup(
		cfg_str(cfg, CFG_OTPFLOW_SMS_WEBHOOK_CONTENT_TYPE));
	p->webhook_body =
		provider_strdup(cfg_str(cfg, CFG_OTPFLOW_SMS_WEBHOOK_BODY));
	while (h[p->webhook_nheaders])
		p->webhook_nheaders++;
	p->webhook_headers = calloc(p->webhook_nheaders + 1, sizeof(char *));
	for (size_t i = 0; p->webhook_headers && i < p->webhook_nheaders; i++) {
		if (!strchr(h[i], ':')) {
			snprintf(errstr, errstr_size,
				 "OTPFLOW_SMS_WEBHOOK_HEADERS: item %zu "
				 "is not \"Name: value\"",
				 i + 1);
			return -1;
		}
		p->webhook_headers[i] = strdup(h[i]);
	}
	return 0;
}

static int webhook_payload(const struct provider *p, const char *to,
			   const char *body, char *out, size_t cap)
{
	const char *names[] = { "to", "body" };
	const char *values[] = { to, body };
	template_escape_fn esc = NULL;

	if (strncasecmp(p->webhook_ctype, JSON_CTYPE, strlen(JSON_CTYPE)) == 0)
		esc = provider_escape_json;
	else if (strncasecmp(p->webhook_ctype, FORM_CTYPE,
			     strlen(FORM_CTYPE)) == 0)
		esc = provider_escape_form;
	return template_subst(p->webhook_body, names, values, 2, esc, out, cap);
}

static struct curl_slist *webhook_headers(const struct provider *p,
					  struct curl_slist *h)
{
	char ct[256];

	snprintf(ct, sizeof(ct), "Content-Type: %s", p->webhook_ctype);
	h = curl_slist_append(h, ct);
	for (size_t i = 0; i < p->webhook_nheaders; i++)
		h = curl_slist_append(h, p->webhook_headers[i]);
	return h;
}

static void webhook_fini(struct provider *p)
{
	free(p->webhook_ctype);
	free(p->webhook_body);
	for (size_t i = 0; p->webhook_headers && i < p->webhook_nheaders; i++)
		free(p->webhook_headers[i]);
	free(p->webhook_headers);
}

const struct provider_ops provider_webhook_ops = {
	.name = "webhook",
	.kind = PROVIDER_WEBHOOK,
	.init = webhook_init,
	.payload = webhook_payload,
	.headers = webhook_headers,
	.fini = webhook_fini,
};
