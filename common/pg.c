/*
 * Postgres plumbing. Classification is by SQLSTATE class: 40001/40P01 are
 * worth rerunning, class 08 and the 57P0x shutdown codes mean the server
 * or connection went away, everything else is final.
 */
#include "pg.h"

#include <stdio.h>
#include <string.h>

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
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return PG_RETRY_TXN;
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
		return PG_RETRY_CONN;
	return PG_FAILED;
}

enum pg_class pg_exec(PGconn *conn, const char *sql, char *errstr,
		      size_t errstr_size)
{
	PGresult *res = PQexec(conn, sql);
	enum pg_class cls = pg_classify(conn, res);

	if (cls != PG_OK) {
		snprintf(errstr, errstr_size, "%s", PQerrorMessage(conn));
		errstr[strcspn(errstr, "\n")] = '\0';
	}
	PQclear(res);
	return cls;
}

enum pg_class pg_txn_run(PGconn *conn, pg_txn_fn fn, void *arg,
			 int max_attempts, char *errstr, size_t errstr_size)
{
	enum pg_class cls = PG_FAILED;

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
