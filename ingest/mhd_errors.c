/* JSON bodies for libmicrohttpd's own error answers (see mhd_errors.h). */
#include "mhd_errors.h"

#include <dlfcn.h>
#include <microhttpd.h>
#include <pthread.h>

#include "err.h"

typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *conn,
				    unsigned int status,
				    struct MHD_Response *resp);

static queue_fn library_queue;
static pthread_once_t resolved = PTHREAD_ONCE_INIT;

static void resolve(void)
{
	/* The next definition after this executable's: the library's. */
	library_queue = (queue_fn)dlsym(RTLD_NEXT, "MHD_queue_response");
}

bool mhd_errors_ready(void)
{
	pthread_once(&resolved, resolve);
	return library_queue != NULL;
}

/* The message of a status the library answers by itself. */
static const char *message_of(unsigned status)
{
	switch (status) {
	case MHD_HTTP_BAD_REQUEST:
		return "The request is not valid HTTP";
	case MHD_HTTP_CONTENT_TOO_LARGE:
		return "Request body too large";
	case MHD_HTTP_URI_TOO_LONG:
		return "Request URI too long";
	case MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE:
		return "Request header fields too large";
	case MHD_HTTP_HTTP_VERSION_NOT_SUPPORTED:
		return "HTTP version not supported";
	default:
		return MHD_get_reason_phrase_for(status);
	}
}

/* The standard error body for status, queued by the library. */
static enum MHD_Result queue_json_error(struct MHD_Connection *conn,
					unsigned status)
{
	enum api_err e = status >= 500 ? API_ERR_INTERNAL_SERVER_ERROR :
					 API_ERR_INVALID_REQUEST;
	char body[256];
	size_t len = api_err_body(e, (int)status, message_of(status), body,
				  sizeof(body));
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
	ret = library_queue(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Every MHD_queue_response of this process, the library's internal ones
 * included (see mhd_errors.h). Declared by microhttpd.h; defined here on
 * purpose.
 */
enum MHD_Result MHD_queue_response(struct MHD_Connection *connection,
				   unsigned int status_code,
				   struct MHD_Response *response)
{
	if (!mhd_errors_ready())
		return MHD_NO;
	if (status_code >= 400 &&
	    !MHD_get_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE))
		return queue_json_error(connection, status_code);
	return library_queue(connection, status_code, response);
}
