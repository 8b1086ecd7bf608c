/* ids: UUIDv4 shape and uniqueness; traceparent continuation. */
#include "check.h"
#include "ids.h"

int main(void)
{
	char a[IDS_UUID_SIZE], b[IDS_UUID_SIZE];
	char tp[IDS_TRACEPARENT_SIZE], tp2[IDS_TRACEPARENT_SIZE];
	const char *parent =
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

	ids_uuid_v4(a);
	ids_uuid_v4(b);
	CHECK(ids_uuid_valid(a));
	CHECK(strcmp(a, b) != 0);
	CHECK(a[14] == '4');
	CHECK(strchr("89ab", a[19]) != NULL);
	CHECK(!ids_uuid_valid("1b4e28ba-2fa1-11d2-883f-0016d3cca42"));
	CHECK(!ids_uuid_valid("1b4e28ba-2fa1-11d2-883f_0016d3cca427"));
	CHECK(!ids_uuid_valid("1B4E28BA-2FA1-11D2-883F-0016D3CCA427"));
	CHECK(ids_uuid_valid("1b4e28ba-2fa1-11d2-883f-0016d3cca427"));

	ids_traceparent_child(parent, tp);
	CHECK_INT(strlen(tp), 55);
	CHECK(strncmp(tp, parent, 36) == 0);      /* same trace id */
	CHECK(strncmp(tp + 36, parent + 36, 16)); /* new span id */
	CHECK_STR(tp + 52, "-01");

	ids_traceparent_child(NULL, tp);
	ids_traceparent_child("garbage", tp2);
	CHECK_INT(strlen(tp), 55);
	CHECK(strncmp(tp, "00-", 3) == 0);
	CHECK(strncmp(tp + 3, tp2 + 3, 32) != 0); /* independent traces */
	ids_traceparent_child(
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", tp);
	CHECK(strncmp(tp + 3, "0000000000", 10) != 0);
	return check_done("ids");
}
