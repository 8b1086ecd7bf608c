/*
 * Schema migrations. Applies the numbered SQL files of a directory
 * (NNNN_name.sql, e.g. sql/0001_auth.sql) that a database has not recorded
 * yet in otpflow.schema_migrations, in version order, each in its own
 * transaction together with its record. A Postgres session advisory lock
 * serialises concurrent runners (several workers starting at once).
 *
 * Files must be idempotent, must not contain transaction control (BEGIN,
 * COMMIT) and must not use statements that cannot run inside a transaction
 * (CREATE INDEX CONCURRENTLY).
 */
#ifndef OTPFLOW_MIGRATE_H
#define OTPFLOW_MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

/* Key of the session advisory lock held while migrating ("otpflow"). */
#define MIGRATE_LOCK_KEY 31371748518424439LL

/* Largest migration file read, and most files a directory may hold. */
#define MIGRATE_MAX_FILE_BYTES (1024 * 1024)
#define MIGRATE_MAX_FILES 1000

/*
 * Brings the database up to date with the files of sql_dir.
 *
 * conn: an open connection, idle (no transaction in progress), borrowed; it
 * is left idle and unlocked on return, unless it broke. It must be a real
 * session: a session advisory lock does not work through a pooler in
 * transaction mode. The lock wait has no timeout of its own; set
 * lock_timeout on the connection to bound it.
 * sql_dir: directory of NNNN_name.sql files (1 to 9 digits, an underscore,
 * a name of letters, digits, '_', '-' or '.'); other entries are ignored.
 * Two files with one version number are an error.
 * applied: if not NULL, set to the number of files applied by this call,
 * also on failure (the files applied before the failing one stay applied).
 * errstr: caller-owned, errstr_size bytes; on failure it holds the file name
 * and the Postgres or system error.
 *
 * Returns 0 on success (including when nothing was pending), -1 on failure.
 */
int migrate_run(PGconn *conn, const char *sql_dir, int *applied, char *errstr,
		size_t errstr_size);

#endif
