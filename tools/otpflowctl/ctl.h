/*
 * otpflowctl subcommands. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 runtime failure, 2 usage.
 */
#ifndef OTPFLOW_CTL_H
#define OTPFLOW_CTL_H

#include <librdkafka/rdkafka.h>
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

/*
 * Called for each record read (rkm borrowed), and with NULL while waiting
 * for more, so that the caller can serve its own producer.
 */
typedef void (*ctl_record_fn)(void *arg, const rd_kafka_message_t *rkm);

/*
 * Reads topic with consumer (assigned here, no group offsets used) from
 * the start of each partition up to the end offsets it has now, calling fn
 * for each record; stops early on a stop signal. A topic that does not
 * exist has no records. 0, or -1 with errstr.
 */
int ctl_read_topic(rd_kafka_t *consumer, const char *topic, ctl_record_fn fn,
		   void *arg, char *errstr, size_t errstr_size);

#endif
