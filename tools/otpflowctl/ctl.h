/*
 * otpflowctl subcommands. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 runtime failure, 2 usage.
 */
#ifndef OTPFLOW_CTL_H
#define OTPFLOW_CTL_H

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

/* True if argv holds -h or --help (then the command prints its usage). */
int ctl_wants_help(int argc, char **argv);

#endif
