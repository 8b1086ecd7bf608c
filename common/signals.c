/*
 * Signal handling: the handler only touches a volatile sig_atomic_t, or, on
 * the second signal, calls _exit(), which is async-signal-safe.
 */
#include "signals.h"

#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_count;

static void on_stop(int sig)
{
	(void)sig;
	if (stop_count++ > 0)
		_exit(1);
}

void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

bool signals_stop_requested(void)
{
	return stop_count > 0;
}
