/*
 * pg: array literals escape what Postgres needs; overflow is reported; the
 * failure policy's classes of SQLSTATEs.
 */
#include "check.h"
#include "pg.h"

int main(void)
{
	struct pg_array a;
	static const unsigned char bytes[] = { 0x00, 0xff, 0x10 };

	pg_array_init(&a, 1024);
	pg_array_add(&a, "plain");
	pg_array_add(&a, "quo\"te back\\slash, comma {brace}");
	pg_array_add(&a, NULL);
	pg_array_add(&a, "");
	pg_array_add_bytea(&a, bytes, sizeof(bytes));
	CHECK_STR(pg_array_text(&a),
		  "{\"plain\",\"quo\\\"te back\\\\slash, comma {brace}\",NULL,"
		  "\"\",\"\\\\x00ff10\"}");
	CHECK_INT(a.n, 5);
	pg_array_free(&a);

	pg_array_init(&a, 16);
	pg_array_add(&a, "0123456789");
	pg_array_add(&a, "0123456789");
	CHECK(a.overflow);
	CHECK(pg_array_text(&a) == NULL);
	pg_array_free(&a);

	pg_array_init(&a, 64);
	CHECK_STR(pg_array_text(&a), "{}");
	pg_array_free(&a);

	/* Only classes 22 and 23 may be the data's fault. */
	CHECK_INT(pg_classify_sqlstate("23503"), PG_DATA);
	CHECK_INT(pg_classify_sqlstate("23505"), PG_DATA);
	CHECK_INT(pg_classify_sqlstate("22P02"), PG_DATA);
	CHECK_INT(pg_classify_sqlstate("40001"), PG_RETRY_TXN);
	CHECK_INT(pg_classify_sqlstate("40P01"), PG_RETRY_TXN);
	CHECK_INT(pg_classify_sqlstate("08006"), PG_RETRY_CONN);
	CHECK_INT(pg_classify_sqlstate("57P01"), PG_RETRY_CONN);
	CHECK_INT(pg_classify_sqlstate("25006"), PG_RETRY_CONN);
	/* Everything else waits: timeouts, resources, system, internal,
	 * permissions, anything unknown. */
	CHECK_INT(pg_classify_sqlstate("57014"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate("55P03"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate("53100"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate("58030"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate("XX000"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate("42501"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate("99999"), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate(""), PG_RETRY_LATER);
	CHECK_INT(pg_classify_sqlstate(NULL), PG_RETRY_LATER);
	return check_done("pg");
}
