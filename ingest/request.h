/*
 * One signup or sign-in request, from its headers to its answer:
 *
 *   first call   Content-Length cap and, when the length is known, the
 *                checks before the body (prechecks.c)
 *   upload calls body into a buffer capped at OTPFLOW_MAX_BODY_BYTES
 *   last call    the checks before the body if not done yet, validation
 *                (signup.c), Avro encoding, produce; the connection is
 *                then suspended
 *   resume       the delivery report resumed it: 200 "OK" or 503
 *
 * No thread waits on Kafka: the record's delivery report (publish.c's
 * thread) resumes the connection.
 */
#ifndef OTPFLOW_INGEST_REQUEST_H
#define OTPFLOW_INGEST_REQUEST_H

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "server.h"
#include "signup.h"

struct request;

/* Registers the accept-latency and in-flight metrics; once, at start. */
void request_metrics_init(void);

/*
 * A new request of route on conn, counted in h->active until request_free.
 * NULL out of memory. The caller (the MHD request context) owns it.
 */
struct request *request_new(struct ingest_http *h, struct MHD_Connection *conn,
			    enum signup_route route);

/*
 * One MHD access-handler call for req (first: the headers just arrived).
 * Consumes the upload data and returns what MHD expects.
 */
enum MHD_Result request_handle(struct request *req, const char *upload_data,
			       size_t *upload_data_size, bool first);

/* The publisher's delivery callback (opaque is the request): resumes it. */
void request_delivered(void *opaque, rd_kafka_resp_err_t err);

/* Frees req and uncounts it from its server's active requests. */
void request_free(struct request *req);

#endif
