/*
 * The checks of docs/api.md §1.2 that need no body (content type, rate
 * limit), and who the client is for the rate limiter (clientip.h). They
 * run as soon as the headers are in when the length is known, so a refused
 * client sends no body for nothing. The endpoint's switches come after the
 * body's shape, as in Nhost (signup.c).
 */
#ifndef OTPFLOW_INGEST_PRECHECKS_H
#define OTPFLOW_INGEST_PRECHECKS_H

#include <microhttpd.h>
#include <stdbool.h>

#include "clientip.h"
#include "server.h"
#include "signup.h"

/* True when ct is application/json, any case, parameters allowed. */
bool precheck_json_content_type(const char *ct);

/* The client's IP into out: the socket peer, or as clientip_pick says. */
void precheck_client_ip(const struct ingest_http *h,
			struct MHD_Connection *conn, char out[CLIENTIP_SIZE]);

/*
 * The checks before the body for a request of route from a client at ip.
 * Returns true to go on; otherwise the refusal was queued on conn and *ret
 * is the result to give MHD.
 */
bool precheck_run(const struct ingest_http *h, struct MHD_Connection *conn,
		  enum signup_route route, const char *ip,
		  enum MHD_Result *ret);

#endif
