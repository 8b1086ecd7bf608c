/*
 * SMS providers (docs/api.md §4): how one SMS becomes an HTTP request and how the
 * answer becomes an sms_outcome. twilio (Messages API form POST, Basic
 * auth), modica (Mobile Gateway REST v2, as Nhost: JSON POST, Basic auth,
 * 202), webhook (generic POST from a body template) and dev (a JSON line
 * appended to a file, no HTTP). Requests are libcurl easy handles driven by
 * the caller's multi handle; TLS verification stays on; credentials go
 * into curl options only, never into logs or error strings.
 */
#ifndef OTPFLOW_SENDER_PROVIDER_H
#define OTPFLOW_SENDER_PROVIDER_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "config.h"

#define PROVIDER_MSGID_SIZE 128
#define PROVIDER_ERROR_SIZE 256
#define PROVIDER_BODY_MAX 16384 /* cap of a provider answer kept */

enum provider_kind {
	PROVIDER_DEV,
	PROVIDER_TWILIO,
	PROVIDER_MODICA,
	PROVIDER_WEBHOOK
};

struct provider;

/* One request in flight; owned by the caller, filled by the provider. */
struct provider_req {
	CURL *easy;
	struct curl_slist *headers;
	char *payload; /* request body: holds the code, wiped on cleanup */
	size_t payload_len;
	char *resp; /* answer body, capped at PROVIDER_BODY_MAX */
	size_t resp_len;
	char retry_after[64];
	char curl_err[CURL_ERROR_SIZE];
};

/*
 * From the configuration (OTPFLOW_SMS_PROVIDER and its variables). NULL
 * with every missing or bad setting named in errstr. The caller owns the
 * result.
 */
struct provider *provider_new(const struct cfg *cfg, char *errstr,
			      size_t errstr_size);
void provider_free(struct provider *p);

enum provider_kind provider_kind(const struct provider *p);
/* "twilio", "modica", "webhook", "dev" (static storage). */
const char *provider_name(const struct provider *p);

/*
 * Prepares req for sending body to `to` (HTTP providers). 0 on success;
 * req->easy is then ready for curl_multi_add_handle and carries req as
 * CURLOPT_PRIVATE. connect/total timeouts in ms.
 */
int provider_request(const struct provider *p, const char *to, const char *body,
		     long connect_timeout_ms, long timeout_ms,
		     struct provider_req *req, char *errstr,
		     size_t errstr_size);

/*
 * Turns a finished request into an outcome, the provider's message id
 * (msgid, may stay "") and a short error text (never containing
 * credentials; the caller scrubs the code). *retry_after_ms is the parsed
 * Retry-After (0 if none).
 */
void provider_result(const struct provider *p, struct provider_req *req,
		     CURLcode rc, int64_t now_ms, struct sms_outcome *o,
		     int64_t *retry_after_ms, char msgid[PROVIDER_MSGID_SIZE],
		     char error[PROVIDER_ERROR_SIZE]);

/*
 * The answer-reading half of provider_result, without curl: HTTP status,
 * body (may be NULL; not NUL-terminated), the Retry-After value ("" when
 * absent). The provider's answer is untrusted input (fuzzed in
 * tests/fuzz/fuzz_provider.c).
 */
void provider_parse_answer(enum provider_kind kind, long status,
			   const char *body, size_t body_len,
			   const char *retry_after, int64_t now_ms,
			   struct sms_outcome *o, int64_t *retry_after_ms,
			   char msgid[PROVIDER_MSGID_SIZE],
			   char error[PROVIDER_ERROR_SIZE]);

/* Frees the easy handle and buffers (wiping the payload). */
void provider_req_cleanup(struct provider_req *req);

/*
 * dev provider: appends {"to","body","otp_id","sent_at"} as one line.
 * 0 on success.
 */
int provider_dev_send(struct provider *p, const char *to, const char *body,
		      const char *otp_id, int64_t sent_at_ms, char *errstr,
		      size_t errstr_size);

/* Escapers for bodies (template_escape_fn): JSON string content, form. */
int provider_escape_json(const char *v, char *out, size_t out_size);
int provider_escape_form(const char *v, char *out, size_t out_size);

#endif
