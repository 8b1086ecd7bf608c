/* The daemon life cycle and the fatal policy (see daemon.h). */
#include "daemon.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "signals.h"
#include "version.h"

static atomic_bool fatal;

void daemon_fatal(const char *what, const char *error)
{
	if (!atomic_exchange(&fatal, true))
		LOG(LOG_ERROR, "fatal error: stopping", "what", what, "error",
		    error);
}

bool daemon_failed(void)
{
	return atomic_load(&fatal);
}

bool daemon_stopping(void)
{
	return signals_stop_requested() || atomic_load(&fatal);
}

/* -1 to go on, or the exit status (help printed, bad argument). */
static int parse_args(const struct daemon_spec *spec, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("usage: otpflow-%s [--help] [--version]\n\n%s\n"
			       "Configuration: environment variables, see "
			       "docs/configuration.md\n(or `otpflowctl config "
			       "--markdown`). Exit status: 0 after a clean "
			       "stop, 1 on a\nruntime failure, 2 on bad "
			       "configuration.\n",
			       spec->name, spec->usage);
			return DAEMON_EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("otpflow-%s %s\n", spec->name,
			       otpflow_version());
			return DAEMON_EXIT_OK;
		}
		fprintf(stderr,
			"otpflow-%s: unknown argument '%s' (try --help)\n",
			spec->name, argv[i]);
		return DAEMON_EXIT_CONFIG;
	}
	return -1;
}

/* Configuration and logging; -1 to go on (cfg loaded), else exit status. */
static int configure(const struct daemon_spec *spec, struct cfg *cfg)
{
	enum log_level level = LOG_INFO;

	cfg_load(cfg, spec->user);
	if (cfg->nerrors) {
		fprintf(stderr,
			"otpflow-%s: invalid configuration (%d problem%s):\n%s",
			spec->name, cfg->nerrors, cfg->nerrors == 1 ? "" : "s",
			cfg->errors);
		cfg_free(cfg);
		return DAEMON_EXIT_CONFIG;
	}
	log_level_parse(cfg_str(cfg, CFG_OTPFLOW_LOG_LEVEL), &level);
	log_init(spec->name, level);
	cfg_warn_unknown();
	cfg_log_effective(cfg);
	signals_install();
	return -1;
}

int daemon_main(const struct daemon_spec *spec, int argc, char **argv)
{
	struct events *ev = NULL;
	struct admin *admin = NULL;
	void *state = NULL;
	char errstr[1024] = "";
	struct cfg cfg;
	int rc = parse_args(spec, argc, argv);

	if (rc >= 0 || (rc = configure(spec, &cfg)) >= 0)
		return rc;
	rc = DAEMON_EXIT_FAILED;
	ev = events_from_config(&cfg, errstr, sizeof(errstr));
	if (!ev) {
		LOG(LOG_ERROR, "cannot load event schemas", "error", errstr);
		goto out;
	}
	rc = spec->create(&cfg, ev, &state, errstr, sizeof(errstr));
	if (rc == DAEMON_EXIT_FAILED && signals_stop_requested()) {
		rc = DAEMON_EXIT_OK; /* stopped while starting (waiting for
				      * Postgres, say): nothing to drain */
		goto out;
	}
	if (rc != DAEMON_EXIT_OK) {
		LOG(LOG_ERROR, "cannot start", "error", errstr);
		if (rc == DAEMON_EXIT_CONFIG)
			fprintf(stderr, "otpflow-%s: %s\n", spec->name, errstr);
		goto out;
	}
	if (spec->admin_default) {
		const char *listen = cfg_str(&cfg, CFG_OTPFLOW_ADMIN_LISTEN);

		if (!listen || !*listen)
			listen = spec->admin_default;
		admin = admin_start(listen, spec->ready, state, errstr,
				    sizeof(errstr));
		if (!admin) {
			LOG(LOG_ERROR, "cannot start the admin server",
			    "address", listen, "error", errstr);
			rc = DAEMON_EXIT_FAILED;
			goto out;
		}
		LOG(LOG_INFO, "admin listening", "address", listen);
	}
	rc = spec->run(state);
	if (daemon_failed())
		rc = DAEMON_EXIT_FAILED;
	LOG(LOG_INFO, "stopping");
out:
	admin_stop(admin);
	if (state)
		spec->destroy(state);
	events_destroy(ev);
	cfg_free(&cfg);
	if (rc == DAEMON_EXIT_OK)
		LOG(LOG_INFO, "stopped");
	return rc;
}
