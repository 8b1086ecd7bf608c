/*
 * Shutdown signals for the daemons: SIGTERM/SIGINT set a flag the main loop
 * polls (first signal: drain in order); a second one exits at once, as
 * pgbouncer does. SIGPIPE is ignored (sockets report EPIPE instead).
 */
#ifndef OTPFLOW_SIGNALS_H
#define OTPFLOW_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* Installs the handlers. Call once at startup. */
void signals_install(void);

/* True once SIGTERM or SIGINT arrived. */
bool signals_stop_requested(void);

#endif
