/*
 * Outcome classification table. Twilio's codes come from its error
 * dictionary: 21211 invalid 'To', 21610 unsubscribed recipient, 21614 not a
 * mobile number, 21408 region not enabled, 21612 unreachable route, 21617
 * body too long are about this message and permanent; 20003 (authenticate),
 * 21606/21659 (bad 'From') are our configuration; 20429 (too many
 * requests), 30001 (queue overflow), 20500/20503 (Twilio internal) pass.
 */
#include "classify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rule_kind { RULE_CODE, RULE_STATUS, RULE_STATUS_CLASS, RULE_TRANSPORT };

struct rule {
	enum rule_kind kind;
	long num; /* status, class digit (5 for 5xx) or transport */
	char code[32]; /* RULE_CODE */
	enum sms_class cls;
};

#define RULES_MAX 256

struct classifier {
	struct rule v[RULES_MAX];
	size_t n;
};

static const char *const builtin[] = {
	"2xx=success",		"1xx=transient",	"3xx=permanent",
	"4xx=permanent",	"5xx=transient",	"401=config",
	"403=config",		"408=transient",	"425=transient",
	"429=transient",	"timeout=transient",	"connect=transient",
	"other=transient",	"tls=config",		"code:21211=permanent",
	"code:21610=permanent", "code:21614=permanent", "code:21408=permanent",
	"code:21612=permanent", "code:21617=permanent", "code:21602=permanent",
	"code:20003=config",	"code:20404=config",	"code:21606=config",
	"code:21659=config",	"code:20429=transient", "code:30001=transient",
	"code:20500=transient", "code:20503=transient", NULL
};

static const char *const class_names[] = { "success", "transient", "permanent",
					   "config" };
static const char *const transport_names[] = { "", "timeout", "connect", "tls",
					       "other" };

const char *sms_class_name(enum sms_class cls)
{
	return (unsigned)cls < 4 ? class_names[cls] : "?";
}

static int parse_rule(const char *item, struct rule *r)
{
	const char *eq = strchr(item, '=');
	char key[64];
	size_t klen;
	int i;

	if (!eq || eq == item || (klen = (size_t)(eq - item)) >= sizeof(key))
		return -1;
	memcpy(key, item, klen);
	key[klen] = '\0';
	for (i = 0; i < 4; i++)
		if (strcmp(eq + 1, class_names[i]) == 0)
			break;
	if (i == 4)
		return -1;
	memset(r, 0, sizeof(*r));
	r->cls = (enum sms_class)i;
	if (strncmp(key, "code:", 5) == 0) {
		if (!key[5] || strlen(key + 5) >= sizeof(r->code))
			return -1;
		r->kind = RULE_CODE;
		snprintf(r->code, sizeof(r->code), "%s", key + 5);
		return 0;
	}
	for (i = 1; i < 5; i++)
		if (strcmp(key, transport_names[i]) == 0) {
			r->kind = RULE_TRANSPORT;
			r->num = i;
			return 0;
		}
	if (klen != 3 || key[0] < '1' || key[0] > '5')
		return -1;
	if (strcmp(key + 1, "xx") == 0) {
		r->kind = RULE_STATUS_CLASS;
		r->num = key[0] - '0';
		return 0;
	}
	if (!isdigit((unsigned char)key[1]) || !isdigit((unsigned char)key[2]))
		return -1;
	r->kind = RULE_STATUS;
	r->num = strtol(key, NULL, 10);
	return 0;
}

struct classifier *classifier_new(char *const *overrides, char *errstr,
				  size_t errstr_size)
{
	struct classifier *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	/* Overrides first: the first matching rule of a kind wins. */
	for (char *const *o = overrides; o && *o; o++) {
		if (c->n == RULES_MAX || parse_rule(*o, &c->v[c->n]) < 0) {
			snprintf(
				errstr, errstr_size,
				"OTPFLOW_SMS_CLASSIFY: bad item '%s' (want "
				"KEY=CLASS, KEY 429, 5xx, code:21211, timeout, "
				"connect, tls or other; CLASS success, "
				"transient, permanent or config)",
				*o);
			free(c);
			return NULL;
		}
		c->n++;
	}
	for (const char *const *b = builtin; *b; b++)
		if (parse_rule(*b, &c->v[c->n]) == 0)
			c->n++;
	return c;
}

void classifier_free(struct classifier *c)
{
	free(c);
}

static int find(const struct classifier *c, enum rule_kind kind, long num,
		const char *code, enum sms_class *out)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct rule *r = &c->v[i];

		if (r->kind != kind)
			continue;
		if (kind == RULE_CODE ? strcmp(r->code, code) == 0 :
					r->num == num) {
			*out = r->cls;
			return 1;
		}
	}
	return 0;
}

enum sms_class classify(const struct classifier *c, const struct sms_outcome *o)
{
	enum sms_class cls = SMS_TRANSIENT;

	if (o->transport != SMS_TRANSPORT_NONE) {
		find(c, RULE_TRANSPORT, o->transport, NULL, &cls);
		return cls;
	}
	if (o->provider_code[0] &&
	    find(c, RULE_CODE, 0, o->provider_code, &cls))
		return cls;
	if (find(c, RULE_STATUS, o->http_status, NULL, &cls))
		return cls;
	if (o->http_status >= 100 && o->http_status < 600 &&
	    find(c, RULE_STATUS_CLASS, o->http_status / 100, NULL, &cls))
		return cls;
	return SMS_TRANSIENT; /* no sensible answer: try again later */
}
