/* scrub: outside text becomes whole UTF-8 characters without the code and
 * without the destination number, however the provider writes it. */
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "scrub.h"
#include "utf8.h"

static const char *scrubbed(const char *text, const char *code,
			    const char *e164)
{
	static char out[512];

	scrub_text(out, sizeof(out), text, strlen(text), code, e164);
	return out;
}

static void numbers(void)
{
	const char *us = "+14155550123";

	CHECK_STR(scrubbed("The 'To' number +14155550123 is not a valid "
			   "phone number.",
			   NULL, us),
		  "The 'To' number +*********** is not a valid phone number.");
	CHECK_STR(scrubbed("to 14155550123.", NULL, us), "to ***********.");
	CHECK_STR(scrubbed("to 4155550123", NULL, us), "to **********");
	CHECK_STR(scrubbed("(415) 555-0123!", NULL, us), "(***) ***-****!");
	CHECK_STR(scrubbed("+1 415.555.0123", NULL, us), "+* ***.***.****");
	CHECK_STR(scrubbed("+1-415-555-0123", NULL, us), "+*-***-***-****");
	CHECK_STR(scrubbed("To=%2B14155550123&x", NULL, us),
		  "To=%2B***********&x");
	CHECK_STR(scrubbed("id SM14155550123ab", NULL, us),
		  "id SM***********ab");
	CHECK_STR(scrubbed("001 415 555 0123", NULL, us), "00* *** *** ****");
	/* Other numbers stay: an error code, a shorter or different one. */
	CHECK_STR(scrubbed("code 21211 at 5550123", NULL, us),
		  "code 21211 at 5550123");
	CHECK_STR(scrubbed("+14155550124", NULL, us), "+14155550124");
	/* A trunk prefix and the international prefix (UK). */
	CHECK_STR(scrubbed("07700 900123 / 0044 7700 900123", NULL,
			   "+447700900123"),
		  "0**** ****** / 00** **** ******");
	/* Twice in one text. */
	CHECK_STR(scrubbed("+14155550123, 4155550123", NULL, us),
		  "+***********, **********");
	/* Not E.164: nothing to look for. */
	CHECK_STR(scrubbed("4155550123", NULL, "4155550123"), "4155550123");
	CHECK_STR(scrubbed("4155550123", NULL, "+123"), "4155550123");
	CHECK_STR(scrubbed("4155550123", NULL, NULL), "4155550123");
}

static void codes(void)
{
	CHECK_STR(scrubbed("Your code is 402913. 402913!", "402913", NULL),
		  "Your code is ******. ******!");
	CHECK_STR(scrubbed("nothing", "", NULL), "nothing");
	/* Both at once: the code inside the number's digits goes too. */
	CHECK_STR(scrubbed("+14155550123 402913", "402913", "+14155550123"),
		  "+*********** ******");
}

/* Every cut of multi-byte text at every size is whole characters. */
static void cuts(void)
{
	const char *text = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"
			   "\xe2\x82\xac\xe2\x82\xac";
	bool all_valid = true;

	for (size_t size = 1; size < 24; size++) {
		char out[24];
		size_t n = scrub_text(out, size, text, strlen(text), "1",
				      "+14155550123"),
		       count;

		if (n >= size || strlen(out) != n ||
		    !utf8_count(out, n, &count))
			all_valid = false;
	}
	CHECK(all_valid);
	/* Invalid bytes and NULs become '?'. */
	{
		char out[16];
		const char raw[] = { 'a', '\xff', '\0', 'b', '\xc3' };

		scrub_text(out, sizeof(out), raw, sizeof(raw), NULL, NULL);
		CHECK_STR(out, "a??b?");
	}
	{
		char out[4];

		CHECK_INT(scrub_text(out, sizeof(out), NULL, 5, NULL, NULL), 0);
		CHECK_STR(out, "");
	}
}

int main(void)
{
	numbers();
	codes();
	cuts();
	return check_done("scrub");
}
