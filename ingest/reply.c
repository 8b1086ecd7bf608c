/* Ingest's answers, counted by status (see reply.h). */
#include "reply.h"

#include <stdlib.h>

#include "httpd.h"
#include "metrics.h"
#include "reaper.h"

/* Answer codes counted by otpflow_ingest_http_responses_total. */
static const char *const status_labels[] = { "200", "400", "403", "404",
					     "405", "409", "413", "415",
					     "429", "500", "503", NULL };

static struct metric *responses; /* by status code */

void reply_metrics_init(void)
{
	responses = metrics_counter(
		"otpflow_ingest_http_responses_total",
		"HTTP answers of ingest (every route, probes included), by status code.",
		"code", status_labels);
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

enum MHD_Result reply_typed(struct MHD_Connection *conn, unsigned status,
			    const char *type, const char *body, size_t len,
			    const char *hname, const char *hval)
{
	const char *headers[] = { hname, hval, NULL };

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
