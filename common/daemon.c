/* Daemon start-up sequence (see daemon.h). */
#include "daemon.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "signals.h"
#include "version.h"

int daemon_start(struct cfg *cfg, const char *name, unsigned user,
		 const char *usage, int argc, char **argv)
{
	enum log_level level;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("usage: otpflow-%s [--help] [--version]\n\n%s\n"
			       "Configuration: environment variables, see "
			       "docs/configuration.md\n(or `otpflowctl config "
			       "--markdown`).\n",
			       name, usage);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("otpflow-%s %s\n", name, otpflow_version());
			return 0;
		}
		fprintf(stderr,
			"otpflow-%s: unknown argument '%s' (try --help)\n",
			name, argv[i]);
		return 2;
	}
	cfg_load(cfg, user);
	if (!log_level_parse(cfg_str(cfg, CFG_OTPFLOW_LOG_LEVEL), &level))
		cfg_error(cfg, "OTPFLOW_LOG_LEVEL: expected debug, info, warn "
			       "or error");
	if (cfg->nerrors) {
		fprintf(stderr,
			"otpflow-%s: invalid configuration (%d "
			"problem%s):\n%s",
			name, cfg->nerrors, cfg->nerrors == 1 ? "" : "s",
			cfg->errors);
		cfg_free(cfg);
		return 2;
	}
	log_init(name, level);
	cfg_warn_unknown();
	cfg_log_effective(cfg);
	signals_install();
	return -1;
}
