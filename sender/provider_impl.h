/*
 * Inside the providers (not for the engine): the operations table each
 * provider fills (one file per provider: provider_twilio.c,
 * provider_modica.c, provider_webhook.c, provider_dev.c) and the state
 * they share with the common request and answer code in provider.c.
 */
#ifndef OTPFLOW_SENDER_PROVIDER_IMPL_H
#define OTPFLOW_SENDER_PROVIDER_IMPL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "provider.h"

struct provider_ops {
	const char *name; /* the OTPFLOW_SMS_PROVIDER word */
	enum provider_kind kind;
	/* Reads the provider's settings into p: 0, or -1 with every missing
	 * or bad setting named in errstr. */
	int (*init)(struct provider *p, const struct cfg *cfg, char *errstr,
		    size_t errstr_size);
	/* The request body for (to, body) in out (cap bytes with the NUL):
	 * its length, or -1 if it does not fit. NULL: no HTTP request. */
	int (*payload)(const struct provider *p, const char *to,
		       const char *body, char *out, size_t cap);
	/* Appends the request's headers (Content-Type, extra headers). */
	struct curl_slist *(*headers)(const struct provider *p,
				      struct curl_slist *h);
	/* The message id of a 2xx answer whose JSON is not an object (may
	 * be NULL: none). */
	void (*msgid_other)(const json_t *doc, char msgid[PROVIDER_MSGID_SIZE]);
	/* Frees what init allocated beyond the shared fields (may be NULL). */
	void (*fini)(struct provider *p);
};

struct provider {
	const struct provider_ops *ops;
	char *url; /* request URL (twilio: with the account) */
	char *user, *password; /* HTTP Basic, NULL: none */
	/* twilio */
	char *twilio_sender;
	bool twilio_service; /* sender is a Messaging Service SID */
	/* webhook */
	char *webhook_ctype, *webhook_body;
	char **webhook_headers;
	size_t webhook_nheaders;
	/* dev */
	FILE *dev_out;
	bool dev_close;
};

extern const struct provider_ops provider_twilio_ops;
extern const struct provider_ops provider_modica_ops;
extern const struct provider_ops provider_webhook_ops;
extern const struct provider_ops provider_dev_ops;

/* Appends "NAME is required WHY" to errstr and counts it in *bad when the
 * variable id is empty. */
void provider_need(const struct cfg *cfg, enum cfg_id id, const char *name,
		   const char *why, char *errstr, size_t errstr_size, int *bad);

/* base + "/" (unless base ends with one) + path, malloc'd (NULL when out
 * of memory); the caller frees it. */
char *provider_url(const char *base, const char *path);

/* Copies the member key of obj when it is a string or an integer, as
 * text, into out (size bytes); leaves out alone otherwise. */
void provider_json_text(const json_t *obj, const char *key, char *out,
			size_t size);

/* strdup of s, "" for NULL (NULL only when out of memory). */
char *provider_strdup(const char *s);

#endif
