/*
 * Every answer ingest sends goes through here: it counts the status in
 * otpflow_ingest_http_responses_total, disarms the connection's slow-client
 * deadline (the request is in), adds the CORS headers (cors.h) and queues
 * the response. Errors carry the standard body of docs/api.md §1.1, those
 * libmicrohttpd composes itself (431, a malformed request, ...) included.
 */
#ifndef OTPFLOW_INGEST_REPLY_H
#define OTPFLOW_INGEST_REPLY_H

#include <microhttpd.h>
#include <stddef.h>

#include "cors.h"
#include "err.h"

/*
 * Registers the response counter and keeps cors (borrowed: it must outlive
 * every answer); once, before the server starts.
 */
void reply_init(const struct cors *cors);

/*
 * The 200 "OK" response shared by every connection (MHD counts its uses),
 * or NULL out of memory. The caller owns it (MHD_destroy_response).
 */
struct MHD_Response *reply_ok_new(void);

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
 * 200 "OK". Without an allowed Origin it queues ok (from reply_ok_new),
 * so the answer to nearly every request under load is not allocated,
 * copied and freed each time; with one, a copy carrying the CORS headers.
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

/* 204 to a CORS preflight: methods, the requested headers, max age. */
enum MHD_Result reply_preflight(struct MHD_Connection *conn);

#endif
