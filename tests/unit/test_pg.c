/* pg: array literals escape what Postgres needs; overflow is reported. */
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
	return check_done("pg");
}
