/*
 * otpflowctl replay, shared by its two kinds of dead letters: the options,
 * the state of one run, and publishing a record with the replay headers.
 * ctl_replay.c runs it; ctl_replay_sms.c replays SmsDeadLetter records,
 * ctl_replay_signup.c SignupDeadLetter records.
 */
#ifndef OTPFLOW_CTL_REPLAY_H
#define OTPFLOW_CTL_REPLAY_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "config.h"
#include "events.h"
#include "ids.h"
#include "phone.h"

struct replay_opts {
	bool signups; /* --topic is the signup dead-letter topic */
	long long since_ms, until_ms; /* on the dead letter's time; 0 = open */
	const char *reason;
	char phone[PHONE_MAX];
	long long limit;
	bool dry_run;
	double rate; /* records per second; 0 = unlimited */
};

struct replay_counts {
	long long scanned, matched, undecodable, failed;
	/* SmsDeadLetter */
	long long resent, reissued, already_sent, already_reissued;
	/* SignupDeadLetter */
	long long resubmitted, already_resubmitted, not_replayable;
};

struct replay {
	const struct cfg *cfg;
	struct replay_opts o;
	struct replay_counts n;
	struct events *ev;
	rd_kafka_t *consumer, *producer;
	PGconn *pg;
	int pending; /* produced, report not yet seen */
};

/*
 * Publishes value to topic with the replay headers (x-replay-of: the dead
 * letter's coordinates; x-replay-count) and a child traceparent. -1
 * (counted as failed) when it cannot be queued.
 */
int replay_publish(struct replay *r, const char *topic, const char *key,
		   const void *value, size_t len, const char *request_id,
		   const char *traceparent, const char *replay_of, int count);

/*
 * The replay bookkeeping of a dead letter rkm: its coordinates ("topic/
 * partition/offset") into where, its x-replay-count + 1 into *count and a
 * child of its traceparent into tp.
 */
void replay_context(const rd_kafka_message_t *rkm, char *where,
		    size_t where_size, int *count,
		    char tp[IDS_TRACEPARENT_SIZE]);

/* A UUID derived from id and purpose: the same dead letter, the same id. */
void replay_derived_id(const char *id, const char *purpose,
		       char out[IDS_UUID_SIZE]);

/* Whether a query with one text parameter returns a row; -1 on error. */
int replay_exists(PGconn *conn, const char *sql, const char *param);

/*
 * Whether a dead letter dead-lettered at at_ms, with reason and phone,
 * passes the filters (--since, --until, --reason, --phone) and --limit;
 * counts it as matched if so. A NULL phone passes only without --phone.
 */
bool replay_matches(struct replay *r, long long at_ms, const char *reason,
		    const char *phone);

/*
 * Encodes request (a SignupRequested) and publishes it to signup-requests
 * under request_id, with the replay headers. 0, or -1 (counted as failed
 * when it could not be queued).
 */
int replay_submit(struct replay *r, const json_t *request,
		  const char *request_id, const char *phone, const char *tp,
		  const char *where, int count);

/* Prints the line of one dead letter and honours --rate. */
void replay_report(struct replay *r, const char *action, const char *id_name,
		   const char *id, const char *phone, const char *reason);

/* One SmsDeadLetter (ctl_replay_sms.c). */
void replay_sms(struct replay *r, const rd_kafka_message_t *rkm);

/* One SignupDeadLetter (ctl_replay_signup.c). */
void replay_signup(struct replay *r, const rd_kafka_message_t *rkm);

#endif
