/*
 * ingest/display_name: Nhost's ^[\p{L}\p{N}\p{S} ,.'-]+$ with maxLength 32
 * (code points), the strict UTF-8 decoder, and the generated category table.
 */
#include <string.h>

#include "check.h"
#include "display_name.h"

static bool valid(const char *s)
{
	return display_name_valid(s, strlen(s));
}

/* n copies of the UTF-8 sequence unit, NUL-terminated, into buf. */
static const char *repeat(char *buf, size_t size, const char *unit, size_t n)
{
	size_t ulen = strlen(unit), i;

	buf[0] = '\0';
	for (i = 0; i < n && (i + 1) * ulen < size; i++)
		memcpy(buf + i * ulen, unit, ulen + 1);
	return buf;
}

static void test_accepted(void)
{
	CHECK(valid("John Smith"));
	CHECK(valid("J"));
	CHECK(valid("O'Brien"));
	CHECK(valid("Smith, John Jr."));
	CHECK(valid("Jean-Luc Picard"));
	CHECK(valid(" ,.'-")); /* only the extras */
	CHECK(valid("Jos\xc3\xa9 M\xc3\xbcller")); /* precomposed é, ü */
	CHECK(valid("\xc3\x85sa \xc3\x98stergaard")); /* Å, Ø */
	CHECK(valid("\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd")); /* Иван */
	CHECK(valid("\xd9\x85\xd8\xad\xd9\x85\xd8\xaf")); /* محمد */
	CHECK(valid(
		"\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e")); /* 山田太郎 */
	CHECK(valid("\xea\xb9\x80\xec\xb2\xa0\xec\x88\x98")); /* 김철수 */
	CHECK(valid("\xf0\x9f\x98\x80")); /* 😀 U+1F600, So */
	CHECK(valid("Ana \xf0\x9f\x8c\xb8")); /* 🌸 */
	CHECK(valid(
		"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd")); /* 👍🏽: So + Sk */
	CHECK(valid("\xf0\xa0\x80\x80")); /* U+20000 CJK ext. B */
	CHECK(valid("Agent 007"));
	CHECK(valid("\xd9\xa3")); /* U+0663 ARABIC-INDIC 3, Nd */
	CHECK(valid("\xc2\xbd")); /* ½, No */
	CHECK(valid("\xe2\x85\xab")); /* Ⅻ, Nl */
	CHECK(valid("$")); /* Sc */
	CHECK(valid("\xe2\x82\xac"
		    "5")); /* €, Sc */
	CHECK(valid("a+b=c")); /* Sm */
	CHECK(valid("^`|~")); /* Sk, Sk, Sm, Sm */
	/* '<' and '>' are Sm, so Nhost's pattern accepts them. */
	CHECK(valid("<b>"));
}

static void test_rejected_chars(void)
{
	CHECK(!valid(""));
	CHECK(!valid("john@example.com")); /* '@' is Po */
	CHECK(!valid("snake_case")); /* '_' is Pc */
	CHECK(!valid("Hi!"));
	CHECK(!valid("Who?"));
	CHECK(!valid("Smith (Jr)")); /* Ps, Pe */
	CHECK(!valid("a/b"));
	CHECK(!valid("\"quoted\""));
	CHECK(!valid("R&D"));
	CHECK(!valid("#1"));
	CHECK(!valid("100%"));
	CHECK(!valid("a*b"));
	CHECK(!valid("a;b"));
	CHECK(!valid("a:b"));
	CHECK(!valid("a\\b"));
	CHECK(!valid("tab\there")); /* Cc */
	CHECK(!valid("line\nbreak"));
	CHECK(!valid("del\x7f"));
	CHECK(!valid("\xc2\x85")); /* U+0085 NEL, Cc */
	CHECK(!valid("no\xc2\xa0"
		     "break")); /* U+00A0 NBSP, Zs */
	CHECK(!valid("zero\xe2\x80\x8bwidth")); /* U+200B, Cf */
	CHECK(!valid("soft\xc2\xad"
		     "hyphen")); /* U+00AD, Cf */
	CHECK(!valid("Jose\xcc\x81")); /* e + U+0301 combining, Mn */
	CHECK(!valid("\xe2\x9d\xa4\xef\xb8\x8f")); /* ❤️: U+FE0F is Mn */
	/* 👨‍👩‍👧: joined by U+200D ZERO WIDTH JOINER (Cf). */
	CHECK(!valid("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"));
	CHECK(!valid("\xee\x80\x80")); /* U+E000 private use, Co */
	CHECK(!valid("\xef\xbf\xbe")); /* U+FFFE noncharacter */
	CHECK(!valid("\xcd\xb8")); /* U+0378 unassigned */
	CHECK(!valid("\xe2\x80\xa8")); /* U+2028 LINE SEPARATOR, Zl */
	/* Embedded NUL, visible only through the explicit length. */
	CHECK(!display_name_valid("ab\0cd", 5));
	CHECK(display_name_valid("ab\0cd", 2));
	CHECK(!display_name_valid(NULL, 0));
}

static void test_invalid_utf8(void)
{
	CHECK(!valid("\xff"));
	CHECK(!valid("\xfe"));
	CHECK(!valid("abc\xc3")); /* truncated 2-byte */
	CHECK(!valid("\xe5\xb1")); /* truncated 3-byte */
	CHECK(!valid("\xf0\x9f\x98")); /* truncated 4-byte */
	CHECK(!valid("\xc3(")); /* bad continuation */
	CHECK(!valid("\x80")); /* stray continuation */
	CHECK(!valid("a\xbf"
		     "b"));
	CHECK(!valid("\xc0\xaf")); /* overlong '/' */
	CHECK(!valid("\xc1\x81")); /* overlong 'A' */
	CHECK(!valid("\xe0\x80\xaf")); /* overlong, 3 bytes */
	CHECK(!valid("\xe0\x9f\xbf")); /* overlong U+07FF */
	CHECK(!valid("\xf0\x80\x80\xaf")); /* overlong, 4 bytes */
	CHECK(!valid("\xf0\x8f\xbf\xbf")); /* overlong U+FFFF */
	CHECK(!valid("\xc0\x80")); /* "modified UTF-8" NUL */
	CHECK(!valid("\xed\xa0\x80")); /* U+D800 surrogate */
	CHECK(!valid("\xed\xbf\xbf")); /* U+DFFF surrogate */
	CHECK(!valid("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
	CHECK(!valid("\xf4\x90\x80\x80")); /* U+110000 */
	CHECK(!valid("\xf5\x80\x80\x80"));
	CHECK(!valid("\xf8\x88\x80\x80\x80")); /* 5-byte form */
}

static void test_length(void)
{
	char buf[256];

	/* 32 characters of 3 bytes (96 bytes) fit; 33 do not. */
	CHECK(valid(repeat(buf, sizeof(buf), "\xe5\xad\x97", 32))); /* 字 */
	CHECK_INT(strlen(buf), 96);
	CHECK(!valid(repeat(buf, sizeof(buf), "\xe5\xad\x97", 33)));
	CHECK(valid(repeat(buf, sizeof(buf), "\xf0\x9f\x98\x80", 32)));
	CHECK(!valid(repeat(buf, sizeof(buf), "\xf0\x9f\x98\x80", 33)));
	CHECK(valid(repeat(buf, sizeof(buf), "a", 32)));
	CHECK(!valid(repeat(buf, sizeof(buf), "a", 33)));
	CHECK(valid(repeat(buf, sizeof(buf), "\xc3\xa9", 32)));
	CHECK(!valid(repeat(buf, sizeof(buf), "\xc3\xa9", 33)));
}

static void test_table(void)
{
	size_t i;
	bool ordered = true;

	CHECK(display_name_ranges_count > 100);
	CHECK(strlen(display_name_unicode_version) >= 5);
	for (i = 0; i < display_name_ranges_count; i++) {
		if (display_name_ranges[i].lo > display_name_ranges[i].hi)
			ordered = false;
		/* Sorted and merged: a gap of at least one between ranges. */
		if (i > 0 && display_name_ranges[i].lo <=
				     display_name_ranges[i - 1].hi + 1)
			ordered = false;
	}
	CHECK(ordered);
	CHECK(display_name_ranges[display_name_ranges_count - 1].hi <=
	      0x10FFFF);
	/* Edges of the search. */
	CHECK(!display_name_char_allowed(0));
	CHECK(display_name_char_allowed('$')); /* first range */
	CHECK(!display_name_char_allowed(0x10FFFF));
	CHECK(!display_name_char_allowed(0x110000));
	CHECK(display_name_char_allowed('A'));
	CHECK(display_name_char_allowed('z'));
	CHECK(display_name_char_allowed('0'));
	CHECK(!display_name_char_allowed('@'));
	CHECK(!display_name_char_allowed('['));
	CHECK(!display_name_char_allowed('_'));
}

int main(void)
{
	test_accepted();
	test_rejected_chars();
	test_invalid_utf8();
	test_length();
	test_table();
	return check_done("test_display_name");
}
