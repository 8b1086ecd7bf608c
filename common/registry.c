/*
 * Schema registry REST calls. Responses are read into a buffer capped at
 * 1 MiB; anything larger is an error, not an allocation.
 */
#include "registry.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MAX (1 << 20)

struct response {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t add = size * n;
	char *grown;

	if (r->len + add > RESPONSE_MAX) {
		r->too_big = true;
		return 0;
	}
	grown = realloc(r->buf, r->len + add + 1);
	if (!grown)
		return 0;
	r->buf = grown;
	memcpy(r->buf + r->len, p, add);
	r->len += add;
	r->buf[r->len] = '\0';
	return add;
}

/* Performs one request; on 2xx *body is the parsed JSON (caller decrefs). */
static int call(const char *full_url, const char *post_body, long timeout_ms,
		json_t **body, char *errstr, size_t errstr_size)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct response r = { 0 };
	long status = 0;
	CURLcode cc;
	int rc = -1;

	if (!h) {
		snprintf(errstr, errstr_size, "curl init failed");
		return -1;
	}
	hdrs = curl_slist_append(
		hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
	curl_easy_setopt(h, CURLOPT_URL, full_url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	if (post_body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post_body);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		snprintf(errstr, errstr_size, "%s%s", curl_easy_strerror(cc),
			 r.too_big ? " (response over 1 MiB)" : "");
		if (!r.too_big)
			rc = REGISTRY_RETRY_LATER;
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(errstr, errstr_size, "HTTP %ld: %.200s", status,
			 r.buf ? r.buf : "");
		if (status >= 500 || status == 408 || status == 429)
			rc = REGISTRY_RETRY_LATER;
		goto out;
	}
	*body = r.buf ? json_loads(r.buf, 0, NULL) : NULL;
	if (!*body) {
		snprintf(errstr, errstr_size, "response is not JSON");
		rc = REGISTRY_RETRY_LATER; /* a proxy's page, say */
		goto out;
	}
	rc = 0;
out:
	free(r.buf);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return rc;
}

int registry_register(const char *url, const char *subject,
		      const char *schema_json, long timeout_ms, int32_t *id,
		      char *errstr, size_t errstr_size)
{
	json_t *req = json_pack("{s:s}", "schema", schema_json);
	json_t *body = NULL;
	char *req_text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	char full[1024];
	int rc = -1;

	if (!req_text) {
		snprintf(errstr, errstr_size, "out of memory");
		goto out;
	}
	snprintf(full, sizeof(full), "%s/subjects/%s/versions", url, subject);
	rc = call(full, req_text, timeout_ms, &body, errstr, errstr_size);
	if (rc)
		goto out;
	rc = -1;
	if (!json_is_integer(json_object_get(body, "id"))) {
		snprintf(errstr, errstr_size, "response has no id");
		goto out;
	}
	*id = (int32_t)json_integer_value(json_object_get(body, "id"));
	rc = 0;
out:
	json_decref(body);
	json_decref(req);
	free(req_text);
	return rc;
}

int registry_fetch(const char *url, int32_t id, long timeout_ms,
		   char **schema_json, char *errstr, size_t errstr_size)
{
	json_t *body = NULL;
	const char *schema;
	char full[1024];
	int rc = -1;

	snprintf(full, sizeof(full), "%s/schemas/ids/%d", url, (int)id);
	rc = call(full, NULL, timeout_ms, &body, errstr, errstr_size);
	if (rc)
		goto out;
	rc = -1;
	schema = json_string_value(json_object_get(body, "schema"));
	if (!schema) {
		snprintf(errstr, errstr_size, "response has no schema");
		goto out;
	}
	*schema_json = strdup(schema);
	rc = *schema_json ? 0 : -1;
out:
	json_decref(body);
	return rc;
}
