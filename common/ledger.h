/*
 * Pruning of otpflow's ledger tables (docs/api.md §3): the rows that prove
 * a record was handled (the worker's processed_requests and otp_issuance,
 * the sender's sms_deliveries; each daemon prunes its own) are kept
 * OTPFLOW_LEDGER_RETENTION, longer than any topic keeps a record, then
 * deleted in small batches, so that no table grows forever and no prune
 * holds many locks at once.
 */
#ifndef OTPFLOW_LEDGER_H
#define OTPFLOW_LEDGER_H

#include <libpq-fe.h>
#include <stddef.h>

#include "pg.h"

/* Rows one ledger_prune call deletes at most. */
#define LEDGER_PRUNE_BATCH 1000

/*
 * Deletes up to LEDGER_PRUNE_BATCH rows of table (schema-qualified) whose
 * timestamp column is older than retention_ms, skipping rows another
 * session has locked; *deleted gets how many. table and column are names
 * from the code, never outside input. PG_OK or the failure's class.
 */
enum pg_class ledger_prune(PGconn *conn, const char *table, const char *column,
			   long long retention_ms, long long *deleted,
			   char *errstr, size_t errstr_size);

#endif
