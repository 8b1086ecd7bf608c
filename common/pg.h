/*
 * Postgres helpers: connecting with otpflow's session settings, the one
 * classification of Postgres failures, a session that reconnects with
 * backoff and reports readiness, one exec-and-classify helper, a
 * transaction runner that retries serialization failures and deadlocks,
 * and the array literal builder for batch statements.
 */
#ifndef OTPFLOW_PG_H
#define OTPFLOW_PG_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What to do about a Postgres failure (docs/api.md §3, failure policy):
 * only PG_DATA can be the data's fault, and only once it repeats for one
 * request alone; every other failure is waited out, never dropped.
 */
enum pg_class {
	PG_OK,
	PG_RETRY_TXN, /* serialization failure / deadlock: rerun the txn now */
	PG_RETRY_CONN, /* connection lost, server going away or read-only (a
			* failover): reconnect with backoff, then retry */
	PG_RETRY_LATER, /* the server answers but cannot do it now (statement or
			 * lock timeout, resources, system or internal error,
			 * permissions, an unknown code, a client-side failure):
			 * back off and retry on the same connection */
	PG_DATA, /* SQLSTATE class 22 (data exception) or 23 (integrity
		  * constraint): maybe this data's fault */
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

/* The class of an error SQLSTATE (five characters; NULL or "": unknown). */
enum pg_class pg_classify_sqlstate(const char *sqlstate);

/*
 * Runs one statement with n text parameters (params may be NULL when n is
 * 0) and classifies the outcome: the one exec-and-classify helper. On PG_OK
 * *res (when res is not NULL) holds the result, which the caller PQclears.
 * On failure errstr holds the server's message (first line) and sqlstate
 * (when not NULL, 6 bytes) its SQLSTATE, or "" without one.
 */
enum pg_class pg_exec_params(PGconn *conn, const char *sql, int n,
			     const char *const *params, PGresult **res,
			     char *sqlstate, char *errstr, size_t errstr_size);

/* pg_exec_params without parameters or result. */
enum pg_class pg_exec(PGconn *conn, const char *sql, char *errstr,
		      size_t errstr_size);

/*
 * A connection that comes back: every daemon talks to Postgres through one.
 * Not thread-safe except pg_session_ready.
 */
struct pg_session {
	const char *url; /* borrowed */
	const char *app; /* application_name, borrowed */
	PGconn *conn; /* NULL while disconnected */
	int64_t retry_at; /* monotonic ms: no attempt before */
	int64_t backoff_ms;
	atomic_bool ok; /* the last attempt worked (for /readyz) */
};

/* Sets up a disconnected session; url and app must outlive it. */
void pg_session_init(struct pg_session *s, const char *url, const char *app);

/*
 * Connects if needed, without waiting: true when s->conn is usable now;
 * false while Postgres is unreachable or the backoff after a failure has
 * not passed yet (the next call tries again after it), even when the
 * connection itself is still open.
 */
bool pg_session_connect(struct pg_session *s);

/*
 * Connects, waiting with backoff (100 ms doubling to 2 s) while Postgres is
 * unreachable; false only once daemon_stopping().
 */
bool pg_session_wait(struct pg_session *s);

/*
 * Runs one statement with text parameters (n of them; params may be NULL
 * when n is 0). On PG_OK *res (if res is not NULL) holds the result, which
 * the caller PQclears. Otherwise errstr says why and the session took the
 * failure (pg_session_failed).
 */
enum pg_class pg_session_exec(struct pg_session *s, const char *sql, int n,
			      const char *const *params, PGresult **res,
			      char *errstr, size_t errstr_size);

/*
 * A statement on s->conn failed with class cls: logs it (what: the step),
 * drops the connection on PG_RETRY_CONN, marks the session not ready and
 * sets the backoff before the next attempt (pg_session_connect and
 * pg_session_wait honour it, connected or not).
 */
void pg_session_failed(struct pg_session *s, enum pg_class cls,
		       const char *what, const char *errstr);

/* A statement on s->conn worked: ready again, backoff reset. */
void pg_session_succeeded(struct pg_session *s);

/* True while the last attempt worked (thread-safe, for /readyz). */
bool pg_session_ready(struct pg_session *s);

/* Disconnects (the session can connect again). */
void pg_session_close(struct pg_session *s);

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
