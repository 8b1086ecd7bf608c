/*
 * The API error table (docs/api.md §1.2): every error ingest can answer, with its
 * code string, default HTTP status and Nhost's message text. The enum, the
 * lookups and the JSON body all derive from OTPFLOW_API_ERRORS.
 */
#ifndef OTPFLOW_ERR_H
#define OTPFLOW_ERR_H

#include <stdbool.h>
#include <stddef.h>

/* X(ENUM, code, status, message) — messages of codes Nhost has are Nhost's. */
#define OTPFLOW_API_ERRORS(X)                                              \
	X(INVALID_REQUEST, "invalid-request", 400,                         \
	  "The request payload is incorrect")                              \
	X(DISABLED_ENDPOINT, "disabled-endpoint", 409,                     \
	  "This endpoint is disabled")                                     \
	X(SIGNUP_DISABLED, "signup-disabled", 403, "Sign up is disabled.") \
	X(REDIRECT_TO_NOT_ALLOWED, "redirectTo-not-allowed", 400,          \
	  "The value of \"options.redirectTo\" is not allowed.")           \
	X(ROLE_NOT_ALLOWED, "role-not-allowed", 400, "Role not allowed")   \
	X(DEFAULT_ROLE_MUST_BE_IN_ALLOWED_ROLES,                           \
	  "default-role-must-be-in-allowed-roles", 400,                    \
	  "Default role must be in allowed roles")                         \
	X(INTERNAL_SERVER_ERROR, "internal-server-error", 500,             \
	  "Internal server error")

enum api_err {
#define X(e, code, status, msg) API_ERR_##e,
	OTPFLOW_API_ERRORS(X)
#undef X
		API_ERR__COUNT
};

const char *api_err_code(enum api_err e);
int api_err_status(enum api_err e);
const char *api_err_message(enum api_err e);

/*
 * True for the errors AUTH_CONCEAL_ERRORS hides behind a generic 400
 * invalid-request (those of docs/api.md §1.2 that Nhost treats as sensitive).
 */
bool api_err_is_sensitive(enum api_err e);

/*
 * Formats {"status":S,"message":"M","error":"C"} into buf (size bytes,
 * NUL-terminated). status 0 and message NULL mean the table's values.
 * Returns the length, or 0 if it did not fit.
 */
size_t api_err_body(enum api_err e, int status, const char *message, char *buf,
		    size_t size);

#endif
