/* Ingest's answers, counted by status, with CORS headers (see reply.h). */
#include "reply.h"

#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "metrics.h"
#include "reaper.h"

/* Answer codes counted by otpflow_ingest_http_responses_total. */
static const char *const status_labels[] = { "200", "204", "400", "403", "404",
					     "405", "409", "413", "415", "429",
					     "431", "500", "503", NULL };

static struct metric *responses; /* by status code */
static const struct cors *cors_policy;

void reply_init(const struct cors *cors)
{
	cors_policy = cors;
	responses = metrics_counter(
		"otpflow_ingest_http_responses_total",
		"HTTP answers of ingest (every route, probes included), by status code.",
		"code", status_labels);
}

struct MHD_Response *reply_ok_new(void)
{
	struct MHD_Response *ok = MHD_create_response_from_buffer(
		4, (void *)"\"OK\"", MHD_RESPMEM_PERSISTENT);

	if (ok && (MHD_add_response_header(ok, MHD_HTTP_HEADER_CONTENT_TYPE,
					   "application/json") != MHD_YES ||
		   MHD_add_response_header(ok, MHD_HTTP_HEADER_VARY,
					   "Origin") != MHD_YES)) {
		MHD_destroy_response(ok);
		ok = NULL;
	}
	return ok;
}

static void count_status(unsigned status)
{
	/* Compared as numbers: no formatting on every answer. */
	for (size_t i = 0; status_labels[i]; i++) {
		if (strtoul(status_labels[i], NULL, 10) == status) {
			metrics_inc(responses, i, 1);
			break;
		}
	}
}

/* The extra header (if any) and the CORS headers, NULL-terminated. */
static void answer_headers(struct MHD_Connection *conn, const char *hname,
			   const char *hval,
			   const char *headers[2 * (CORS_MAX_PAIRS + 1) + 1])
{
	size_t n = 0;

	if (hname) {
		headers[n++] = hname;
		headers[n++] = hval;
	}
	cors_headers(cors_policy, conn, headers + n);
}

enum MHD_Result reply_typed(struct MHD_Connection *conn, unsigned status,
			    const char *type, const char *body, size_t len,
			    const char *hname, const char *hval)
{
	const char *headers[2 * (CORS_MAX_PAIRS + 1) + 1];

	answer_headers(conn, hname, hval, headers);
	reaper_disarm(conn);
	count_status(status);
	return httpd_reply(conn, status, type, body, len, headers);
}

enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
			   const char *body, size_t len, const char *hname,
			   const char *hval)
{
	return reply_typed(conn, status, "application/json", body, len, hname,
			   hval);
}

enum MHD_Result reply_shared_ok(struct MHD_Connection *conn,
				struct MHD_Response *ok)
{
	const char *origin = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);

	if (origin && cors_origin_allowed(cors_policy, origin))
		return reply_json(conn, MHD_HTTP_OK, "\"OK\"", 4, NULL, NULL);
	reaper_disarm(conn);
	count_status(MHD_HTTP_OK);
	return MHD_queue_response(conn, MHD_HTTP_OK, ok);
}

enum MHD_Result reply_error(struct MHD_Connection *conn, enum api_err e,
			    int status, const char *message, const char *hname,
			    const char *hval)
{
	char body[512];
	size_t len = api_err_body(e, status, message, body, sizeof(body));

	return reply_json(conn, (unsigned)(status ? status : api_err_status(e)),
			  body, len, hname, hval);
}

enum MHD_Result reply_preflight(struct MHD_Connection *conn)
{
	const char *headers[2 * (CORS_MAX_PAIRS + 1) + 1];
	const char *requested = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_ACCESS_CONTROL_REQUEST_HEADERS);
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		0, NULL, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	answer_headers(conn, NULL, NULL, headers);
	httpd_add_headers(resp, headers);
	MHD_add_response_header(resp,
				MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS,
				CORS_METHODS);
	if (requested && *requested)
		MHD_add_response_header(
			resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_HEADERS,
			requested);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_MAX_AGE,
				CORS_MAX_AGE);
	reaper_disarm(conn);
	count_status(MHD_HTTP_NO_CONTENT);
	ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
	MHD_destroy_response(resp);
	return ret;
}
