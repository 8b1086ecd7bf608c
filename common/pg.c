/*
 * Postgres plumbing. Classification is by SQLSTATE (pg.h): 40001/40P01 are
 * worth rerunning at once; class 08, the 57P0x shutdown codes and 25006
 * (read-only: the server became a standby) mean reconnecting; classes 22
 * and 23 may be the data's fault; everything else is waited out.
 */
#include "pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000

PGconn *pg_connect(const char *url, const char *app, char *errstr,
		   size_t errstr_size)
{
	const char *keys[] = { "dbname", "application_name", "connect_timeout",
			       NULL };
	const char *vals[] = { url, app, "10", NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);

	if (!conn) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(errstr, errstr_size, "Postgres: %s",
			 PQerrorMessage(conn));
		/* libpq messages end with a newline. */
		errstr[strcspn(errstr, "\n")] = '\0';
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

enum pg_class pg_classify(PGconn *conn, const PGresult *res)
{
	const char *state;

	if (res) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
		    st == PGRES_PIPELINE_SYNC)
			return PG_OK;
	}
	if (!res || PQstatus(conn) != CONNECTION_OK)
		return PG_RETRY_CONN;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!state)
		return PG_RETRY_CONN;
	return pg_classify_sqlstate(state);
}

enum pg_class pg_classify_sqlstate(const char *state)
{
	if (!state || strlen(state) != 5)
		return PG_RETRY_LATER;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return PG_RETRY_TXN;
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0 ||
	    strcmp(state, "25006") == 0)
		return PG_RETRY_CONN;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return PG_DATA;
	return PG_RETRY_LATER;
}

enum pg_class pg_exec_params(PGconn *conn, const char *sql, int n,
			     const char *const *params, PGresult **res,
			     char *sqlstate, char *errstr, size_t errstr_size)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	enum pg_class cls = pg_classify(conn, r);
	const char *state;

	if (res)
		*res = NULL;
	if (cls == PG_OK) {
		if (res)
			*res = r;
		else
			PQclear(r);
		return PG_OK;
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (sqlstate)
		snprintf(sqlstate, 6, "%s", state ? state : "");
	snprintf(errstr, errstr_size, "%s",
		 r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) :
						 PQerrorMessage(conn));
	errstr[strcspn(errstr, "\n")] = '\0';
	PQclear(r);
	return cls;
}

enum pg_class pg_exec(PGconn *conn, const char *sql, char *errstr,
		      size_t errstr_size)
{
	return pg_exec_params(conn, sql, 0, NULL, NULL, NULL, errstr,
			      errstr_size);
}

void pg_session_init(struct pg_session *s, const char *url, const char *app)
{
	memset(s, 0, sizeof(*s));
	s->url = url;
	s->app = app;
	s->backoff_ms = BACKOFF_FIRST_MS;
	atomic_init(&s->ok, false);
}

/* The next attempt waits; the wait doubles up to BACKOFF_MAX_MS. */
static void backoff(struct pg_session *s)
{
	s->retry_at = clock_mono_ms() + s->backoff_ms;
	s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							     s->backoff_ms * 2;
}

bool pg_session_connect(struct pg_session *s)
{
	char errstr[512];

	if (clock_mono_ms() < s->retry_at)
		return false;
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return true;
	pg_session_close(s);
	s->conn = pg_connect(s->url, s->app, errstr, sizeof(errstr));
	if (!s->conn) {
		if (atomic_exchange(&s->ok, false) || !s->retry_at)
			LOG(LOG_WARN, "postgres unavailable; waiting", "error",
			    errstr);
		backoff(s);
		return false;
	}
	s->backoff_ms = BACKOFF_FIRST_MS;
	s->retry_at = 0;
	atomic_store(&s->ok, true);
	LOG(LOG_INFO, "postgres connected");
	return true;
}

bool pg_session_wait(struct pg_session *s)
{
	while (!daemon_stopping()) {
		if (pg_session_connect(s))
			return true;
		clock_sleep_ms(s->retry_at - clock_mono_ms());
	}
	return false;
}

void pg_session_failed(struct pg_session *s, enum pg_class cls,
		       const char *what, const char *errstr)
{
	LOG(cls == PG_DATA ? LOG_ERROR : LOG_WARN, "postgres failure", "step",
	    what, "error", errstr);
	if (cls == PG_RETRY_CONN)
		pg_session_close(s);
	atomic_store(&s->ok, false);
	backoff(s);
}

void pg_session_succeeded(struct pg_session *s)
{
	if (!atomic_exchange(&s->ok, true))
		LOG(LOG_INFO, "postgres usable again");
	s->backoff_ms = BACKOFF_FIRST_MS;
	s->retry_at = 0;
}

enum pg_class pg_session_exec(struct pg_session *s, const char *sql, int n,
			      const char *const *params, PGresult **res,
			      char *errstr, size_t errstr_size)
{
	enum pg_class cls;

	if (res)
		*res = NULL;
	if (!pg_session_connect(s)) {
		snprintf(errstr, errstr_size, "postgres unavailable");
		return PG_RETRY_CONN;
	}
	cls = pg_exec_params(s->conn, sql, n, params, res, NULL, errstr,
			     errstr_size);
	if (cls != PG_OK) {
		pg_session_failed(s, cls, "statement", errstr);
		return cls;
	}
	pg_session_succeeded(s);
	return PG_OK;
}

bool pg_session_ready(struct pg_session *s)
{
	return atomic_load(&s->ok);
}

void pg_session_close(struct pg_session *s)
{
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
}

enum pg_class pg_txn_run(PGconn *conn, pg_txn_fn fn, void *arg,
			 int max_attempts, char *errstr, size_t errstr_size)
{
	enum pg_class cls = PG_RETRY_TXN;

	for (int attempt = 0; attempt < max_attempts; attempt++) {
		char ignored[256];

		cls = pg_exec(conn, "BEGIN", errstr, errstr_size);
		if (cls != PG_OK)
			return cls;
		cls = fn(conn, arg, errstr, errstr_size);
		if (cls == PG_OK)
			cls = pg_exec(conn, "COMMIT", errstr, errstr_size);
		else
			pg_exec(conn, "ROLLBACK", ignored, sizeof(ignored));
		if (cls != PG_RETRY_TXN)
			return cls;
	}
	return cls;
}

static void array_put(struct pg_array *a, const char *p, size_t n)
{
	if (a->overflow || a->closed)
		return;
	if (a->len + n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap : 256;
		char *grown;

		while (a->len + n + 2 > cap)
			cap *= 2;
		if (cap > a->max)
			cap = a->max;
		if (a->len + n + 2 > cap || !(grown = realloc(a->buf, cap))) {
			a->overflow = true;
			return;
		}
		a->buf = grown;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void pg_array_init(struct pg_array *a, size_t max_bytes)
{
	memset(a, 0, sizeof(*a));
	a->max = max_bytes;
	array_put(a, "{", 1);
}

static void array_sep(struct pg_array *a)
{
	if (a->n++ > 0)
		array_put(a, ",", 1);
}

void pg_array_add(struct pg_array *a, const char *s)
{
	array_sep(a);
	if (!s) {
		array_put(a, "NULL", 4);
		return;
	}
	array_put(a, "\"", 1);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			array_put(a, "\\", 1);
		array_put(a, p, 1);
	}
	array_put(a, "\"", 1);
}

void pg_array_add_bytea(struct pg_array *a, const void *p, size_t n)
{
	static const char hexdig[] = "0123456789abcdef";
	const unsigned char *b = p;

	array_sep(a);
	/* Inside a quoted element the backslash itself is escaped. */
	array_put(a, "\"\\\\x", 4);
	for (size_t i = 0; i < n; i++) {
		char h[2] = { hexdig[b[i] >> 4], hexdig[b[i] & 15] };
		array_put(a, h, 2);
	}
	array_put(a, "\"", 1);
}

const char *pg_array_text(struct pg_array *a)
{
	if (!a->closed) {
		array_put(a, "}", 1);
		if (!a->overflow)
			a->buf[a->len] = '\0';
		a->closed = true;
	}
	return a->overflow ? NULL : a->buf;
}

void pg_array_free(struct pg_array *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}
