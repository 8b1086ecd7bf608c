/* utf8: the strict decoder, counting, and the safe copy of outside text. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "utf8.h"

static void test_decoder(void)
{
	uint32_t cp = 0;
	size_t n = 0;

	CHECK_INT(utf8_decode("\x7f", 1, &cp), 1);
	CHECK_INT(cp, 0x7f);
	CHECK_INT(utf8_decode("\0", 1, &cp), 1);
	CHECK_INT(cp, 0);
	CHECK_INT(utf8_decode("\xc2\x80", 2, &cp), 2);
	CHECK_INT(cp, 0x80);
	CHECK_INT(utf8_decode("\xdf\xbf", 2, &cp), 2);
	CHECK_INT(cp, 0x7ff);
	CHECK_INT(utf8_decode("\xe0\xa0\x80", 3, &cp), 3);
	CHECK_INT(cp, 0x800);
	CHECK_INT(utf8_decode("\xed\x9f\xbf", 3, &cp), 3);
	CHECK_INT(cp, 0xd7ff);
	CHECK_INT(utf8_decode("\xee\x80\x80", 3, &cp), 3);
	CHECK_INT(cp, 0xe000);
	CHECK_INT(utf8_decode("\xef\xbf\xbf", 3, &cp), 3);
	CHECK_INT(cp, 0xffff);
	CHECK_INT(utf8_decode("\xf0\x90\x80\x80", 4, &cp), 4);
	CHECK_INT(cp, 0x10000);
	CHECK_INT(utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4);
	CHECK_INT(cp, 0x10ffff);
	/* The length bounds the read, not a NUL. */
	CHECK_INT(utf8_decode("\xe5\xad\x97", 2, &cp), 0);
	CHECK_INT(utf8_decode("", 0, &cp), 0);

	CHECK(utf8_count("\xc3\xa9t\xc3\xa9", 5, &n));
	CHECK_INT(n, 3);
	CHECK(utf8_count("", 0, &n));
	CHECK_INT(n, 0);
	CHECK(!utf8_count("a\xff", 2, &n));
}

static void test_copy(void)
{
	char out[8];

	CHECK_INT(utf8_copy(out, sizeof(out), "abc", 3), 3);
	CHECK_STR(out, "abc");
	/* A two-byte character never split: "abcdef" + e-acute = 8 bytes. */
	CHECK_INT(utf8_copy(out, sizeof(out), "abcdef\xc3\xa9", 8), 6);
	CHECK_STR(out, "abcdef");
	CHECK_INT(utf8_copy(out, sizeof(out), "abcde\xc3\xa9", 7), 7);
	CHECK_STR(out, "abcde\xc3\xa9");
	/* Invalid bytes and NUL become '?'; a truncated sequence too. */
	CHECK_INT(utf8_copy(out, sizeof(out), "a\xff\0b\xe2\x82", 6), 6);
	CHECK_STR(out, "a??b??");
	/* Four-byte character cut at every limit. */
	for (size_t size = 1; size <= 5; size++) {
		size_t n = utf8_copy(out, size, "\xf0\x9f\x98\x80", 4);
		size_t chars = 0;

		CHECK_INT(n, size == 5 ? 4 : 0);
		CHECK(utf8_count(out, n, &chars));
	}
	CHECK_INT(utf8_copy(out, 1, "abc", 3), 0);
	CHECK_STR(out, "");
}

int main(void)
{
	test_decoder();
	test_copy();
	return check_done("utf8");
}
