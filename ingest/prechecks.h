/*
 * The checks of docs/api.md §1.2 that need no body (content type, the
 * endpoint's switches, the rate limit), and who the client is for the rate
 * limiter. They run as soon as the headers are in when the length is known,
 * so a refused client sends no body for nothing.
 */
#ifndef OTPFLOW_INGEST_PRECHECKS_H
#define OTPFLOW_INGEST_PRECHECKS_H

#include <microhttpd.h>
#include <stdbool.h>

#include "server.h"

/* Room for a client IP in text (an IPv6 address with its zone fits). */
#define PRECHECK_IP_SIZE 64

/* True when ct is application/json, any case, parameters allowed. */
bool precheck_json_content_type(const char *ct);

/* The client's IP into out: the socket peer, or the proxy's hop. */
void precheck_client_ip(const struct ingest_http *h,
			struct MHD_Connection *conn,
			char out[PRECHECK_IP_SIZE]);

/*
 * The checks before the body for a client at ip. Returns true to go on;
 * otherwise the refusal was queued on conn and *ret is the result to give
 * MHD.
 */
bool precheck_run(const struct ingest_http *h, struct MHD_Connection *conn,
		  const char *ip, enum MHD_Result *ret);

#endif
