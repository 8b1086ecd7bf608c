/*
 * Postgres helpers: connecting with otpflow's session settings, the one
 * classification of Postgres failures, and a transaction runner that
 * retries serialization failures and deadlocks.
 */
#ifndef OTPFLOW_PG_H
#define OTPFLOW_PG_H

#include <libpq-fe.h>
#include <stddef.h>

enum pg_class {
	PG_OK,
	PG_RETRY_TXN, /* serialization failure / deadlock: rerun the txn */
	PG_RETRY_CONN, /* connection lost or server unavailable: reconnect */
	PG_FAILED,     /* anything else: a bug or bad data, do not retry */
};

/*
 * Connects to url (libpq conninfo or URI) with application_name set to
 * app. Returns NULL with a message in errstr; the caller owns the result
 * (PQfinish). Connection timeout 10 s unless the URL sets one.
 */
PGconn *pg_connect(const char *url, const char *app, char *errstr,
		   size_t errstr_size);

/* Classifies a result (NULL res: connection-level failure). */
enum pg_class pg_classify(PGconn *conn, const PGresult *res);

/* Runs one statement without parameters; PG_OK on success. */
enum pg_class pg_exec(PGconn *conn, const char *sql, char *errstr,
		      size_t errstr_size);

/*
 * The body of a transaction: issues its statements on conn and returns
 * PG_OK, or the class of the first failure (with errstr filled).
 */
typedef enum pg_class (*pg_txn_fn)(PGconn *conn, void *arg, char *errstr,
				   size_t errstr_size);

/*
 * BEGIN; fn; COMMIT. A PG_RETRY_TXN outcome (of fn or of COMMIT) rolls back
 * and reruns fn, up to max_attempts times in all, so fn must be safe to
 * rerun. Returns the final class; on PG_RETRY_CONN the caller reconnects.
 */
enum pg_class pg_txn_run(PGconn *conn, pg_txn_fn fn, void *arg,
			 int max_attempts, char *errstr, size_t errstr_size);

#endif
