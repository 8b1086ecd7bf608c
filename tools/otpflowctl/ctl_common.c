/*
 * What every otpflowctl command shares: --help, the check that a command
 * takes no arguments, and loading the configuration (every problem
 * reported at once, exit status 2).
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

bool ctl_help(int argc, char **argv, const char *usage)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			puts(usage);
			return true;
		}
	}
	return false;
}

int ctl_no_args(const char *cmd, int argc, char **argv)
{
	if (argc == 0)
		return 0;
	fprintf(stderr, "otpflowctl %s: unexpected argument %s\n", cmd,
		argv[0]);
	return -1;
}

int ctl_config_load(struct cfg *cfg, const char *cmd, bool need_db)
{
	const char *url;

	cfg_load(cfg, CFG_CTL);
	url = cfg_str(cfg, CFG_OTPFLOW_DATABASE_URL);
	if (need_db && (!url || !*url))
		cfg_error(cfg,
			  "OTPFLOW_DATABASE_URL is required by "
			  "'otpflowctl %s'",
			  cmd);
	if (cfg->nerrors == 0)
		return 0;
	fprintf(stderr, "otpflowctl %s: invalid configuration:\n%s", cmd,
		cfg->errors);
	cfg_free(cfg);
	return -1;
}
