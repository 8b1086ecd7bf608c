/* otpflowctl: the operator CLI. Dispatches to the subcommands of ctl.h. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "version.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "migrate", ctl_migrate, "apply the database migrations" },
	{ "config", ctl_config,
	  "check the configuration; --markdown: reference" },
	{ "keygen", ctl_keygen, "make a key pair for the sealed OTP" },
	{ "topics", ctl_topics, "create missing otpflow topics and list them" },
	{ "tail", ctl_tail, "print an otpflow topic as JSON lines" },
	{ "stats", ctl_stats, "offsets, lag, counts and their reconciliation" },
	{ "replay", ctl_replay,
	  "send dead-lettered codes again (or fresh ones)" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: otpflowctl COMMAND [ARGS]\n\n"
		     "Operator tool of otpflow. Configuration comes from the "
		     "environment\n(see docs/configuration.md).\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\n'otpflowctl COMMAND --help' describes a command.\n"
		     "Exit status: 0 success, 1 failure, 2 usage or "
		     "configuration error.\n");
}

int main(int argc, char **argv)
{
	enum log_level level = LOG_WARN;

	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("otpflowctl %s\n", otpflow_version());
		return CTL_OK;
	}
	if (strcmp(argv[1], "config") == 0)
		level = LOG_INFO; /* its output is the effective-config line */
	log_init("otpflowctl", level);
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 2, argv + 2);
	fprintf(stderr, "otpflowctl: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return CTL_USAGE;
}
