/*
 * Every answer ingest sends goes through here: it counts the status in
 * otpflow_ingest_http_responses_total, disarms the connection's slow-client
 * deadline (the request is in) and queues the response. Errors carry the
 * standard body of docs/api.md §1.1.
 */
#ifndef OTPFLOW_INGEST_REPLY_H
#define OTPFLOW_INGEST_REPLY_H

#include <microhttpd.h>
#include <stddef.h>

#include "err.h"

/* Registers the response counter; once, before the server starts. */
void reply_metrics_init(void);

/*
 * Queues status with Content-Type type and the len bytes of body (copied),
 * plus one extra header (hname NULL: none). MHD_NO when out of memory.
 */
enum MHD_Result reply_typed(struct MHD_Connection *conn, unsigned status,
			    const char *type, const char *body, size_t len,
			    const char *hname, const char *hval);

/* reply_typed with Content-Type application/json. */
enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
			   const char *body, size_t len, const char *hname,
			   const char *hval);

/*
 * Queues ok (a response built once and shared by every connection, which
 * MHD counts) with status 200: the answer to nearly every request under
 * load is not allocated, copied and freed each time.
 */
enum MHD_Result reply_shared_ok(struct MHD_Connection *conn,
				struct MHD_Response *ok);

/*
 * The standard error body for e; status 0 and message NULL mean the
 * table's (err.h) values; one extra header as reply_typed.
 */
enum MHD_Result reply_error(struct MHD_Connection *conn, enum api_err e,
			    int status, const char *message, const char *hname,
			    const char *hval);

#endif
