/*
 * otpflowctl subcommands. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 runtime failure, 2 usage.
 */
#ifndef OTPFLOW_CTL_H
#define OTPFLOW_CTL_H

#include <stdbool.h>

#include "config.h"

enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2 };

/* Bound of closing a consumer when a command ends. */
#define CLOSE_TIMEOUT_MS 5000

int ctl_migrate(int argc, char **argv);
int ctl_config(int argc, char **argv);
int ctl_keygen(int argc, char **argv);
int ctl_topics(int argc, char **argv);
int ctl_tail(int argc, char **argv);
int ctl_stats(int argc, char **argv);
int ctl_replay(int argc, char **argv);

/* True, with usage printed on stdout, if argv holds -h or --help. */
bool ctl_help(int argc, char **argv, const char *usage);

/* 0 if argc is 0; else -1 with a message naming the first argument. */
int ctl_no_args(const char *cmd, int argc, char **argv);

/*
 * Loads the configuration of otpflowctl into cfg (the caller cfg_frees it
 * on success); with need_db OTPFLOW_DATABASE_URL must be set. -1 with
 * every problem printed (cfg freed already): exit with CTL_USAGE.
 */
int ctl_config_load(struct cfg *cfg, const char *cmd, bool need_db);

#endif
