/*
 * Ledger pruning: one bounded DELETE of the oldest expired rows per call
 * (the caller repeats while a call deletes a full batch).
 */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>

enum pg_class ledger_prune(PGconn *conn, const char *table, const char *column,
			   long long retention_ms, long long *deleted,
			   char *errstr, size_t errstr_size)
{
	char sql[512], age[48], limit[24];
	const char *params[2] = { age, limit };
	PGresult *res = NULL;
	enum pg_class cls;

	*deleted = 0;
	snprintf(age, sizeof(age), "%lld milliseconds", retention_ms);
	snprintf(limit, sizeof(limit), "%d", LEDGER_PRUNE_BATCH);
	snprintf(sql, sizeof(sql),
		 "DELETE FROM %s WHERE ctid = ANY(ARRAY("
		 "  SELECT ctid FROM %s WHERE %s < now() - $1::interval"
		 "  LIMIT $2::int FOR UPDATE SKIP LOCKED))",
		 table, table, column);
	cls = pg_exec_params(conn, sql, 2, params, &res, NULL, errstr,
			     errstr_size);
	if (cls == PG_OK)
		*deleted = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return cls;
}
