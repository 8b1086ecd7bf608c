/*
 * Ingest's HTTP server (libmicrohttpd): routing, the checks of docs/api.md §1.2
 * that precede body validation, body reading with its cap, and the
 * request lifecycle around Kafka — a signup connection is suspended while
 * its record is in flight and resumed by the delivery report, so no thread
 * waits on Kafka.
 */
#ifndef OTPFLOW_INGEST_HTTP_H
#define OTPFLOW_INGEST_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "events.h"

struct ingest_http;
struct publisher;

/*
 * Starts listening on OTPFLOW_LISTEN with a thread pool (the daemon kit's
 * create step). Borrows cfg and ev, which must outlive the server. Returns
 * DAEMON_EXIT_OK with *state the new struct ingest_http, else
 * DAEMON_EXIT_CONFIG or DAEMON_EXIT_FAILED with errstr.
 */
int ingest_http_start(const struct cfg *cfg, struct events *ev, void **state,
		      char *errstr, size_t errstr_size);

/*
 * Graceful stop, step one: no new connections are accepted; requests in
 * flight go on. Then waits up to timeout_ms for them to be answered.
 * Returns the number of requests still in flight.
 */
int ingest_http_drain(struct ingest_http *h, int timeout_ms);

/* Flushes Kafka (up to timeout_ms), stops the server and frees it. */
void ingest_http_stop(struct ingest_http *h, int timeout_ms);

/* True once the Kafka producer is fatal: the daemon must exit non-zero. */
bool ingest_http_fatal(const struct ingest_http *h);

#endif
