/*
 * The one place where a provider outcome is classified (docs/api.md §4): success,
 * transient (retry later), permanent (dead letter at once) or config
 * (provider refuses our credentials: pause, do not dead-letter). The
 * decision is a table of rules, built in and overridable from
 * OTPFLOW_SMS_CLASSIFY; a provider error code wins over an exact HTTP
 * status, which wins over a status class (5xx).
 */
#ifndef OTPFLOW_SENDER_CLASSIFY_H
#define OTPFLOW_SENDER_CLASSIFY_H

#include <stddef.h>

enum sms_class { SMS_SUCCESS, SMS_TRANSIENT, SMS_PERMANENT, SMS_CONFIG };

/* Transport failures (no HTTP answer). */
enum sms_transport {
	SMS_TRANSPORT_NONE, /* an HTTP answer arrived */
	SMS_TRANSPORT_TIMEOUT, /* connect or total timeout */
	SMS_TRANSPORT_CONNECT, /* refused, reset, DNS, closed early */
	SMS_TRANSPORT_TLS, /* certificate verification failed */
	SMS_TRANSPORT_OTHER,
};

struct sms_outcome {
	enum sms_transport transport;
	long http_status; /* 0 without an answer */
	char provider_code[32]; /* "" when the provider gave none */
};

struct classifier;

/*
 * The built-in table plus overrides (NULL-terminated "KEY=CLASS" items, may
 * be NULL): KEY is a status (429), a status class (5xx), "code:<provider
 * code>" or a transport failure (timeout, connect, tls, other); CLASS is
 * success, transient, permanent or config. NULL with errstr naming the bad
 * item; the caller owns the result.
 */
struct classifier *classifier_new(char *const *overrides, char *errstr,
				  size_t errstr_size);

void classifier_free(struct classifier *c);

enum sms_class classify(const struct classifier *c,
			const struct sms_outcome *o);

/* "success", "transient", "permanent", "config" (static storage). */
const char *sms_class_name(enum sms_class cls);

#endif
