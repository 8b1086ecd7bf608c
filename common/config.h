/*
 * Configuration from the environment, driven by the one table in
 * config_vars.h: parsing, validation that reports every problem at once,
 * the redacted dump of the effective configuration, and the Markdown
 * reference in docs/configuration.md.
 */
#ifndef OTPFLOW_CONFIG_H
#define OTPFLOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Which binary is loading the configuration (bit masks). */
enum cfg_user {
	CFG_INGEST = 1,
	CFG_WORKER = 2,
	CFG_SENDER = 4,
	CFG_CTL = 8,
	CFG_DEVBROKER = 16,
};

enum cfg_flag { CFG_SECRET = 1 };

enum cfg_type { CFG_T_STR, CFG_T_BOOL, CFG_T_INT, CFG_T_DURATION, CFG_T_LIST };

#include "config_vars.h"

enum cfg_id {
#define X(name, ...) CFG_##name,
	OTPFLOW_CONFIG_VARS(X)
#undef X
		CFG__COUNT
};

struct cfg_var {
	const char *name;
	enum cfg_type type;
	const char *def; /* NULL: no default */
	unsigned used_by, required_by, flags;
	const char *desc;
};

extern const struct cfg_var cfg_vars[CFG__COUNT];

struct cfg_value {
	char *str; /* owned; the raw text (env or default); NULL if none */
	bool from_env;
	bool invalid; /* did not parse (reported) */
	long long num; /* BOOL: 0/1, INT: value, DURATION: milliseconds */
	char **list; /* LIST: owned NULL-terminated items, trimmed, no empties */
	size_t list_len;
};

#define CFG_ERRORS_MAX 4096

struct cfg {
	unsigned user;
	struct cfg_value v[CFG__COUNT];
	int nerrors;
	char errors[CFG_ERRORS_MAX]; /* one problem per line */
};

/*
 * Reads every variable the user's binary uses from the environment. Problems
 * (missing required, unparsable values, and once everything parsed the
 * limits of config_vars.h: ranges, allowed words, order) are collected in
 * cfg->errors; the return value is their count. Call cfg_free() in every
 * case.
 */
int cfg_load(struct cfg *cfg, unsigned user);

/*
 * The limits config_vars.h sets on id, as text ("1 to 10000", "one of
 * twilio, modica, ..."), or "" when it has none. Thread-local storage,
 * valid until the next call.
 */
const char *cfg_allowed_text(enum cfg_id id);

/* Records one more problem (for a binary's own cross-field checks). */
void cfg_error(struct cfg *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cfg_free(struct cfg *cfg);

/* Accessors. cfg_str returns NULL when the variable has no value. */
const char *cfg_str(const struct cfg *cfg, enum cfg_id id);
bool cfg_bool(const struct cfg *cfg, enum cfg_id id);
long long cfg_int(const struct cfg *cfg, enum cfg_id id);
long long cfg_ms(const struct cfg *cfg, enum cfg_id id);
/* NULL-terminated item array owned by cfg (never NULL). */
char *const *cfg_list(const struct cfg *cfg, enum cfg_id id);
bool cfg_list_has(const struct cfg *cfg, enum cfg_id id, const char *item);

/*
 * Parses a decimal integer in [min, max] (the whole string, no sign
 * tricks). False on anything else, *out untouched.
 */
bool cfg_parse_int(const char *s, long long min, long long max, long long *out);

/*
 * Parses a duration such as "250ms", "10s", "5m", "1h" or "1h30m" into
 * milliseconds. False on anything else.
 */
bool cfg_parse_duration(const char *s, long long *ms);

/* Logs the effective configuration (one event), secrets redacted. */
void cfg_log_effective(const struct cfg *cfg);

/* Logs a warning for each OTPFLOW_* variable that nothing reads (typos). */
void cfg_warn_unknown(void);

/* Writes docs/configuration.md. */
void cfg_write_markdown(FILE *out);

#endif
