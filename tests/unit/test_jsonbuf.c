/* jsonbuf: output is valid JSON whatever the input; overflow is reported. */
#include "check.h"
#include "jsonbuf.h"

static const char *str_of(const char *s, size_t n, char *buf, size_t cap)
{
	struct jsonbuf jb;

	jsonbuf_init(&jb, buf, cap - 1);
	jsonbuf_strn(&jb, s, n);
	buf[jb.overflow ? 0 : jb.len] = '\0';
	return buf;
}

int main(void)
{
	char buf[64];
	struct jsonbuf jb;

	CHECK_STR(str_of("a\"b\\c", 5, buf, sizeof(buf)), "\"a\\\"b\\\\c\"");
	CHECK_STR(str_of("\n\x01", 2, buf, sizeof(buf)), "\"\\u000a\\u0001\"");
	CHECK_STR(str_of("nul\0x", 5, buf, sizeof(buf)), "\"nul\\u0000x\"");
	CHECK_STR(str_of("Zo\xc3\xab", 4, buf, sizeof(buf)), "\"Zo\xc3\xab\"");
	/* Invalid UTF-8: stray continuation, overlong, surrogate, truncated. */
	CHECK_STR(str_of("\x80", 1, buf, sizeof(buf)), "\"\xEF\xBF\xBD\"");
	CHECK_STR(str_of("\xc0\xaf", 2, buf, sizeof(buf)),
		  "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
	CHECK_STR(str_of("\xed\xa0\x80", 3, buf, sizeof(buf)),
		  "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
	CHECK_STR(str_of("\xe2\x82", 2, buf, sizeof(buf)),
		  "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");

	jsonbuf_init(&jb, buf, 8);
	jsonbuf_str(&jb, "0123456789");
	CHECK(jb.overflow);
	CHECK(jb.len <= 8);
	jsonbuf_init(&jb, buf, sizeof(buf));
	jsonbuf_int(&jb, -9007199254740993LL);
	CHECK_INT(jb.len, 17);
	return check_done("jsonbuf");
}
