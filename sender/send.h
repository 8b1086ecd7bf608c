/*
 * The sending engine (docs/api.md §4): one thread runs a loop over the Kafka
 * consumer (sms-otp, sms-otp-retry), libcurl's multi handle and the
 * producer's delivery reports. Every consumed record becomes a job that
 * ends in exactly one outcome record (sms-sent, sms-otp-retry or
 * cannot-send-sms) or, for a code already sent, in nothing; its offset is
 * stored only once that outcome is delivered, in per-partition order.
 *
 * Jobs wait in a per-phone queue (at most one provider request in flight per
 * number), a delay heap (retry records not due yet) and a bounded ready
 * list (OTPFLOW_SMS_MAX_IN_FLIGHT requests at once). Postgres
 * (otpflow.sms_deliveries) dedups by otp_id.
 */
#ifndef OTPFLOW_SENDER_SEND_H
#define OTPFLOW_SENDER_SEND_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "events.h"

struct sender;

/*
 * The daemon kit's create step: loads templates, keys, the classification
 * table and the provider, and connects to Kafka and Postgres. Returns
 * DAEMON_EXIT_OK with *state the new struct sender, DAEMON_EXIT_CONFIG for
 * a bad setting (a missing default template too) or DAEMON_EXIT_FAILED,
 * with a message in errstr. cfg and ev must outlive it.
 */
int sender_new(const struct cfg *cfg, struct events *ev, void **state,
	       char *errstr, size_t errstr_size);

/*
 * Runs until a stop signal (then drains: stop consuming, finish requests
 * in flight, deliver their outcomes, store offsets, close) or a fatal Kafka
 * error. Returns the process exit status (0 after a clean drain).
 */
int sender_run(void *s);

/* Readiness for /readyz (thread-safe): false while paused by a provider
 * configuration error, without Postgres, or after a fatal error. */
bool sender_ready(void *s, char *why, size_t why_size);

void sender_free(void *s);

#endif
