/* Dispatch and the probes (see routes.h). */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "err.h"
#include "httpd.h"
#include "publish.h"
#include "reaper.h"
#include "reply.h"
#include "request.h"
#include "server.h"
#include "version.h"

#define SIGNUP_PATH "/signup/passwordless/sms"
#define SIGNIN_PATH "/signin/passwordless/sms"

enum route {
	ROUTE_SIGNUP,
	ROUTE_SIGNIN,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_VERSION,
	ROUTE_NOT_FOUND
};

/* A probe's route, or ROUTE_NOT_FOUND. */
static enum route probe_of(const char *path)
{
	if (strcmp(path, "/healthz") == 0)
		return ROUTE_HEALTHZ;
	if (strcmp(path, "/readyz") == 0)
		return ROUTE_READYZ;
	if (strcmp(path, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strcmp(path, "/version") == 0)
		return ROUTE_VERSION;
	return ROUTE_NOT_FOUND;
}

/* The API routes live under AUTH_API_PREFIX; the probes are served both
 * with and without it (as Nhost serves /healthz). */
static enum route route_of(const struct ingest_http *h, const char *url)
{
	enum route probe = probe_of(url);
	const char *path;

	if (strncmp(url, h->prefix, h->prefix_len) != 0)
		return probe;
	path = url + h->prefix_len;
	if (strcmp(path, SIGNUP_PATH) == 0)
		return ROUTE_SIGNUP;
	if (strcmp(path, SIGNIN_PATH) == 0)
		return ROUTE_SIGNIN;
	return probe != ROUTE_NOT_FOUND ? probe : probe_of(path);
}

static enum MHD_Result metrics_page(struct MHD_Connection *conn)
{
	char *text = NULL;
	size_t len = httpd_metrics_text(&text);
	enum MHD_Result ret;

	if (!text)
		return reply_error(conn, API_ERR_INTERNAL_SERVER_ERROR, 0, NULL,
				   NULL, NULL);
	ret = reply_typed(conn, 200, HTTPD_METRICS_TYPE, text, len, NULL, NULL);
	free(text);
	return ret;
}

/* The probes, and 404 for anything else. */
static enum MHD_Result handle_get(struct ingest_http *h,
				  struct MHD_Connection *conn, enum route r)
{
	char body[128];

	switch (r) {
	case ROUTE_HEALTHZ:
		return reply_shared_ok(conn, h->ok);
	case ROUTE_READYZ:
		if (publisher_ready(h->pub))
			return reply_shared_ok(conn, h->ok);
		return reply_error(conn, API_ERR_INTERNAL_SERVER_ERROR, 503,
				   "Kafka is not reachable", NULL, NULL);
	case ROUTE_VERSION:
		snprintf(body, sizeof(body), "{\"version\":\"%s\"}",
			 otpflow_version());
		return reply_json(conn, 200, body, strlen(body), NULL, NULL);
	case ROUTE_METRICS:
		return metrics_page(conn);
	default:
		return reply_error(conn, API_ERR_INVALID_REQUEST, 404,
				   "Route not found", NULL, NULL);
	}
}

enum MHD_Result routes_on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct ingest_http *h = cls;
	struct request *req = *con_cls;
	enum route r;

	if (req)
		return request_handle(req, upload_data, upload_data_size,
				      false);
	/* Before any check: a browser's preflight, on any route. */
	if (cors_is_preflight(conn, method))
		return reply_preflight(conn);
	r = route_of(h, url);
	if (r == ROUTE_SIGNUP || r == ROUTE_SIGNIN) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_error(conn, API_ERR_INVALID_REQUEST, 405,
					   "Method not allowed; use POST",
					   MHD_HTTP_HEADER_ALLOW, "POST");
		req = request_new(h, conn,
				  r == ROUTE_SIGNIN ? SIGNUP_ROUTE_SIGNIN :
						      SIGNUP_ROUTE_SIGNUP);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return request_handle(req, upload_data, upload_data_size, true);
	}
	if (r != ROUTE_NOT_FOUND && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_error(conn, API_ERR_INVALID_REQUEST, 405,
				   "Method not allowed; use GET",
				   MHD_HTTP_HEADER_ALLOW, "GET");
	return handle_get(h, conn, r);
}

void routes_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ingest_http *h = cls;

	/* Answered; a kept-alive connection now waits for the next request. */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		reaper_arm(&h->reaper, conn);
	if (!*con_cls)
		return;
	request_free(*con_cls);
	*con_cls = NULL;
}
