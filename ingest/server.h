/*
 * Ingest's HTTP server (libmicrohttpd) and its life cycle: the state every
 * request reads (configuration, signup policy, rate limiter, Kafka
 * publisher), starting the server, draining it and stopping it. What
 * happens to one request is in routes.c (dispatch and probes), prechecks.c
 * (the checks before the body), request.c (body, validation, the Kafka
 * round trip), reply.c (answers) and reaper.c (slow clients).
 */
#ifndef OTPFLOW_INGEST_SERVER_H
#define OTPFLOW_INGEST_SERVER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "clientip.h"
#include "config.h"
#include "cors.h"
#include "events.h"
#include "reaper.h"
#include "signup.h"

struct publisher;
struct ratelimit;

/* The server's state; built once, then read by every request thread. */
struct ingest_http {
	const struct cfg *cfg;
	struct events *ev;
	struct MHD_Daemon *d;
	struct MHD_Response *ok; /* 200 "OK", shared by every connection */
	struct publisher *pub;
	struct signup_policy policy;
	struct ratelimit *rl; /* NULL unless AUTH_RATE_LIMIT_ENABLE */
	struct cors cors; /* OTPFLOW_CORS_ALLOWED_ORIGINS */
	struct clientip_trust trust; /* OTPFLOW_TRUSTED_PROXIES */
	bool trust_proxy; /* OTPFLOW_TRUST_PROXY */
	const char *prefix; /* AUTH_API_PREFIX */
	size_t prefix_len;
	size_t max_body; /* OTPFLOW_MAX_BODY_BYTES */
	const char *topic; /* OTPFLOW_TOPIC_SIGNUP_REQUESTS */
	atomic_int active; /* requests allocated and not completed */
	struct reaper reaper;
	int listen_fd; /* ours once MHD is quiesced, else MHD's */
	bool quiesced;
};

/* Rate-limit rules (indexes into the limiter, docs/api.md §1.4). */
enum ingest_limit {
	LIMIT_GLOBAL, /* every API request */
	LIMIT_SMS, /* both routes send an SMS */
	LIMIT_SIGNUPS, /* the signup route */
	LIMIT_BRUTE_FORCE, /* the sign-in route */
};

/*
 * Starts listening on OTPFLOW_LISTEN with a thread pool (the daemon kit's
 * create step). Borrows cfg and ev, which must outlive the server. Returns
 * DAEMON_EXIT_OK with *state the new struct ingest_http, else
 * DAEMON_EXIT_CONFIG or DAEMON_EXIT_FAILED with errstr.
 */
int ingest_server_start(const struct cfg *cfg, struct events *ev, void **state,
			char *errstr, size_t errstr_size);

/*
 * Graceful stop, step one: no new connections are accepted; requests in
 * flight go on. Then waits up to timeout_ms for them to be answered.
 * Returns the number of requests still in flight.
 */
int ingest_server_drain(struct ingest_http *h, int timeout_ms);

/* Flushes Kafka (up to timeout_ms), stops the server and frees h. */
void ingest_server_stop(struct ingest_http *h, int timeout_ms);

/* True once the Kafka producer is fatal: the daemon must exit non-zero. */
bool ingest_server_fatal(const struct ingest_http *h);

#endif
