/*
 * Administrative otpflowctl commands: migrate (apply sql/ to the
 * database), config (effective configuration, or the Markdown reference),
 * keygen (a key pair for the sealed OTP).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "log.h"
#include "migrate.h"
#include "paths.h"
#include "pg.h"
#include "seal.h"

int ctl_migrate(int argc, char **argv)
{
	struct cfg cfg;
	char sql_dir[4096], errstr[1024];
	PGconn *conn = NULL;
	int applied = 0, rc = CTL_FAILED;

	if (ctl_help(
		    argc, argv,
		    "usage: otpflowctl migrate\n\n"
		    "Applies the SQL migrations (sql/ in OTPFLOW_DATA_DIR) that "
		    "the database at\nOTPFLOW_DATABASE_URL has not applied yet: "
		    "the Nhost-compatible auth schema\nand otpflow's own tables. "
		    "Safe to run any number of times, concurrently,\nand on a "
		    "database that already has Nhost's auth schema."))
		return CTL_OK;
	if (ctl_no_args("migrate", argc, argv) ||
	    ctl_config_load(&cfg, "migrate", true))
		return CTL_USAGE;
	paths_data(&cfg, "sql", sql_dir, sizeof(sql_dir));
	conn = pg_connect(cfg_str(&cfg, CFG_OTPFLOW_DATABASE_URL), "otpflowctl",
			  errstr, sizeof(errstr));
	if (!conn) {
		fprintf(stderr, "otpflowctl migrate: %s\n", errstr);
		goto out;
	}
	if (migrate_run(conn, sql_dir, &applied, errstr, sizeof(errstr))) {
		fprintf(stderr, "otpflowctl migrate: %s (%d applied before)\n",
			errstr, applied);
		goto out;
	}
	printf("migrate: %d migration%s applied from %s\n", applied,
	       applied == 1 ? "" : "s", sql_dir);
	rc = CTL_OK;
out:
	if (conn)
		PQfinish(conn);
	cfg_free(&cfg);
	return rc;
}

int ctl_config(int argc, char **argv)
{
	struct cfg cfg;

	if (ctl_help(argc, argv,
		     "usage: otpflowctl config [--markdown]\n\n"
		     "Without options: checks the configuration otpflowctl "
		     "would use and logs it\n(secrets redacted). --markdown: "
		     "prints the reference of every variable\n(docs/"
		     "configuration.md is this output)."))
		return CTL_OK;
	if (argc == 1 && strcmp(argv[0], "--markdown") == 0) {
		cfg_write_markdown(stdout);
		return CTL_OK;
	}
	if (ctl_no_args("config", argc, argv) ||
	    ctl_config_load(&cfg, "config", false))
		return CTL_USAGE;
	cfg_warn_unknown();
	cfg_log_effective(&cfg);
	cfg_free(&cfg);
	return CTL_OK;
}

int ctl_keygen(int argc, char **argv)
{
	char pk[SEAL_KEY_B64_SIZE], sk[SEAL_KEY_B64_SIZE];

	if (ctl_help(argc, argv,
		     "usage: otpflowctl keygen\n\n"
		     "Prints a new key pair for the sealed OTP as environment "
		     "assignments:\nOTPFLOW_SEAL_PUBLIC_KEY goes to the worker, "
		     "OTPFLOW_SEAL_SECRET_KEY to the\nsender only. Keep the "
		     "secret key secret."))
		return CTL_OK;
	if (ctl_no_args("keygen", argc, argv))
		return CTL_USAGE;
	if (seal_keygen(pk, sk)) {
		fprintf(stderr, "otpflowctl keygen: libsodium failed\n");
		return CTL_FAILED;
	}
	printf("OTPFLOW_SEAL_PUBLIC_KEY=%s\nOTPFLOW_SEAL_SECRET_KEY=%s\n", pk,
	       sk);
	return CTL_OK;
}
