/*
 * Sign-up and sign-in request validation (docs/api.md §1.2 rows 5-13): the
 * JSON parse with
 * strict settings (duplicate keys, U+0000, bad UTF-8 and trailing data are
 * refused), Nhost's request schema (SignUpOptions in Nhost's openapi.yaml:
 * additionalProperties false, no field nullable), the phone, display name,
 * locale, redirectTo and role rules, and Nhost's defaults. This file owns
 * the check order and the wording of every invalid-request message; the
 * single-field rules live in phone.c, display_name.c and redirect.c.
 *
 * Numbers inside options.metadata are read as doubles and written back the
 * way Go's encoding/json writes a float64, which is what Nhost stores
 * (jansson's own %.17g output would turn 0.1 into 0.10000000000000001, and
 * it refuses integers beyond 64 bits that Nhost accepts).
 */
#include "signup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "display_name.h"
#include "utf8.h"
#include "jsonbuf.h"
#include "phone.h"

/* NULL-terminated string vectors (the policy's role and locale lists). */

static void strv_free(char **v)
{
	char **s;

	for (s = v; s && *s; s++)
		free(*s);
	free(v);
}

static bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

/* Append a copy of s unless it is already there. 0, or -1 out of memory. */
static int strv_add(char ***v, size_t *n, const char *s)
{
	char **grown;
	char *copy;

	if (strv_has(*v, s))
		return 0;
	copy = strdup(s);
	if (!copy)
		return -1;
	grown = realloc(*v, (*n + 2) * sizeof(**v));
	if (!grown) {
		free(copy);
		return -1;
	}
	grown[(*n)++] = copy;
	grown[*n] = NULL;
	*v = grown;
	return 0;
}

/* Code points in the NUL-terminated s; false if s is not UTF-8. */
static bool utf8_chars(const char *s, size_t *chars)
{
	return utf8_count(s, strlen(s), chars);
}

void signup_policy_free(struct signup_policy *p)
{
	if (!p)
		return;
	strv_free(p->allowed_roles);
	strv_free(p->allowed_locales);
	free(p->default_role);
	free(p->locale_default);
	free(p->country_prefixes);
	free(p->client_url);
	redirect_list_free(&p->redirects);
	memset(p, 0, sizeof(*p));
}

/* strdup of a configuration value that may be unset (NULL reads as ""). */
static char *dup_value(const struct cfg *cfg, enum cfg_id id)
{
	const char *s = cfg_str(cfg, id);

	return strdup(s ? s : "");
}

int signup_policy_init(struct signup_policy *p, const struct cfg *cfg,
		       char *errstr, size_t errstr_size)
{
	char *const *item;
	size_t chars;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	p->conceal_errors = cfg_bool(cfg, CFG_AUTH_CONCEAL_ERRORS);
	p->enabled = cfg_bool(cfg, CFG_AUTH_SMS_PASSWORDLESS_ENABLED);
	p->signup_disabled = cfg_bool(cfg, CFG_AUTH_DISABLE_SIGNUP);
	p->default_role = dup_value(cfg, CFG_AUTH_USER_DEFAULT_ROLE);
	p->locale_default = dup_value(cfg, CFG_AUTH_LOCALE_DEFAULT);
	p->country_prefixes =
		dup_value(cfg, CFG_OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES);
	p->client_url = dup_value(cfg, CFG_AUTH_CLIENT_URL);
	if (!p->default_role || !p->locale_default || !p->country_prefixes ||
	    !p->client_url)
		goto oom;

	if (!*p->default_role || !utf8_chars(p->default_role, &chars)) {
		snprintf(errstr, errstr_size,
			 "AUTH_USER_DEFAULT_ROLE must be a non-empty UTF-8 "
			 "role name");
		goto out;
	}
	/* auth.users.locale is varchar(3); Nhost's schema asks 2 or 3. */
	if (!utf8_chars(p->locale_default, &chars) || chars < 2 || chars > 3) {
		snprintf(errstr, errstr_size,
			 "AUTH_LOCALE_DEFAULT must be 2 or 3 characters");
		goto out;
	}
	if (!utf8_chars(p->client_url, &chars)) {
		snprintf(errstr, errstr_size, "AUTH_CLIENT_URL is not UTF-8");
		goto out;
	}

	for (item = cfg_list(cfg, CFG_AUTH_USER_DEFAULT_ALLOWED_ROLES);
	     item && *item; item++) {
		if (!utf8_chars(*item, &chars)) {
			snprintf(
				errstr, errstr_size,
				"AUTH_USER_DEFAULT_ALLOWED_ROLES is not UTF-8");
			goto out;
		}
		if (strv_add(&p->allowed_roles, &p->allowed_roles_len, *item))
			goto oom;
	}
	if (strv_add(&p->allowed_roles, &p->allowed_roles_len, p->default_role))
		goto oom;

	for (item = cfg_list(cfg, CFG_AUTH_LOCALE_ALLOWED_LOCALES);
	     item && *item; item++)
		if (strv_add(&p->allowed_locales, &p->allowed_locales_len,
			     *item))
			goto oom;
	if (strv_add(&p->allowed_locales, &p->allowed_locales_len,
		     p->locale_default))
		goto oom;

	if (redirect_list_init(
		    &p->redirects, p->client_url,
		    cfg_str(cfg, CFG_AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS),
		    errstr, errstr_size) != 0)
		goto out;

	ret = 0;
	goto out;
oom:
	snprintf(errstr, errstr_size, "out of memory building the policy");
out:
	if (ret != 0)
		signup_policy_free(p);
	return ret;
}

/*
 * Fill *error for e with the message fmt (NULL: the table's message) and
 * return -1. AUTH_CONCEAL_ERRORS turns the sensitive codes into the generic
 * invalid-request, as Nhost does.
 */
static int fail(const struct signup_policy *p, struct signup_error *error,
		enum api_err e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(const struct signup_policy *p, struct signup_error *error,
		enum api_err e, const char *fmt, ...)
{
	va_list ap;

	if (p->conceal_errors && api_err_is_sensitive(e)) {
		e = API_ERR_INVALID_REQUEST;
		fmt = NULL;
	}
	error->err = e;
	error->status = api_err_status(e);
	if (!fmt) {
		snprintf(error->message, sizeof(error->message), "%s",
			 api_err_message(e));
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(error->message, sizeof(error->message), fmt, ap);
	va_end(ap);
	return -1;
}

static int fail_invalid(const struct signup_policy *p,
			struct signup_error *error, const char *message)
{
	return fail(p, error, API_ERR_INVALID_REQUEST, "%s", message);
}

/* Why jansson refused the body, in words that never quote the body. */
static const char *parse_reason(const json_error_t *jerr)
{
	switch (json_error_code(jerr)) {
	case json_error_duplicate_key:
		return "request body has a duplicate key";
	case json_error_invalid_utf8:
		return "request body is not valid UTF-8";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "request body contains a U+0000 character";
	case json_error_premature_end_of_input:
		return "request body is truncated JSON";
	case json_error_end_of_input_expected:
		return "request body has data after the JSON object";
	case json_error_stack_overflow:
		return "request body is nested too deeply";
	case json_error_numeric_overflow:
		return "request body has a number out of range";
	default:
		return "request body is not valid JSON";
	}
}

/* One property of Nhost's request schema. */
struct field {
	const char *name; /* as in the body */
	const char *path; /* as in messages */
	json_type type;
	const char *expect; /* message text: "must be ..." */
};

static const struct field top_fields[] = {
	{ "phoneNumber", "phoneNumber", JSON_STRING, "a string" },
	{ "options", "options", JSON_OBJECT, "an object" },
};

static const struct field option_fields[] = {
	{ "allowedRoles", "options.allowedRoles", JSON_ARRAY,
	  "an array of strings" },
	{ "defaultRole", "options.defaultRole", JSON_STRING, "a string" },
	{ "displayName", "options.displayName", JSON_STRING, "a string" },
	{ "locale", "options.locale", JSON_STRING, "a string" },
	{ "metadata", "options.metadata", JSON_OBJECT, "an object" },
	{ "redirectTo", "options.redirectTo", JSON_STRING, "a string" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Whether every key of obj is one of the n fields. */
static bool only_known(json_t *obj, const struct field *fields, size_t n)
{
	const char *key;
	json_t *value;
	size_t i;

	json_object_foreach(obj, key, value)
	{
		for (i = 0; i < n; i++)
			if (strcmp(key, fields[i].name) == 0)
				break;
		if (i == n)
			return false;
	}
	return true;
}

/*
 * The first of the n fields present in obj with the wrong JSON type, or
 * NULL. null is a wrong type: no property of the schema is nullable.
 */
static const struct field *mistyped(json_t *obj, const struct field *fields,
				    size_t n)
{
	json_t *value, *item;
	size_t i, j;

	for (i = 0; i < n; i++) {
		value = json_object_get(obj, fields[i].name);
		if (!value)
			continue;
		if (json_typeof(value) != fields[i].type)
			return &fields[i];
		if (fields[i].type == JSON_ARRAY)
			json_array_foreach(
				value, j,
				item) if (!json_is_string(item)) return &fields
				[i];
	}
	return NULL;
}

/* Row 5 beyond the parse: properties and their types. */
static int check_schema(const struct signup_policy *p, json_t *root,
			struct signup_error *error)
{
	const struct field *bad;
	json_t *options = json_object_get(root, "options");

	if (!only_known(root, top_fields, N(top_fields)))
		return fail_invalid(p, error,
				    "request body has an unknown property "
				    "(allowed: phoneNumber, options)");
	if (json_is_object(options) &&
	    !only_known(options, option_fields, N(option_fields)))
		return fail_invalid(p, error,
				    "options has an unknown property "
				    "(allowed: allowedRoles, defaultRole, "
				    "displayName, locale, metadata, "
				    "redirectTo)");
	bad = mistyped(root, top_fields, N(top_fields));
	if (!bad && options)
		bad = mistyped(options, option_fields, N(option_fields));
	if (bad)
		return fail(p, error, API_ERR_INVALID_REQUEST, "%s must be %s",
			    bad->path, bad->expect);
	return 0;
}

/*
 * A number as Go's encoding/json writes a float64 (what Nhost stores): the
 * shortest digits that read back as the same double, in plain notation
 * when 1e-6 <= |v| < 1e21 and in exponent notation otherwise ("1e+21",
 * "1e-7").
 */
static void dump_real(struct jsonbuf *jb, double v)
{
	char sci[40], digits[24], num[64], *e;
	size_t nd = 0, used = 0, k;
	double a = v < 0 ? -v : v;
	const char *s;
	int prec, exp;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
		if (strtod(sci, NULL) == v)
			break;
	}
	if (a != 0 && (a < 1e-6 || a >= 1e21)) {
		/* C writes "1e-07" where Go writes "1e-7". */
		e = strchr(sci, 'e');
		if (e && e[1] == '-' && e[2] == '0' && e[3] && !e[4])
			memmove(e + 2, e + 3, 2);
		jsonbuf_raw(jb, sci);
		return;
	}
	/* "-d.ddde+XX": collect the digits and the exponent. */
	for (s = sci + (sci[0] == '-'); *s && *s != 'e'; s++)
		if (*s != '.' && nd < sizeof(digits) - 1)
			digits[nd++] = *s;
	digits[nd] = '\0';
	exp = *s ? (int)strtol(s + 1, NULL, 10) : 0;
	if (sci[0] == '-')
		num[used++] = '-';
	if (exp < 0) {
		num[used++] = '0';
		num[used++] = '.';
		for (k = 1; k < (size_t)-exp; k++)
			num[used++] = '0';
		for (k = 0; k < nd; k++)
			num[used++] = digits[k];
	} else {
		for (k = 0; k < nd || k <= (size_t)exp; k++) {
			if (k == (size_t)exp + 1)
				num[used++] = '.';
			num[used++] = k < nd ? digits[k] : '0';
		}
	}
	num[used] = '\0';
	jsonbuf_raw(jb, num);
}

/*
 * Compact JSON text of v. Recursion is bounded by jansson's parse depth
 * limit (JSON_PARSER_MAX_DEPTH), as v came from json_loadb.
 */
static void dump_json(struct jsonbuf *jb, json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;
	bool first = true;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		jsonbuf_raw(jb, "{");
		json_object_foreach(v, key, item)
		{
			if (!first)
				jsonbuf_raw(jb, ",");
			first = false;
			jsonbuf_str(jb, key);
			jsonbuf_raw(jb, ":");
			dump_json(jb, item);
		}
		jsonbuf_raw(jb, "}");
		break;
	case JSON_ARRAY:
		jsonbuf_raw(jb, "[");
		json_array_foreach(v, i, item)
		{
			if (i)
				jsonbuf_raw(jb, ",");
			dump_json(jb, item);
		}
		jsonbuf_raw(jb, "]");
		break;
	case JSON_STRING:
		jsonbuf_strn(jb, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jsonbuf_int(jb, json_integer_value(v));
		break;
	case JSON_REAL:
		dump_real(jb, json_real_value(v));
		break;
	case JSON_TRUE:
		jsonbuf_raw(jb, "true");
		break;
	case JSON_FALSE:
		jsonbuf_raw(jb, "false");
		break;
	case JSON_NULL:
		jsonbuf_raw(jb, "null");
		break;
	}
}

/*
 * metadata_json for the metadata value (NULL: absent), malloc'd, or NULL
 * out of memory. The output of a parsed body is at most about three times
 * its input (an escape such as \n is written \u000a), so the cap derived
 * from the body length is never reached; reaching it reads as a failure.
 */
static char *metadata_text(json_t *metadata, size_t body_len)
{
	struct jsonbuf jb;
	size_t cap;
	char *buf;

	if (!metadata)
		return strdup("null");
	cap = 4 * body_len + 64;
	buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	jsonbuf_init(&jb, buf, cap);
	dump_json(&jb, metadata);
	if (jb.overflow) {
		free(buf);
		return NULL;
	}
	buf[jb.len] = '\0';
	return buf;
}

/* The allowed_roles array: the request's (duplicates dropped) or p's. */
static json_t *roles_array(const struct signup_policy *p, json_t *given)
{
	json_t *roles = json_array(), *item, *seen;
	size_t i, j;
	bool dup;

	if (!roles)
		return NULL;
	if (!given) {
		for (i = 0; i < p->allowed_roles_len; i++)
			if (json_array_append_new(
				    roles, json_string(p->allowed_roles[i])))
				goto fail;
		return roles;
	}
	json_array_foreach(given, i, item)
	{
		dup = false;
		json_array_foreach(roles, j, seen) if (json_equal(seen, item))
			dup = true;
		if (!dup && json_array_append(roles, item))
			goto fail;
	}
	return roles;
fail:
	json_decref(roles);
	return NULL;
}

/* Whether the string value is one of the strings of the array roles. */
static bool array_has(json_t *roles, const char *role)
{
	json_t *item;
	size_t i;

	json_array_foreach(roles, i, item) if (strcmp(json_string_value(item),
						      role) == 0) return true;
	return false;
}

/*
 * The accepted record: the n name/value pairs in order (a NULL value stands
 * for roles), then replay_of null. Built field by field, not with
 * json_pack, whose format parsing and UTF-8 checks cost more per request
 * than parsing the body; every value is known to be UTF-8 without NUL (it
 * came out of the strictly parsed body, out of the policy checked at
 * startup, or is ASCII), hence the _nocheck calls. NULL out of memory.
 */
static json_t *accepted_record(const char *const fields[][2], size_t n,
			       json_t *roles)
{
	json_t *rec = json_object();

	for (size_t i = 0; rec && i < n; i++) {
		int rc = fields[i][1] ?
				 json_object_set_new_nocheck(
					 rec, fields[i][0],
					 json_string_nocheck(fields[i][1])) :
				 json_object_set_nocheck(rec, fields[i][0],
							 roles);
		if (rc) {
			json_decref(rec);
			return NULL;
		}
	}
	if (rec && json_object_set_new_nocheck(rec, "replay_of", json_null())) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

int signup_validate(const struct signup_policy *p, const char *body, size_t len,
		    json_t **out, struct signup_error *error)
{
	return signup_validate_route(p, SIGNUP_ROUTE_SIGNUP, body, len, out,
				     error);
}

/* Row 6: displayName, when given; false with *error filled otherwise. */
static bool display_name_ok(const struct signup_policy *p, json_t *value,
			    struct signup_error *error)
{
	const char *s = json_string_value(value);
	size_t n = json_string_length(value), chars;

	if (display_name_valid(s, n))
		return true;
	if (n == 0)
		fail_invalid(p, error, "options.displayName must not be empty");
	else if (utf8_count(s, n, &chars) && chars > DISPLAY_NAME_MAX_CHARS)
		fail_invalid(p, error,
			     "options.displayName must be at most 32 "
			     "characters");
	else
		fail_invalid(p, error,
			     "options.displayName may only hold letters, "
			     "numbers, symbols, spaces and , . ' -");
	return false;
}

int signup_validate_route(const struct signup_policy *p,
			  enum signup_route route, const char *body, size_t len,
			  json_t **out, struct signup_error *error)
{
	json_t *root = NULL, *roles = NULL, *options, *phone_v, *value;
	json_t *given_roles, *metadata, *display_v, *locale_v;
	const char *display_name, *locale, *default_role, *redirect_to, *s;
	const char *as_sent;
	char phone[PHONE_MAX];
	char *meta_text = NULL;
	json_error_t jerr;
	size_t chars, i;
	int ret = -1;

	*out = NULL;
	memset(error, 0, sizeof(*error));

	/* Row 5: a JSON object, strictly parsed, matching Nhost's schema,
	 * with phoneNumber present. */
	if (len == 0) {
		fail_invalid(p, error, "request body is empty");
		goto out;
	}
	root = json_loadb(body, len,
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
				  JSON_DECODE_INT_AS_REAL,
			  &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			fail(p, error, API_ERR_INTERNAL_SERVER_ERROR, NULL);
		else
			fail_invalid(p, error, parse_reason(&jerr));
		goto out;
	}
	if (!json_is_object(root)) {
		fail_invalid(p, error, "request body must be a JSON object");
		goto out;
	}
	if (check_schema(p, root, error))
		goto out;
	options = json_object_get(root, "options");
	phone_v = json_object_get(root, "phoneNumber");
	if (!phone_v) {
		fail_invalid(p, error, "phoneNumber is required");
		goto out;
	}

	/* Row 6: displayName (absent: the phone number as sent). */
	display_v = json_object_get(options, "displayName");
	if (display_v && !display_name_ok(p, display_v, error))
		goto out;

	/* Row 7: locale length; a disallowed one becomes the default. */
	locale = p->locale_default;
	locale_v = json_object_get(options, "locale");
	if (locale_v) {
		s = json_string_value(locale_v);
		if (!utf8_count(s, json_string_length(locale_v), &chars) ||
		    chars < 2 || chars > 3) {
			fail_invalid(p, error,
				     "options.locale must be 2 or 3 "
				     "characters");
			goto out;
		}
		if (strv_has(p->allowed_locales, s))
			locale = s;
	}

	/* Rows 8 and 9: the endpoint's switches, after the body's shape
	 * (Nhost's handler runs after its schema validation). */
	if (!p->enabled) {
		fail(p, error, API_ERR_DISABLED_ENDPOINT, NULL);
		goto out;
	}
	if (route == SIGNUP_ROUTE_SIGNUP && p->signup_disabled) {
		fail(p, error, API_ERR_SIGNUP_DISABLED, NULL);
		goto out;
	}

	/* Row 10: the phone number (docs/api.md §1.3), kept as sent. */
	as_sent = json_string_value(phone_v);
	if (!phone_normalise(as_sent, json_string_length(phone_v), phone,
			     sizeof(phone))) {
		fail_invalid(p, error,
			     "phoneNumber is not a phone number (expected "
			     "+ and 8 to 15 digits)");
		goto out;
	}
	if (!phone_has_allowed_prefix(phone, p->country_prefixes)) {
		fail_invalid(p, error,
			     "phoneNumber is in a country this service does "
			     "not send SMS to");
		goto out;
	}
	display_name = display_v ? json_string_value(display_v) : as_sent;

	/* Row 11: redirectTo, absent means AUTH_CLIENT_URL. */
	redirect_to = p->client_url;
	value = json_object_get(options, "redirectTo");
	if (value) {
		if (!redirect_allowed(&p->redirects, json_string_value(value),
				      json_string_length(value))) {
			fail(p, error, API_ERR_REDIRECT_TO_NOT_ALLOWED, NULL);
			goto out;
		}
		redirect_to = json_string_value(value);
	}

	/* Row 12: every requested role must be a default allowed role. */
	given_roles = json_object_get(options, "allowedRoles");
	json_array_foreach(given_roles, i, value)
	{
		if (!strv_has(p->allowed_roles, json_string_value(value))) {
			fail(p, error, API_ERR_ROLE_NOT_ALLOWED, NULL);
			goto out;
		}
	}

	/* Row 13: the default role must be among the effective roles. */
	default_role = p->default_role;
	value = json_object_get(options, "defaultRole");
	if (value)
		default_role = json_string_value(value);
	if (given_roles ? !array_has(given_roles, default_role) :
			  !strv_has(p->allowed_roles, default_role)) {
		fail(p, error, API_ERR_DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES,
		     NULL);
		goto out;
	}

	/* Accepted: the SignupRequested fields, defaults applied. */
	metadata = json_object_get(options, "metadata");
	meta_text = metadata_text(metadata, len);
	roles = roles_array(p, given_roles);
	if (meta_text && roles) {
		const char *const fields[][2] = {
			{ "phone_number", as_sent },
			{ "phone_e164", phone },
			{ "display_name", display_name },
			{ "locale", locale },
			{ "default_role", default_role },
			{ "allowed_roles", NULL },
			{ "metadata_json", meta_text },
			{ "redirect_to", redirect_to },
			{ "kind",
			  route == SIGNUP_ROUTE_SIGNIN ? "SIGNIN" : "SIGNUP" },
		};
		*out = accepted_record(fields, N(fields), roles);
	}
	if (!*out) {
		fail(p, error, API_ERR_INTERNAL_SERVER_ERROR, NULL);
		goto out;
	}
	ret = 0;
out:
	free(meta_text);
	json_decref(roles);
	json_decref(root);
	return ret;
}
