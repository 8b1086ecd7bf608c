/*
 * Environment configuration. Everything here is derived from the table in
 * config_vars.h so that parsing, validation, the effective-config log line
 * and the documentation cannot drift apart.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbuf.h"
#include "log.h"

const struct cfg_var cfg_vars[CFG__COUNT] = {
#define X(name, type, def, used, req, flags, desc) \
	{ #name, CFG_T_##type, def, used, req, flags, desc },
	OTPFLOW_CONFIG_VARS(X)
#undef X
};

static const struct {
	enum cfg_id id;
	long long min, max;
} ranges[] = {
#define R(name, min, max) { CFG_##name, min, max },
	OTPFLOW_CONFIG_RANGES(R)
#undef R
};

static const struct {
	enum cfg_id id;
	const char *words; /* space separated */
} choices[] = {
#define C(name, words) { CFG_##name, words },
	OTPFLOW_CONFIG_CHOICES(C)
#undef C
};

static const struct {
	enum cfg_id low, high;
} orders[] = {
#define O(low, high) { CFG_##low, CFG_##high },
	OTPFLOW_CONFIG_ORDERS(O)
#undef O
};

#define COUNT(a) (sizeof(a) / sizeof(*(a)))

extern char **environ;

void cfg_error(struct cfg *cfg, const char *fmt, ...)
{
	size_t len = strlen(cfg->errors);
	va_list ap;

	cfg->nerrors++;
	if (len + 2 >= sizeof(cfg->errors))
		return;
	va_start(ap, fmt);
	vsnprintf(cfg->errors + len, sizeof(cfg->errors) - len - 1, fmt, ap);
	va_end(ap);
	len = strlen(cfg->errors);
	cfg->errors[len] = '\n';
	cfg->errors[len + 1] = '\0';
}

bool cfg_parse_duration(const char *s, long long *ms)
{
	static const struct {
		const char *unit;
		long long ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }
	};
	long long total = 0;
	const char *p = s;

	if (!*p)
		return false;
	if (strcmp(p, "0") == 0) {
		*ms = 0;
		return true;
	}
	while (*p) {
		long long n = 0;
		size_t best = 0;
		long long mult = 0;

		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p)) {
			n = n * 10 + (*p++ - '0');
			if (n > 1000000000LL)
				return false;
		}
		/* Longest unit that matches ("ms" before "m"). */
		for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
			size_t ul = strlen(units[i].unit);
			if (ul > best && strncmp(p, units[i].unit, ul) == 0 &&
			    !(ul == 1 && p[0] == 'm' && p[1] == 's')) {
				best = ul;
				mult = units[i].ms;
			}
		}
		if (!best)
			return false;
		p += best;
		total += n * mult;
	}
	*ms = total;
	return true;
}

static bool parse_bool(const char *s, long long *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = 1, true;
		if (strcasecmp(s, no[i]) == 0)
			return *out = 0, true;
	}
	return false;
}

bool cfg_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return false;
	*out = n;
	return true;
}

/* Splits a comma list into trimmed, non-empty items. */
static void parse_list(struct cfg_value *val)
{
	const char *p = val->str ? val->str : "";
	size_t n = 0, cap = 1;

	for (const char *q = p; *q; q++)
		cap += *q == ',';
	val->list = calloc(cap + 1, sizeof(char *));
	if (!val->list)
		abort();
	while (*p) {
		const char *end = strchr(p, ',');
		const char *e = end ? end : p + strlen(p);
		const char *b = p;

		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (e > b)
			val->list[n++] = strndup(b, (size_t)(e - b));
		if (!end)
			break;
		p = end + 1;
	}
	val->list_len = n;
}

static void load_one(struct cfg *cfg, enum cfg_id id)
{
	const struct cfg_var *var = &cfg_vars[id];
	struct cfg_value *val = &cfg->v[id];
	const char *env = getenv(var->name);
	const char *text = env ? env : var->def;
	bool ok = true;

	val->from_env = env != NULL;
	if (!text) {
		if (var->required_by & cfg->user)
			cfg_error(cfg, "%s is required: %s", var->name,
				  var->desc);
		if (var->type == CFG_T_LIST)
			parse_list(val);
		return;
	}
	val->str = strdup(text);
	switch (var->type) {
	case CFG_T_STR:
		if ((var->required_by & cfg->user) && !*text)
			cfg_error(cfg, "%s is required and empty", var->name);
		break;
	case CFG_T_BOOL:
		ok = parse_bool(text, &val->num);
		break;
	case CFG_T_INT:
		ok = cfg_parse_int(text, 0, 2147483647LL, &val->num);
		break;
	case CFG_T_DURATION:
		ok = cfg_parse_duration(text, &val->num);
		break;
	case CFG_T_LIST:
		parse_list(val);
		break;
	}
	if (!ok) {
		static const char *const expect[] = {
			[CFG_T_BOOL] = "true or false",
			[CFG_T_INT] = "a whole number from 0 to 2147483647",
			[CFG_T_DURATION] =
				"a duration such as 250ms, 10s, 5m, 1h",
		};
		val->invalid = true; /* no number to check limits on */
		/* Secrets are never echoed, even when malformed. */
		cfg_error(cfg, "%s: invalid value \"%s\": expected %s",
			  var->name,
			  (var->flags & CFG_SECRET) ? "[redacted]" : text,
			  expect[var->type]);
	}
}

/* True when word is one of the space separated words. */
static bool word_in(const char *words, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = words; *p;) {
		size_t len = strcspn(p, " ");

		if (len == n && n && strncmp(p, word, n) == 0)
			return true;
		p += len;
		p += *p == ' ';
	}
	return false;
}

/* Whether the binary loaded id and it holds a parsed value. */
static bool has_value(const struct cfg *cfg, enum cfg_id id)
{
	return (cfg_vars[id].used_by & cfg->user) && cfg->v[id].str &&
	       *cfg->v[id].str && !cfg->v[id].invalid;
}

/* The limits of config_vars.h, on the variables this binary loaded. */
static void check_limits(struct cfg *cfg)
{
	for (size_t i = 0; i < COUNT(ranges); i++) {
		long long v = cfg->v[ranges[i].id].num;

		if (has_value(cfg, ranges[i].id) &&
		    (v < ranges[i].min || v > ranges[i].max))
			cfg_error(cfg, "%s: \"%s\" is out of range (%s)",
				  cfg_vars[ranges[i].id].name,
				  cfg->v[ranges[i].id].str,
				  cfg_allowed_text(ranges[i].id));
	}
	for (size_t i = 0; i < COUNT(choices); i++)
		if (has_value(cfg, choices[i].id) &&
		    !word_in(choices[i].words, cfg->v[choices[i].id].str))
			cfg_error(cfg, "%s: \"%s\" is not %s",
				  cfg_vars[choices[i].id].name,
				  cfg->v[choices[i].id].str,
				  cfg_allowed_text(choices[i].id));
	for (size_t i = 0; i < COUNT(orders); i++) {
		enum cfg_id lo = orders[i].low, hi = orders[i].high;

		if (has_value(cfg, lo) && has_value(cfg, hi) &&
		    cfg->v[lo].num > cfg->v[hi].num)
			cfg_error(cfg, "%s (%s) must not exceed %s (%s)",
				  cfg_vars[lo].name, cfg->v[lo].str,
				  cfg_vars[hi].name, cfg->v[hi].str);
	}
}

int cfg_load(struct cfg *cfg, unsigned user)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->user = user;
	for (int id = 0; id < CFG__COUNT; id++) {
		if (cfg_vars[id].used_by & user)
			load_one(cfg, (enum cfg_id)id);
		else if (cfg_vars[id].type == CFG_T_LIST)
			parse_list(&cfg->v[id]);
	}
	check_limits(cfg);
	return cfg->nerrors;
}

const char *cfg_allowed_text(enum cfg_id id)
{
	static __thread char text[128];
	const struct cfg_var *var = &cfg_vars[id];

	text[0] = '\0';
	for (size_t i = 0; i < COUNT(ranges); i++) {
		if (ranges[i].id != id)
			continue;
		if (var->type == CFG_T_DURATION)
			snprintf(text, sizeof(text), "%lldms to %lldms",
				 ranges[i].min, ranges[i].max);
		else
			snprintf(text, sizeof(text), "%lld to %lld",
				 ranges[i].min, ranges[i].max);
	}
	for (size_t i = 0; i < COUNT(choices); i++) {
		size_t len = 0;

		if (choices[i].id != id)
			continue;
		for (const char *p = choices[i].words; *p;) {
			size_t n = strcspn(p, " ");

			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%s%.*s",
						len ? ", " : "one of ", (int)n,
						p);
			if (len >= sizeof(text))
				break;
			p += n;
			p += *p == ' ';
		}
	}
	return text;
}

void cfg_free(struct cfg *cfg)
{
	for (int id = 0; id < CFG__COUNT; id++) {
		struct cfg_value *val = &cfg->v[id];
		free(val->str);
		for (size_t i = 0; val->list && i < val->list_len; i++)
			free(val->list[i]);
		free(val->list);
	}
	memset(cfg, 0, sizeof(*cfg));
}

const char *cfg_str(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->v[id].str;
}

bool cfg_bool(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->v[id].num != 0;
}

long long cfg_int(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->v[id].num;
}

long long cfg_ms(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->v[id].num;
}

char *const *cfg_list(const struct cfg *cfg, enum cfg_id id)
{
	return cfg->v[id].list;
}

bool cfg_list_has(const struct cfg *cfg, enum cfg_id id, const char *item)
{
	for (char *const *p = cfg->v[id].list; p && *p; p++)
		if (strcmp(*p, item) == 0)
			return true;
	return false;
}

/* True for librdkafka pass-through names that look like credentials. */
static bool looks_secret(const char *name)
{
	static const char *const words[] = { "PASSWORD", "SECRET", "KEY",
					     "TOKEN", "CREDENTIAL" };
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strstr(name, words[i]))
			return true;
	return false;
}

void cfg_log_effective(const struct cfg *cfg)
{
	char buf[8192];
	struct jsonbuf jb;

	if (!log_enabled(LOG_INFO))
		return;
	jsonbuf_init(&jb, buf, sizeof(buf) - 1);
	jsonbuf_raw(&jb, "{");
	for (int id = 0; id < CFG__COUNT; id++) {
		const struct cfg_var *var = &cfg_vars[id];
		const char *s = cfg->v[id].str;

		if (!(var->used_by & cfg->user))
			continue;
		if (jb.len > 1)
			jsonbuf_raw(&jb, ",");
		jsonbuf_str(&jb, var->name);
		jsonbuf_raw(&jb, ":");
		if (!s)
			jsonbuf_raw(&jb, "null");
		else
			jsonbuf_str(&jb, (var->flags & CFG_SECRET) && *s ?
						 "[redacted]" :
						 s);
	}
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		char name[256];

		if (strncmp(*e, "OTPFLOW_KAFKA_", 14) != 0 || !eq ||
		    (size_t)(eq - *e) >= sizeof(name) ||
		    strncmp(*e, "OTPFLOW_KAFKA_BOOTSTRAP_SERVERS=", 32) == 0)
			continue;
		memcpy(name, *e, (size_t)(eq - *e));
		name[eq - *e] = '\0';
		jsonbuf_raw(&jb, ",");
		jsonbuf_str(&jb, name);
		jsonbuf_raw(&jb, ":");
		jsonbuf_str(&jb, looks_secret(name) ? "[redacted]" : eq + 1);
	}
	jsonbuf_raw(&jb, "}");
	buf[jb.overflow ? 0 : jb.len] = '\0';
	LOG(LOG_INFO, "effective configuration", "config", buf);
}

void cfg_warn_unknown(void)
{
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
		bool known = false;

		if (strncmp(*e, "OTPFLOW_", 8) != 0 ||
		    strncmp(*e, "OTPFLOW_KAFKA_", 14) == 0 ||
		    strncmp(*e, "OTPFLOW_TEST_", 13) == 0)
			continue;
		for (int id = 0; id < CFG__COUNT && !known; id++)
			known = strlen(cfg_vars[id].name) == len &&
				strncmp(cfg_vars[id].name, *e, len) == 0;
		if (!known) {
			char name[256];
			snprintf(name, sizeof(name), "%.*s", (int)len, *e);
			LOG(LOG_WARN, "unknown configuration variable ignored",
			    "name", name);
		}
	}
}

static void users_text(unsigned mask, char *out, size_t size)
{
	static const char *const names[] = { "ingest", "worker", "sender",
					     "otpflowctl", "devbroker" };
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < 5; i++) {
		if (!(mask & (1u << i)))
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s",
					len ? ", " : "", names[i]);
	}
	if (!len)
		snprintf(out, size, "-");
}

void cfg_write_markdown(FILE *out)
{
	static const char *const types[] = { "string", "bool", "integer",
					     "duration", "list" };

	fputs("# Configuration\n\n"
	      "<!-- Generated by `otpflowctl config --markdown` from "
	      "common/config_vars.h. Do not edit; CI checks it is current. -->\n\n"
	      "otpflow reads environment variables only. Every binary reports "
	      "all invalid, out-of-range or missing\nvariables at once and then "
	      "exits with status 2; at start it logs the effective\n"
	      "configuration with secrets redacted.\n\n"
	      "Durations are written like `250ms`, `10s`, `5m`, `1h`, `1h30m`. "
	      "Booleans accept\n`true`/`false` (also `1`/`0`, `yes`/`no`). "
	      "Lists are comma separated.\n\n"
	      "**Kafka pass-through:** any librdkafka property can be set as "
	      "`OTPFLOW_KAFKA_<PROPERTY>`:\nthe rest of the name is lower-cased "
	      "and `_` becomes `.`, so\n`OTPFLOW_KAFKA_SECURITY_PROTOCOL=sasl_ssl` "
	      "sets `security.protocol`. Names containing\nPASSWORD, SECRET, KEY, "
	      "TOKEN or CREDENTIAL are redacted in logs.\n\n"
	      "| Variable | Type | Default | Allowed | Used by | Required by | "
	      "Description |\n"
	      "|---|---|---|---|---|---|---|\n",
	      out);
	for (int id = 0; id < CFG__COUNT; id++) {
		const struct cfg_var *var = &cfg_vars[id];
		char used[64], req[64];

		users_text(var->used_by, used, sizeof(used));
		users_text(var->required_by, req, sizeof(req));
		char def[256];

		if (!var->def)
			snprintf(def, sizeof(def), "—");
		else if (!*var->def)
			snprintf(def, sizeof(def), "*(empty)*");
		else
			snprintf(def, sizeof(def), "`%s`", var->def);
		fprintf(out, "| `%s` | %s%s | %s | %s | %s | %s | %s |\n",
			var->name, types[var->type],
			(var->flags & CFG_SECRET) ? " (secret)" : "", def,
			cfg_allowed_text((enum cfg_id)id), used, req,
			var->desc);
	}
	fputs("\nBetween variables:\n\n", out);
	for (size_t i = 0; i < COUNT(orders); i++)
		fprintf(out, "- `%s` must not exceed `%s`.\n",
			cfg_vars[orders[i].low].name,
			cfg_vars[orders[i].high].name);
}
