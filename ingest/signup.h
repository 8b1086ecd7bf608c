/*
 * The request validator of POST /signup/passwordless/sms and its twin
 * POST /signin/passwordless/sms (docs/api.md §1.2 rows 5-13): parses the
 * body, checks it against Nhost's schema, the endpoint's switches and the
 * policy, in Nhost's order, and turns it into the SignupRequested fields
 * with Nhost's defaults applied. Pure: no I/O, no logging, no global state.
 * The policy is built once from the configuration and then only read, so
 * one policy serves every request thread. Rows 1-4 and 14 (method, size,
 * content type, rate limits, Kafka) belong to the HTTP layer.
 */
#ifndef OTPFLOW_SIGNUP_H
#define OTPFLOW_SIGNUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "redirect.h"

/* Everything signup_validate needs from the configuration, owned copies. */
struct signup_policy {
	/* AUTH_USER_DEFAULT_ALLOWED_ROLES plus the default role when missing,
	 * without duplicates, in configuration order; NULL-terminated. */
	char **allowed_roles;
	size_t allowed_roles_len;
	char *default_role; /* AUTH_USER_DEFAULT_ROLE */
	char *locale_default; /* AUTH_LOCALE_DEFAULT */
	/* AUTH_LOCALE_ALLOWED_LOCALES plus the default locale when missing;
	 * NULL-terminated. */
	char **allowed_locales;
	size_t allowed_locales_len;
	bool conceal_errors; /* AUTH_CONCEAL_ERRORS */
	bool enabled; /* AUTH_SMS_PASSWORDLESS_ENABLED (row 8) */
	bool signup_disabled; /* AUTH_DISABLE_SIGNUP (row 9, signup route) */
	/* OTPFLOW_SMS_ALLOWED_COUNTRY_PREFIXES as written; "" allows any. */
	char *country_prefixes;
	char *client_url; /* AUTH_CLIENT_URL, the default redirectTo */
	struct redirect_list redirects; /* AUTH_CLIENT_URL + allowed URLs */
};

/*
 * Build the policy from cfg (loaded for CFG_INGEST). The policy copies what
 * it needs, so cfg may be freed afterwards. Returns 0, or -1 with a message
 * in errstr (the caller's buffer; may be NULL when errstr_size is 0) when a
 * value is unusable (empty default role, default locale not 2 or 3
 * characters, a bad redirect URL entry, text that is not UTF-8) or memory
 * runs out; p is then empty (signup_policy_free on it is harmless).
 */
int signup_policy_init(struct signup_policy *p, const struct cfg *cfg,
		       char *errstr, size_t errstr_size);

/* Release what the policy owns; p may be NULL, zeroed or already freed. */
void signup_policy_free(struct signup_policy *p);

/* Largest message of a signup_error, with NUL. */
#define SIGNUP_MESSAGE_MAX 256

/*
 * A refused request as it goes on the wire, AUTH_CONCEAL_ERRORS already
 * applied: err is the code, status the HTTP status, message the text (it
 * names the failing field and the reason, never the value sent).
 */
struct signup_error {
	enum api_err err;
	int status;
	char message[SIGNUP_MESSAGE_MAX];
};

/* The two routes sharing the body and the checks (docs/api.md §1.1). */
enum signup_route {
	SIGNUP_ROUTE_SIGNUP, /* /signup/passwordless/sms, kind SIGNUP */
	SIGNUP_ROUTE_SIGNIN, /* /signin/passwordless/sms, kind SIGNIN */
};

/*
 * Parse and validate the len bytes at body (need not be NUL-terminated; may
 * be NULL only when len is 0) as a request of route. Checks run in the order
 * of docs/api.md §1.2 and the first failure wins; AUTH_DISABLE_SIGNUP
 * refuses the signup route only.
 *
 * On success returns 0 and stores in *out a new jansson object (the caller
 * owns the reference) holding every SignupRequested field except
 * request_id, received_at and client_ip, which the HTTP layer adds:
 * phone_number (exactly as sent), phone_e164 (normalised), display_name,
 * locale, default_role, allowed_roles, metadata_json (compact JSON text, or
 * the text "null"), redirect_to, kind ("SIGNUP" or "SIGNIN") and replay_of
 * null.
 *
 * On failure returns -1, sets *out to NULL and fills *error: 400 for a
 * refused request, or 500 internal-server-error if memory ran out.
 * Reads p only, so it is safe to call from many threads at once. p, out and
 * error must not be NULL.
 */
int signup_validate_route(const struct signup_policy *p,
			  enum signup_route route, const char *body, size_t len,
			  json_t **out, struct signup_error *error);

/* signup_validate_route for the signup route. */
int signup_validate(const struct signup_policy *p, const char *body, size_t len,
		    json_t **out, struct signup_error *error);

#endif
