/*
 * What every provider shares: choosing the provider from the configuration,
 * the libcurl request (timeouts, TLS verification, Basic auth, capped
 * answer body, Retry-After) around the body and headers its operations
 * build, and reading the answer into an outcome. The providers themselves
 * are operations tables (provider_impl.h), one file each; the sending loop
 * does not know which one runs.
 */
#include "provider.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider_impl.h"
#include "retry.h"
#include "utf8.h"

/* Error texts: "<what>: <detail>" and "HTTP <status> code <code>: <detail>"
 * always fit PROVIDER_ERROR_SIZE whole. */
#define ERROR_WHAT_SIZE 61
#define ERROR_DETAIL_SIZE 181

static const struct provider_ops *const providers[] = {
	&provider_dev_ops,
	&provider_twilio_ops,
	&provider_modica_ops,
	&provider_webhook_ops,
};
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

char *provider_strdup(const char *s)
{
	return strdup(s ? s : "");
}

char *provider_url(const char *base, const char *path)
{
	size_t n = strlen(base) + strlen(path) + 2;
	char *url = malloc(n);

	if (url)
		snprintf(url, n, "%s%s%s", base,
			 base[0] && base[strlen(base) - 1] == '/' ? "" : "/",
			 path);
	return url;
}

void provider_free(struct provider *p)
{
	if (!p)
		return;
	if (p->ops && p->ops->fini)
		p->ops->fini(p);
	free(p->url);
	if (p->password)
		sodium_memzero(p->password, strlen(p->password));
	free(p->user);
	free(p->password);
	free(p);
}

void provider_need(const struct cfg *cfg, enum cfg_id id, const char *name,
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

	errstr[0] = '\0';
	if (!p) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < NPROVIDERS; i++)
		if (strcmp(name, providers[i]->name) == 0)
			p->ops = providers[i];
	if (!p->ops) {
		snprintf(errstr, errstr_size,
			 "OTPFLOW_SMS_PROVIDER: '%s' is not "
			 "one of twilio, modica, webhook, dev",
			 name);
		goto fail;
	}
	if (p->ops->init(p, cfg, errstr, errstr_size) < 0)
		goto fail;
	if (p->ops->payload && !p->url) {
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
	return p->ops->kind;
}

const char *provider_name(const struct provider *p)
{
	return p->ops->name;
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
	int n;

	req->payload = malloc(cap);
	if (!req->payload || !p->ops->payload)
		return -1;
	n = p->ops->payload(p, to, body, req->payload, cap);
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
	req->headers = p->ops->headers(p, req->headers);
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

/* Copies outside text into out, cut on a character boundary. */
static void cut(char *out, size_t size, const char *text)
{
	utf8_copy(out, size, text, strlen(text));
}

void provider_json_text(const json_t *obj, const char *key, char *out,
			size_t size)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		utf8_copy(out, size, json_string_value(v),
			  json_string_length(v));
	else if (json_is_integer(v))
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
}

void provider_result(const struct provider *p, struct provider_req *req,
		     CURLcode rc, int64_t now_ms, struct sms_outcome *o,
		     int64_t *retry_after_ms, char msgid[PROVIDER_MSGID_SIZE],
		     char error[PROVIDER_ERROR_SIZE])
{
	long status = 0;
	char what[ERROR_WHAT_SIZE], detail[ERROR_DETAIL_SIZE];

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
		cut(what, sizeof(what), curl_easy_strerror(rc));
		cut(detail, sizeof(detail),
		    req->curl_err[0] ? req->curl_err : "no detail");
		snprintf(error, PROVIDER_ERROR_SIZE, "%s: %s", what, detail);
		return;
	}
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	provider_parse_answer(p->ops->kind, status, req->resp, req->resp_len,
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
		provider_json_text(doc, "code", o->provider_code,
				   sizeof(o->provider_code));
		provider_json_text(doc, "error_code", o->provider_code,
				   sizeof(o->provider_code));
		provider_json_text(doc, "id", msgid, PROVIDER_MSGID_SIZE);
		provider_json_text(doc, "message_id", msgid,
				   PROVIDER_MSGID_SIZE);
		provider_json_text(doc, "sid", msgid, PROVIDER_MSGID_SIZE);
		provider_json_text(doc, "message", error, PROVIDER_ERROR_SIZE);
		if (!error[0])
			provider_json_text(doc, "error", error,
					   PROVIDER_ERROR_SIZE);
	} else if (doc) {
		for (size_t i = 0; i < NPROVIDERS; i++)
			if (providers[i]->kind == kind &&
			    providers[i]->msgid_other)
				providers[i]->msgid_other(doc, msgid);
	}
	json_decref(doc);
	if (status < 200 || status >= 300) {
		char detail[ERROR_DETAIL_SIZE];

		/* Whole characters only: the text goes into records. */
		cut(detail, sizeof(detail), error);
		snprintf(error, PROVIDER_ERROR_SIZE, "HTTP %ld%s%s%s%s", status,
			 o->provider_code[0] ? " code " : "", o->provider_code,
			 detail[0] ? ": " : "", detail);
		msgid[0] = '\0';
	} else {
		error[0] = '\0';
		o->provider_code[0] = '\0';
	}
}
