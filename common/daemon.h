/*
 * The life cycle every otpflow daemon follows, written once:
 *
 *   --help / --version -> configuration (every problem at once) -> logging,
 *   effective configuration, signal handlers -> event schemas -> the
 *   daemon's own state and clients (create) -> admin server (/healthz,
 *   /readyz, /metrics) -> run (the loop, then the drain in the daemon's
 *   fixed order) -> admin server stopped -> destroy (clients closed within
 *   a bound) -> exit.
 *
 * One exit-code table for every daemon and one fatal policy: a failure the
 * process cannot recover from (a fatal Kafka producer, say) is reported
 * with daemon_fatal(); every loop stops on daemon_stopping(), drains what
 * it safely can and the process exits 1 to be restarted.
 */
#ifndef OTPFLOW_DAEMON_H
#define OTPFLOW_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "admin.h"
#include "config.h"
#include "events.h"

enum daemon_exit {
	DAEMON_EXIT_OK = 0, /* clean stop after a signal */
	DAEMON_EXIT_FAILED = 1, /* runtime failure: restart me */
	DAEMON_EXIT_CONFIG = 2, /* bad configuration or arguments */
};

struct daemon_spec {
	const char *name; /* "worker": logs, --help, version */
	unsigned user; /* CFG_WORKER: which variables it reads */
	const char *usage; /* --help text */
	/* Default of OTPFLOW_ADMIN_LISTEN; NULL: no admin server (ingest
	 * serves its probes itself). */
	const char *admin_default;
	/*
	 * Builds the daemon's state and clients. Returns DAEMON_EXIT_OK with
	 * *state set (owned by the kit until destroy), or DAEMON_EXIT_CONFIG
	 * (a setting is unusable) / DAEMON_EXIT_FAILED with errstr.
	 */
	int (*create)(const struct cfg *cfg, struct events *ev, void **state,
		      char *errstr, size_t errstr_size);
	/* Runs until daemon_stopping(), then drains; returns an exit code
	 * (the kit turns it into DAEMON_EXIT_FAILED after daemon_fatal). */
	int (*run)(void *state);
	/* /readyz (thread-safe); NULL: ready while running. */
	admin_ready_fn ready;
	/* Closes clients (bounded) and frees the state; NULL-safe. */
	void (*destroy)(void *state);
};

/* The whole life cycle; returns the process exit status. */
int daemon_main(const struct daemon_spec *spec, int argc, char **argv);

/*
 * The fatal policy: logs what failed (once), and from now on
 * daemon_stopping() is true and the process exits DAEMON_EXIT_FAILED.
 * Thread-safe; never exits by itself.
 */
void daemon_fatal(const char *what, const char *error);

/* True after daemon_fatal. */
bool daemon_failed(void);

/* True once a stop signal arrived or daemon_fatal was called. */
bool daemon_stopping(void);

#endif
