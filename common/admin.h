/*
 * The admin HTTP server of the consuming daemons (worker, sender): GET
 * /healthz (200 while the process runs), /readyz (200 or 503 from a
 * readiness callback) and /metrics (the Prometheus text of metrics.h).
 * A small libmicrohttpd server with its own thread; anything else is 404.
 */
#ifndef OTPFLOW_ADMIN_H
#define OTPFLOW_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

struct admin;

/*
 * Readiness callback: true when ready; may write a short reason (shown in
 * the 503 body) into why. Called from the server thread: must be
 * thread-safe (read atomics).
 */
typedef bool (*admin_ready_fn)(void *arg, char *why, size_t why_size);

/*
 * Starts listening on address ("host:port"; IPv4 or a name). ready may be
 * NULL (always ready). Returns NULL with a message in errstr; the caller
 * owns the result (admin_stop).
 */
struct admin *admin_start(const char *address, admin_ready_fn ready, void *arg,
			  char *errstr, size_t errstr_size);

void admin_stop(struct admin *a);

#endif
