/*
 * Start-up shared by the three daemons: --help and --version, the
 * configuration (every problem reported at once, then exit status 2),
 * logging, the effective-configuration log line and signal handlers.
 */
#ifndef OTPFLOW_DAEMON_H
#define OTPFLOW_DAEMON_H

#include "config.h"

/*
 * Returns -1 when the daemon should go on running with cfg loaded (the
 * caller then owns cfg and calls cfg_free), or the exit status to return
 * at once (help printed, or bad configuration reported on stderr).
 */
int daemon_start(struct cfg *cfg, const char *name, unsigned user,
		 const char *usage, int argc, char **argv);

#endif
