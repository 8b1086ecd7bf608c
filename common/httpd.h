/*
 * What every otpflow HTTP server answers the same way (ingest's API server
 * and the worker's and sender's admin server, both libmicrohttpd): queuing
 * a reply with its headers, and GET /metrics (the Prometheus text of
 * metrics.h).
 */
#ifndef OTPFLOW_HTTPD_H
#define OTPFLOW_HTTPD_H

#include <microhttpd.h>
#include <stddef.h>

#define HTTPD_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Queues a reply: status, Content-Type ctype, the len bytes of body
 * (copied), and extra headers as a NULL-terminated list of name, value
 * pairs (headers may be NULL). MHD_NO when out of memory.
 */
enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned status,
			    const char *ctype, const char *body, size_t len,
			    const char *const *headers);

/* Adds a NULL-terminated list of name, value pairs to a response. */
void httpd_add_headers(struct MHD_Response *resp, const char *const *headers);

/*
 * The text of every registered metric in *text (malloc'd, the caller
 * frees) and its length; 0 with *text = NULL when out of memory.
 */
size_t httpd_metrics_text(char **text);

#endif
