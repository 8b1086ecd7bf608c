/*
 * Provider requests and answers. Each provider is a request builder plus an
 * answer parser; the sending loop (send.c) does not know which one runs.
 */
#include "provider.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

#include "retry.h"
#include "template.h"

struct provider {
	enum provider_kind kind;
	char *url; /* request URL (twilio: with the account) */
	char *user, *password;
	char *twilio_sender;
	bool twilio_service; /* sender is a Messaging Service SID */
	char *webhook_ctype, *webhook_body;
	char **webhook_headers;
	size_t webhook_nheaders;
	FILE *dev_out;
	bool dev_close;
};

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

void provider_free(struct provider *p)
{
	if (!p)
		return;
	free(p->url);
	if (p->password)
		sodium_memzero(p->password, strlen(p->password));
	free(p->user);
	free(p->password);
	free(p->twilio_sender);
	free(p->webhook_ctype);
	free(p->webhook_body);
	for (size_t i = 0; i < p->webhook_nheaders; i++)
		free(p->webhook_headers[i]);
	free(p->webhook_headers);
	if (p->dev_out && p->dev_close)
		fclose(p->dev_out);
	free(p);
}

static void need(const struct cfg *cfg, enum cfg_id id, const char *name,
		 const char *why, char *errstr, size_t errstr_size, int *bad)
{
	const char *v = cfg_str(cfg, id);
	size_t len = strlen(errstr);

	if (v && *v)
		return;
	(*bad)++;
	snprintf(errstr + len, errstr_size - len, "%s%s is required %s",
		 len ? "; " : "", name, why);
}

struct provider *provider_new(const struct cfg *cfg, char *errstr,
			      size_t errstr_size)
{
	const char *name = cfg_str(cfg, CFG_OTPFLOW_SMS_PROVIDER);
	struct provider *p = calloc(1, sizeof(*p));
	int bad = 0;

	errstr[0] = '\0';
	if (!p) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (strcmp(name, "dev") == 0) {
		const char *out = cfg_str(cfg, CFG_OTPFLOW_SMS_DEV_OUTPUT);

		p->kind = PROVIDER_DEV;
		if (!out || !*out || strcmp(out, "-") == 0) {
			p->dev_out = stdout;
		} else {
			p->dev_out = fopen(out, "a");
			p->dev_close = true;
			if (!p->dev_out) {
				snprintf(
					errstr, errstr_size,
					"OTPFLOW_SMS_DEV_OUTPUT: cannot open %s",
					out);
				goto fail;
			}
		}
	} else if (strcmp(name, "twilio") == 0) {
		const char *sid = cfg_str(cfg, CFG_AUTH_SMS_TWILIO_ACCOUNT_SID);
		const char *from =
			cfg_str(cfg, CFG_AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID);
		const char *base =
			cfg_str(cfg, CFG_OTPFLOW_SMS_TWILIO_BASE_URL);
		size_t n;

		p->kind = PROVIDER_TWILIO;
		need(cfg, CFG_AUTH_SMS_TWILIO_ACCOUNT_SID,
		     "AUTH_SMS_TWILIO_ACCOUNT_SID", "by the twilio provider",
		     errstr, errstr_size, &bad);
		need(cfg, CFG_AUTH_SMS_TWILIO_AUTH_TOKEN,
		     "AUTH_SMS_TWILIO_AUTH_TOKEN", "by the twilio provider",
		     errstr, errstr_size, &bad);
		need(cfg, CFG_AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID,
		     "AUTH_SMS_TWILIO_MESSAGING_SERVICE_ID",
		     "by the twilio provider", errstr, errstr_size, &bad);
		if (bad)
			goto fail;
		if (strncmp(sid, "VA", 2) == 0) {
			/* Nhost then uses Twilio Verify, which makes its own
			 * codes: they would not match our otp_hash. */
			snprintf(errstr, errstr_size,
				 "AUTH_SMS_TWILIO_ACCOUNT_SID: Twilio Verify "
				 "services (VA...) are not supported");
			goto fail;
		}
		n = strlen(base) + strlen(sid) + 64;
		p->url = malloc(n);
		if (p->url)
			snprintf(p->url, n,
				 "%s%s2010-04-01/Accounts/%s/Messages.json",
				 base,
				 base[0] && base[strlen(base) - 1] == '/' ? "" :
									    "/",
				 sid);
		p->user = strdup(sid);
		p->password = dup_or_empty(
			cfg_str(cfg, CFG_AUTH_SMS_TWILIO_AUTH_TOKEN));
		p->twilio_sender = strdup(from);
		p->twilio_service = strncmp(from, "MG", 2) == 0;
	} else if (strcmp(name, "modica") == 0) {
		const char *base =
			cfg_str(cfg, CFG_OTPFLOW_SMS_MODICA_BASE_URL);
		size_t n = strlen(base) + 64;

		p->kind = PROVIDER_MODICA;
		need(cfg, CFG_AUTH_SMS_MODICA_USERNAME,
		     "AUTH_SMS_MODICA_USERNAME", "by the modica provider",
		     errstr, errstr_size, &bad);
		need(cfg, CFG_AUTH_SMS_MODICA_PASSWORD,
		     "AUTH_SMS_MODICA_PASSWORD", "by the modica provider",
		     errstr, errstr_size, &bad);
		if (bad)
			goto fail;
		p->url = malloc(n);
		if (p->url)
			snprintf(p->url, n, "%s%srest/sms/v2/messages", base,
				 base[0] && base[strlen(base) - 1] == '/' ?
					 "" :
					 "/");
		p->user = strdup(cfg_str(cfg, CFG_AUTH_SMS_MODICA_USERNAME));
		p->password =
			strdup(cfg_str(cfg, CFG_AUTH_SMS_MODICA_PASSWORD));
	} else if (strcmp(name, "webhook") == 0) {
		char *const *h = cfg_list(cfg, CFG_OTPFLOW_SMS_WEBHOOK_HEADERS);

		p->kind = PROVIDER_WEBHOOK;
		need(cfg, CFG_OTPFLOW_SMS_WEBHOOK_URL,
		     "OTPFLOW_SMS_WEBHOOK_URL", "by the webhook provider",
		     errstr, errstr_size, &bad);
		if (bad)
			goto fail;
		p->url = strdup(cfg_str(cfg, CFG_OTPFLOW_SMS_WEBHOOK_URL));
		p->webhook_ctype = dup_or_empty(
			cfg_str(cfg, CFG_OTPFLOW_SMS_WEBHOOK_CONTENT_TYPE));
		p->webhook_body = dup_or_empty(
			cfg_str(cfg, CFG_OTPFLOW_SMS_WEBHOOK_BODY));
		while (h[p->webhook_nheaders])
			p->webhook_nheaders++;
		p->webhook_headers =
			calloc(p->webhook_nheaders + 1, sizeof(char *));
		for (size_t i = 0;
		     p->webhook_headers && i < p->webhook_nheaders; i++) {
			if (!strchr(h[i], ':')) {
				snprintf(
					errstr, errstr_size,
					"OTPFLOW_SMS_WEBHOOK_HEADERS: item %zu "
					"is not \"Name: value\"",
					i + 1);
				goto fail;
			}
			p->webhook_headers[i] = strdup(h[i]);
		}
	} else {
		snprintf(errstr, errstr_size,
			 "OTPFLOW_SMS_PROVIDER: '%s' is not "
			 "one of twilio, modica, webhook, dev",
			 name);
		goto fail;
	}
	if (p->kind != PROVIDER_DEV && !p->url) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	return p;
fail:
	provider_free(p);
	return NULL;
}

enum provider_kind provider_kind(const struct provider *p)
{
	return p->kind;
}

const char *provider_name(const struct provider *p)
{
	static const char *const names[] = { "dev", "twilio", "modica",
					     "webhook" };
	return names[p->kind];
}

int provider_escape_json(const char *v, char *out, size_t out_size)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
		char tmp[8];
		size_t k;

		if (*s == '"' || *s == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*s;
			k = 2;
		} else if (*s == '\n') {
			memcpy(tmp, "\\n", 2);
			k = 2;
		} else if (*s < 0x20) {
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", *s);
		} else {
			tmp[0] = (char)*s;
			k = 1;
		}
		if (n + k >= out_size)
			return -1;
		memcpy(out + n, tmp, k);
		n += k;
	}
	if (n >= out_size)
		return -1;
	out[n] = '\0';
	return (int)n;
}

int provider_escape_form(const char *v, char *out, size_t out_size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.' || *s == '~') {
			if (n + 1 >= out_size)
				return -1;
			out[n++] = (char)*s;
		} else {
			if (n + 3 >= out_size)
				return -1;
			out[n++] = '%';
			out[n++] = hex[*s >> 4];
			out[n++] = hex[*s & 15];
		}
	}
	if (n >= out_size)
		return -1;
	out[n] = '\0';
	return (int)n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct provider_req *req = arg;
	size_t n = size * nmemb;
	size_t room = PROVIDER_BODY_MAX - req->resp_len;

	if (!req->resp) {
		req->resp = malloc(PROVIDER_BODY_MAX + 1);
		if (!req->resp)
			return 0;
	}
	if (n > room)
		n = room; /* keep the start, drop the rest */
	memcpy(req->resp + req->resp_len, data, n);
	req->resp_len += n;
	req->resp[req->resp_len] = '\0';
	return size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct provider_req *req = arg;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 &&
	    strncasecmp(data, name, sizeof(name) - 1) == 0) {
		size_t k = n - (sizeof(name) - 1);

		if (k >= sizeof(req->retry_after))
			k = sizeof(req->retry_after) - 1;
		memcpy(req->retry_after, data + sizeof(name) - 1, k);
		req->retry_after[k] = '\0';
		req->retry_after[strcspn(req->retry_after, "\r\n")] = '\0';
	}
	return n;
}

/* Builds the payload into a fresh buffer; -1 if too large. */
static int build_payload(const struct provider *p, const char *to,
			 const char *body, struct provider_req *req)
{
	size_t cap = 2 * PROVIDER_BODY_MAX;
	const char *names[] = { "to", "body" };
	const char *values[] = { to, body };
	char a[1024], b[3 * 1700], c[1024];
	int n;

	req->payload = malloc(cap);
	if (!req->payload)
		return -1;
	switch (p->kind) {
	case PROVIDER_TWILIO:
		if (provider_escape_form(to, a, sizeof(a)) < 0 ||
		    provider_escape_form(body, b, sizeof(b)) < 0 ||
		    provider_escape_form(p->twilio_sender, c, sizeof(c)) < 0)
			return -1;
		n = snprintf(req->payload, cap, "To=%s&%s=%s&Body=%s", a,
			     p->twilio_service ? "MessagingServiceSid" : "From",
			     c, b);
		sodium_memzero(b, sizeof(b));
		break;
	case PROVIDER_MODICA:
		if (provider_escape_json(to, a, sizeof(a)) < 0 ||
		    provider_escape_json(body, b, sizeof(b)) < 0)
			return -1;
		n = snprintf(req->payload, cap,
			     "{\"destination\":\"%s\",\"content\":\"%s\"}", a,
			     b);
		sodium_memzero(b, sizeof(b));
		break;
	case PROVIDER_WEBHOOK: {
		template_escape_fn esc =
			strncasecmp(p->webhook_ctype, "application/json", 16) ==
					0 ?
				provider_escape_json :
			strncasecmp(p->webhook_ctype,
				    "application/x-www-form-urlencoded",
				    33) == 0 ?
				provider_escape_form :
				NULL;
		n = template_subst(p->webhook_body, names, values, 2, esc,
				   req->payload, cap);
		break;
	}
	default:
		return -1;
	}
	if (n < 0 || (size_t)n >= cap)
		return -1;
	req->payload_len = (size_t)n;
	return 0;
}

int provider_request(const struct provider *p, const char *to, const char *body,
		     long connect_timeout_ms, long timeout_ms,
		     struct provider_req *req, char *errstr, size_t errstr_size)
{
	CURL *e;

	if (build_payload(p, to, body, req) < 0) {
		snprintf(errstr, errstr_size, "SMS body too long for %s",
			 provider_name(p));
		return -1;
	}
	e = curl_easy_init();
	if (!e) {
		snprintf(errstr, errstr_size, "curl_easy_init failed");
		return -1;
	}
	req->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, p->url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->payload);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->payload_len);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->curl_err);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "otpflow-sender");
	if (p->user) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERNAME, p->user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, p->password);
	}
	req->headers = curl_slist_append(NULL, "Expect:");
	if (p->kind == PROVIDER_TWILIO)
		req->headers = curl_slist_append(
			req->headers,
			"Content-Type: application/x-www-form-urlencoded");
	else if (p->kind == PROVIDER_MODICA)
		req->headers = curl_slist_append(
			req->headers, "Content-Type: application/json");
	else if (p->kind == PROVIDER_WEBHOOK) {
		char ct[256];

		snprintf(ct, sizeof(ct), "Content-Type: %s", p->webhook_ctype);
		req->headers = curl_slist_append(req->headers, ct);
		for (size_t i = 0; i < p->webhook_nheaders; i++)
			req->headers = curl_slist_append(req->headers,
							 p->webhook_headers[i]);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	return 0;
}

void provider_req_cleanup(struct provider_req *req)
{
	if (req->easy)
		curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	if (req->payload) {
		sodium_memzero(req->payload, req->payload_len);
		free(req->payload);
	}
	free(req->resp);
	memset(req, 0, sizeof(*req));
}

/* Copies a JSON member that is a string or an integer as text. */
static void json_text(json_t *obj, const char *key, char *out, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		snprintf(out, size, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
}

void provider_result(const struct provider *p, struct provider_req *req,
		     CURLcode rc, int64_t now_ms, struct sms_outcome *o,
		     int64_t *retry_after_ms, char msgid[PROVIDER_MSGID_SIZE],
		     char error[PROVIDER_ERROR_SIZE])
{
	long status = 0;

	memset(o, 0, sizeof(*o));
	msgid[0] = error[0] = '\0';
	*retry_after_ms = 0;
	if (rc != CURLE_OK) {
		switch (rc) {
		case CURLE_OPERATION_TIMEDOUT:
			o->transport = SMS_TRANSPORT_TIMEOUT;
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			o->transport = SMS_TRANSPORT_CONNECT;
			break;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
			o->transport = SMS_TRANSPORT_TLS;
			break;
		default:
			o->transport = SMS_TRANSPORT_OTHER;
		}
		/* curl's text names host and port, never credentials. */
		snprintf(error, PROVIDER_ERROR_SIZE, "%.60s: %.180s",
			 curl_easy_strerror(rc),
			 req->curl_err[0] ? req->curl_err : "no detail");
		return;
	}
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	provider_parse_answer(p->kind, status, req->resp, req->resp_len,
			      req->retry_after, now_ms, o, retry_after_ms,
			      msgid, error);
}

void provider_parse_answer(enum provider_kind kind, long status,
			   const char *body, size_t body_len,
			   const char *retry_after, int64_t now_ms,
			   struct sms_outcome *o, int64_t *retry_after_ms,
			   char msgid[PROVIDER_MSGID_SIZE],
			   char error[PROVIDER_ERROR_SIZE])
{
	json_t *doc = NULL;

	memset(o, 0, sizeof(*o));
	msgid[0] = error[0] = '\0';
	o->http_status = status;
	*retry_after_ms = retry_after_parse(retry_after, now_ms);
	if (body)
		doc = json_loadb(body, body_len, 0, NULL);
	if (json_is_object(doc)) {
		json_text(doc, "code", o->provider_code,
			  sizeof(o->provider_code));
		json_text(doc, "error_code", o->provider_code,
			  sizeof(o->provider_code));
		json_text(doc, "id", msgid, PROVIDER_MSGID_SIZE);
		json_text(doc, "message_id", msgid, PROVIDER_MSGID_SIZE);
		json_text(doc, "sid", msgid, PROVIDER_MSGID_SIZE);
		json_text(doc, "message", error, PROVIDER_ERROR_SIZE);
		if (!error[0])
			json_text(doc, "error", error, PROVIDER_ERROR_SIZE);
	} else if (json_is_array(doc) && kind == PROVIDER_MODICA) {
		json_t *first = json_array_get(doc, 0);

		if (json_is_object(first))
			json_text(first, "id", msgid, PROVIDER_MSGID_SIZE);
	}
	json_decref(doc);
	if (status < 200 || status >= 300) {
		char detail[PROVIDER_ERROR_SIZE];

		snprintf(detail, sizeof(detail), "%s", error);
		snprintf(error, PROVIDER_ERROR_SIZE, "HTTP %ld%s%.31s%s%.180s",
			 status, o->provider_code[0] ? " code " : "",
			 o->provider_code, detail[0] ? ": " : "", detail);
		msgid[0] = '\0';
	} else {
		error[0] = '\0';
		o->provider_code[0] = '\0';
	}
}

int provider_dev_send(struct provider *p, const char *to, const char *body,
		      const char *otp_id, int64_t sent_at_ms, char *errstr,
		      size_t errstr_size)
{
	json_t *line = json_pack("{s:s, s:s, s:s, s:I}", "to", to, "body", body,
				 "otp_id", otp_id, "sent_at",
				 (json_int_t)sent_at_ms);
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(line);
	if (!text) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	if (fprintf(p->dev_out, "%s\n", text) < 0 || fflush(p->dev_out) != 0)
		snprintf(errstr, errstr_size, "dev output: write failed");
	else
		rc = 0;
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}
