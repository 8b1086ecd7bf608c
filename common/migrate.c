/*
 * Migration runner: lists sql/NNNN_name.sql, takes the otpflow advisory lock,
 * makes sure otpflow.schema_migrations exists, and applies every file whose
 * version it does not record, one transaction per file. Owns the file list
 * and file buffers of one call; nothing outlives migrate_run().
 */
#include "migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIGRATE_NAME_MAX 256

struct migration {
	long version;
	char file[MIGRATE_NAME_MAX];
};

/*
 * The schema is created only when missing: CREATE SCHEMA IF NOT EXISTS needs
 * the CREATE right on the database even when the schema exists, and a
 * deployment may give otpflow a schema of its own and no such right.
 * Notices ("already exists, skipping") are expected and not shown.
 */
static const char ensure_sql[] =
	"SET LOCAL client_min_messages = warning;"
	"DO $$ BEGIN"
	" IF to_regnamespace('otpflow') IS NULL THEN CREATE SCHEMA otpflow;"
	" END IF; END $$;"
	"CREATE TABLE IF NOT EXISTS otpflow.schema_migrations ("
	" version int PRIMARY KEY,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())";

/*
 * Describes a failed command: the server's primary message and SQLSTATE
 * when there is a result, else the connection's message, without the
 * trailing newline libpq adds.
 */
static void set_pg_err(char *errstr, size_t errstr_size, PGconn *conn,
		       const PGresult *res, const char *what)
{
	const char *msg =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
				  NULL;
	size_t len;

	if (msg) {
		snprintf(errstr, errstr_size, "%s: %s (SQLSTATE %s)", what, msg,
			 state ? state : "?");
		return;
	}
	msg = PQerrorMessage(conn);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	if (len == 0) {
		msg = "unknown libpq error";
		len = strlen(msg);
	}
	snprintf(errstr, errstr_size, "%s: %.*s", what, (int)len, msg);
}

/* Runs one command without parameters and checks its status. */
static int exec_cmd(PGconn *conn, const char *sql, ExecStatusType want,
		    const char *what, char *errstr, size_t errstr_size)
{
	PGresult *res = PQexec(conn, sql);
	int rc = -1;

	if (!res || PQresultStatus(res) != want) {
		set_pg_err(errstr, errstr_size, conn, res, what);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Runs SELECT pg_advisory_lock / pg_advisory_unlock on the fixed key. */
static int advisory(PGconn *conn, const char *fn, char *errstr,
		    size_t errstr_size)
{
	char sql[64];
	char key[32];
	const char *params[1] = { key };
	PGresult *res;
	int rc = -1;

	snprintf(sql, sizeof(sql), "SELECT %s($1::bigint)", fn);
	snprintf(key, sizeof(key), "%lld", MIGRATE_LOCK_KEY);
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_pg_err(errstr, errstr_size, conn, res, fn);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Creates otpflow.schema_migrations unless it exists; a role that may not
 * create schemas still runs when it does. */
static int ensure_table(PGconn *conn, char *errstr, size_t errstr_size)
{
	PGresult *res = PQexec(
		conn,
		"SELECT to_regclass('otpflow.schema_migrations') IS NULL");
	int rc = -1;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		set_pg_err(errstr, errstr_size, conn, res,
			   "checking otpflow.schema_migrations");
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0 &&
	    exec_cmd(conn, ensure_sql, PGRES_COMMAND_OK,
		     "creating otpflow.schema_migrations", errstr,
		     errstr_size) < 0)
		goto out;
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* True, with *version set, for NNNN_name.sql. */
static bool parse_file_name(const char *file, long *version)
{
	size_t len = strlen(file);
	size_t digits = 0;
	const char *p;

	if (len >= MIGRATE_NAME_MAX || len < 6 ||
	    strcmp(file + len - 4, ".sql") != 0)
		return false;
	while (isdigit((unsigned char)file[digits]))
		digits++;
	if (digits == 0 || digits > 9 || file[digits] != '_' ||
	    digits + 1 == len - 4)
		return false;
	for (p = file + digits + 1; p < file + len - 4; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' &&
		    *p != '.')
			return false;
	}
	*version = strtol(file, NULL, 10);
	return true;
}

static int migration_cmp(const void *a, const void *b)
{
	const struct migration *ma = a;
	const struct migration *mb = b;

	return (ma->version > mb->version) - (ma->version < mb->version);
}

/* Lists and sorts the migration files of dir into *out (caller frees). */
static int list_files(const char *dir, struct migration **out, size_t *count,
		      char *errstr, size_t errstr_size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct migration *list = NULL;
	size_t n = 0;
	size_t cap = 0;
	long version;
	int rc = -1;

	if (!d) {
		snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
		goto out;
	}
	while ((errno = 0, de = readdir(d))) {
		if (!parse_file_name(de->d_name, &version))
			continue;
		if (n == MIGRATE_MAX_FILES) {
			snprintf(errstr, errstr_size,
				 "%s: more than %d migration files", dir,
				 MIGRATE_MAX_FILES);
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct migration *grown =
				realloc(list, ncap * sizeof(*list));

			if (!grown) {
				snprintf(errstr, errstr_size,
					 "%s: out of memory", dir);
				goto out;
			}
			list = grown;
			cap = ncap;
		}
		list[n].version = version;
		snprintf(list[n].file, sizeof(list[n].file), "%s", de->d_name);
		n++;
	}
	if (errno) {
		snprintf(errstr, errstr_size, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (n)
		qsort(list, n, sizeof(*list), migration_cmp);
	for (size_t i = 1; i < n; i++) {
		if (list[i].version == list[i - 1].version) {
			snprintf(errstr, errstr_size,
				 "%s: %s and %s have one version number", dir,
				 list[i - 1].file, list[i].file);
			goto out;
		}
	}
	*out = list;
	*count = n;
	list = NULL;
	rc = 0;
out:
	free(list);
	if (d)
		closedir(d);
	return rc;
}

/* Reads a whole regular file of at most MIGRATE_MAX_FILE_BYTES into a
 * NUL-terminated buffer the caller frees. */
static int read_file(const char *path, char **out, char *errstr,
		     size_t errstr_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t got;
	int rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errstr, errstr_size, "%s: not a regular file", path);
		goto out;
	}
	buf = malloc(MIGRATE_MAX_FILE_BYTES + 1);
	if (!buf) {
		snprintf(errstr, errstr_size, "%s: out of memory", path);
		goto out;
	}
	/* Read one byte past the cap to tell a full file from a longer one. */
	while (len <= MIGRATE_MAX_FILE_BYTES) {
		got = read(fd, buf + len, MIGRATE_MAX_FILE_BYTES + 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(errstr, errstr_size, "%s: %s", path,
				 strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > MIGRATE_MAX_FILE_BYTES) {
		snprintf(errstr, errstr_size, "%s: larger than %d bytes", path,
			 MIGRATE_MAX_FILE_BYTES);
		goto out;
	}
	if (memchr(buf, '\0', len)) {
		snprintf(errstr, errstr_size, "%s: contains a NUL byte", path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* 1 if version is recorded, 0 if not, -1 on error. */
static int is_applied(PGconn *conn, const struct migration *m, char *errstr,
		      size_t errstr_size)
{
	char version[24];
	const char *params[1] = { version };
	PGresult *res;
	int rc = -1;

	snprintf(version, sizeof(version), "%ld", m->version);
	res = PQexecParams(conn,
			   "SELECT 1 FROM otpflow.schema_migrations"
			   " WHERE version = $1::int",
			   1, NULL, params, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_pg_err(errstr, errstr_size, conn, res, m->file);
		goto out;
	}
	rc = PQntuples(res) > 0;
out:
	PQclear(res);
	return rc;
}

/* Applies one file and records it, in one transaction. */
static int apply_one(PGconn *conn, const char *sql_dir,
		     const struct migration *m, char *errstr,
		     size_t errstr_size)
{
	char path[PATH_MAX];
	char version[24];
	const char *params[2] = { version, m->file };
	char *sql = NULL;
	PGresult *res = NULL;
	int rc = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", sql_dir, m->file) >=
	    sizeof(path)) {
		snprintf(errstr, errstr_size, "%s/%s: path too long", sql_dir,
			 m->file);
		goto out;
	}
	if (read_file(path, &sql, errstr, errstr_size) < 0)
		goto out;
	if (exec_cmd(conn, "BEGIN; SET LOCAL client_min_messages = warning",
		     PGRES_COMMAND_OK, m->file, errstr, errstr_size) < 0)
		goto out;
	res = PQexec(conn, sql);
	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
		     PQresultStatus(res) != PGRES_TUPLES_OK &&
		     PQresultStatus(res) != PGRES_EMPTY_QUERY)) {
		set_pg_err(errstr, errstr_size, conn, res, m->file);
		goto out;
	}
	PQclear(res);
	snprintf(version, sizeof(version), "%ld", m->version);
	res = PQexecParams(
		conn,
		"INSERT INTO otpflow.schema_migrations (version, name)"
		" VALUES ($1::int, $2)",
		2, NULL, params, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_pg_err(errstr, errstr_size, conn, res, m->file);
		goto out;
	}
	if (exec_cmd(conn, "COMMIT", PGRES_COMMAND_OK, m->file, errstr,
		     errstr_size) < 0)
		goto out;
	rc = 0;
out:
	PQclear(res);
	/* A failed file leaves no transaction open behind it. */
	if (rc < 0 && PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	free(sql);
	return rc;
}

int migrate_run(PGconn *conn, const char *sql_dir, int *applied, char *errstr,
		size_t errstr_size)
{
	struct migration *list = NULL;
	size_t count = 0;
	bool locked = false;
	char unlock_err[256];
	int done;
	int rc = -1;

	if (applied)
		*applied = 0;
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		snprintf(errstr, errstr_size,
			 "migrate: no database connection");
		goto out;
	}
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		snprintf(errstr, errstr_size,
			 "migrate: connection is inside a transaction");
		goto out;
	}
	if (list_files(sql_dir, &list, &count, errstr, errstr_size) < 0)
		goto out;
	if (advisory(conn, "pg_advisory_lock", errstr, errstr_size) < 0)
		goto out;
	locked = true;
	if (ensure_table(conn, errstr, errstr_size) < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		done = is_applied(conn, &list[i], errstr, errstr_size);
		if (done < 0)
			goto out;
		if (done)
			continue;
		if (apply_one(conn, sql_dir, &list[i], errstr, errstr_size) < 0)
			goto out;
		if (applied)
			(*applied)++;
	}
	rc = 0;
out:
	/* Unlock also on failure; a failed unlock only matters if all else
	 * went well (the lock dies with the session anyway). */
	if (locked &&
	    advisory(conn, "pg_advisory_unlock", unlock_err,
		     sizeof(unlock_err)) < 0 &&
	    rc == 0) {
		snprintf(errstr, errstr_size, "%s", unlock_err);
		rc = -1;
	}
	free(list);
	return rc;
}
