/*
 * The slow-client deadline of ingest's connections (docs/api.md §1.7).
 * MHD's connection timeout only closes a connection that stays silent that
 * long, so a client sending one byte per second would hold it open for
 * ever (slowloris). Each connection therefore also has a deadline, armed
 * when it starts waiting for a request (accepted, or its previous answer
 * sent) and disarmed once the request is in (an answer queued, or the
 * record handed to Kafka); a reaper thread shuts down the socket of a
 * connection past its deadline, and MHD then closes it as one the client
 * dropped.
 */
#ifndef OTPFLOW_INGEST_REAPER_H
#define OTPFLOW_INGEST_REAPER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct conn_clock;

/* The deadlines of every open connection, and the thread enforcing them. */
struct reaper {
	long long timeout_ms; /* OTPFLOW_CONNECTION_TIMEOUT, 0: none */
	pthread_mutex_t lock; /* guards the list, not the deadlines */
	struct conn_clock *clocks;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

/* Prepares r (no thread yet); timeout_ms 0 arms no deadline. */
void reaper_init(struct reaper *r, long long timeout_ms);

/* Starts the thread. 0, or -1 with errstr. */
int reaper_start(struct reaper *r, char *errstr, size_t errstr_size);

/* Stops the thread, if started; deadlines are no longer enforced. */
void reaper_stop(struct reaper *r);

/*
 * Releases r (stopping the thread first if needed). Only once the server
 * has stopped: closing connections still notifies reaper_on_connection.
 */
void reaper_destroy(struct reaper *r);

/*
 * MHD_OPTION_NOTIFY_CONNECTION callback, cls = the struct reaper: gives
 * each connection a clock, armed at accept, from accept until MHD is about
 * to close the socket (it notifies CLOSED before close(), so the reaper
 * never touches a reused descriptor). A connection without a clock (out of
 * memory) keeps MHD's idle timeout only.
 */
void reaper_on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe);

/* The client has until now + the timeout to deliver its next request. */
void reaper_arm(const struct reaper *r, struct MHD_Connection *conn);

/* The request is in: from here on the wait is the server's. */
void reaper_disarm(struct MHD_Connection *conn);

#endif
