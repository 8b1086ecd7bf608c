/*
 * Postgres helpers: connecting with otpflow's session settings, the one
 * classification of Postgres failures, and a transaction runner that
 * retries serialization failures and deadlocks.
 */
#ifndef OTPFLOW_PG_H
#define OTPFLOW_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

enum pg_class {
	PG_OK,
	PG_RETRY_TXN, /* serialization failure / deadlock: rerun the txn */
	PG_RETRY_CONN, /* connection lost or server unavailable: reconnect */
	PG_FAILED, /* anything else: a bug or bad data, do not retry */
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

/*
 * A Postgres array literal built element by element, for passing a batch
 * as one parameter ($1::text[], unnest(...)). Grows up to max_bytes; past
 * that `overflow` is set and nothing more is added.
 */
struct pg_array {
	char *buf;
	size_t len, cap, max;
	size_t n;
	bool overflow;
	bool closed;
};

void pg_array_init(struct pg_array *a, size_t max_bytes);
/* Adds a text element; NULL adds SQL NULL. */
void pg_array_add(struct pg_array *a, const char *s);
/* Adds a bytea element (hex format). */
void pg_array_add_bytea(struct pg_array *a, const void *p, size_t n);
/* The literal, e.g. {"a","b",NULL}; owned by a. NULL on overflow. */
const char *pg_array_text(struct pg_array *a);
void pg_array_free(struct pg_array *a);

#endif
