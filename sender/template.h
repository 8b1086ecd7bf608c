/*
 * SMS templates (docs/api.md §4): templates/<locale>/sms-otp.txt with a ${code}
 * placeholder. Every locale folder is loaded once at startup, so rendering
 * never touches the disk; a record's locale without a template falls back to
 * the default locale, whose template must exist (a startup error otherwise).
 */
#ifndef OTPFLOW_SENDER_TEMPLATE_H
#define OTPFLOW_SENDER_TEMPLATE_H

#include <stddef.h>

#define TEMPLATE_FILE "sms-otp.txt"
#define TEMPLATE_MAX_BYTES 1600 /* ten concatenated SMS segments */
#define TEMPLATE_MAX_LOCALES 256

struct templates;

/*
 * Loads every <dir>/<locale>/sms-otp.txt (locale: 2-3 letters or a tag such
 * as pt-BR) and checks that default_locale has one and that each template
 * holds ${code}. A single trailing newline
 * is dropped. Returns NULL with a message in errstr (naming the file) on
 * failure; the caller owns the result (templates_free).
 */
struct templates *templates_load(const char *dir, const char *default_locale,
				 char *errstr, size_t errstr_size);

void templates_free(struct templates *t);

/* Number of locales loaded. */
size_t templates_count(const struct templates *t);

/*
 * Renders the template of locale (NULL or unknown: the default locale)
 * with code into out. Returns the length written, or -1 if it does not
 * fit (out is then empty). The caller should wipe out after use: it holds
 * the plaintext code.
 */
int templates_render(const struct templates *t, const char *locale,
		     const char *code, char *out, size_t out_size);

/*
 * Generic ${name} substitution used by the templates and the webhook body:
 * each ${name} in tpl is replaced by the value of the matching name
 * (names[i] -> values[i], n pairs) passed through escape (NULL: verbatim).
 * Unknown placeholders are kept as written. Returns the length, or -1 if
 * out (out_size bytes, NUL included) is too small.
 */
typedef int (*template_escape_fn)(const char *value, char *out,
				  size_t out_size);
int template_subst(const char *tpl, const char *const *names,
		   const char *const *values, size_t n,
		   template_escape_fn escape, char *out, size_t out_size);

#endif
