/* API error table lookups and the one error-body format. */
#include "err.h"

#include "jsonbuf.h"

static const struct {
	const char *code;
	int status;
	const char *message;
} api_errs[API_ERR__COUNT] = {
#define X(e, code, status, msg) [API_ERR_##e] = { code, status, msg },
	OTPFLOW_API_ERRORS(X)
#undef X
};

const char *api_err_code(enum api_err e)
{
	return api_errs[e].code;
}

int api_err_status(enum api_err e)
{
	return api_errs[e].status;
}

const char *api_err_message(enum api_err e)
{
	return api_errs[e].message;
}

bool api_err_is_sensitive(enum api_err e)
{
	return e == API_ERR_SIGNUP_DISABLED || e == API_ERR_ROLE_NOT_ALLOWED;
}

size_t api_err_body(enum api_err e, int status, const char *message, char *buf,
		    size_t size)
{
	struct jsonbuf jb;

	if (size == 0)
		return 0;
	jsonbuf_init(&jb, buf, size - 1);
	jsonbuf_raw(&jb, "{\"status\":");
	jsonbuf_int(&jb, status ? status : api_errs[e].status);
	jsonbuf_raw(&jb, ",\"message\":");
	jsonbuf_str(&jb, message ? message : api_errs[e].message);
	jsonbuf_raw(&jb, ",\"error\":");
	jsonbuf_str(&jb, api_errs[e].code);
	jsonbuf_raw(&jb, "}");
	if (jb.overflow) {
		buf[0] = '\0';
		return 0;
	}
	buf[jb.len] = '\0';
	return jb.len;
}
