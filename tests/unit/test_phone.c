/*
 * common/phone: normalisation to E.164 (docs/api.md §1.3), the country-prefix allow
 * list and the masked form used in logs.
 */
#include <string.h>

#include "check.h"
#include "phone.h"

/* Normalise a NUL-terminated string; "" when rejected. */
static const char *norm(const char *in)
{
	static char out[PHONE_MAX];

	if (!phone_normalise(in, strlen(in), out, sizeof(out)))
		return "";
	return out;
}

static const char *mask(const char *in)
{
	static char out[64];

	phone_mask(in, out, sizeof(out));
	return out;
}

static void test_normalise_valid(void)
{
	CHECK_STR(norm("+14155550123"), "+14155550123");
	CHECK_STR(norm("+1 415 555 0123"), "+14155550123");
	CHECK_STR(norm("+1-415-555-0123"), "+14155550123");
	CHECK_STR(norm("+1.415.555.0123"), "+14155550123");
	CHECK_STR(norm("+1 (415) 555-0123"), "+14155550123");
	CHECK_STR(norm("  +44 20 7946 0958  "), "+442079460958");
	CHECK_STR(norm("0033 1 23 45 67 89"), "+33123456789");
	CHECK_STR(norm("00-44-20-7946-0958"), "+442079460958");
	CHECK_STR(norm("(+33) 1.23.45.67.89"), "+33123456789");
	/* Bounds: 8 and 15 digits. */
	CHECK_STR(norm("+12345678"), "+12345678");
	CHECK_STR(norm("+123456789012345"), "+123456789012345");
	CHECK_STR(norm("00123456789012345"), "+123456789012345");
}

static void test_normalise_invalid(void)
{
	char out[PHONE_MAX];
	char small[8];

	CHECK_STR(norm(""), "");
	CHECK_STR(norm("   "), "");
	CHECK_STR(norm("+"), "");
	CHECK_STR(norm("00"), "");
	CHECK_STR(norm("+1234567"), ""); /* 7 digits */
	CHECK_STR(norm("+1234567890123456"), ""); /* 16 digits */
	CHECK_STR(norm("001234567890123456"), ""); /* 16 after 00 */
	CHECK_STR(norm("+04155550123"), ""); /* leading 0 */
	CHECK_STR(norm("000415555012"), ""); /* 00 then 0 */
	CHECK_STR(norm("4155550123"), ""); /* national form */
	CHECK_STR(norm("04155550123"), ""); /* single 0 */
	CHECK_STR(norm("+1415555O123"), ""); /* letter O */
	CHECK_STR(norm("+1 415 CALL NOW"), "");
	CHECK_STR(norm("+1415/555/0123"), ""); /* '/' not allowed */
	CHECK_STR(norm("+1415_555_0123"), "");
	CHECK_STR(norm("+1415\t5550123"), ""); /* tab is not a space */
	CHECK_STR(norm("1+4155550123"), ""); /* '+' not at start */
	CHECK_STR(norm("++14155550123"), "");
	CHECK_STR(norm("+1415+5550123"), "");
	CHECK_STR(norm("00+14155550123"), "");
	CHECK_STR(norm("+\xef\xbc\x91"
		       "4155550123"),
		  ""); /* fullwidth 1 */
	CHECK_STR(norm("+141555501239999999999999999999999999"), "");

	/* Embedded NUL, only visible through the explicit length. */
	CHECK(!phone_normalise("+1415\0"
			       "5550123",
			       13, out, sizeof(out)));
	CHECK_STR(out, "");
	CHECK(phone_normalise("+14155550123\0junk", 12, out, sizeof(out)));
	CHECK_STR(out, "+14155550123");

	/* Output buffer too small: rejected, not truncated. */
	CHECK(!phone_normalise("+14155550123", 12, small, sizeof(small)));
	CHECK_STR(small, "");
	CHECK(!phone_normalise(NULL, 3, out, sizeof(out)));
	CHECK(!phone_normalise(NULL, 0, out, sizeof(out)));
}

static void test_prefix(void)
{
	CHECK(phone_has_allowed_prefix("+14155550123", NULL));
	CHECK(phone_has_allowed_prefix("+14155550123", ""));
	CHECK(phone_has_allowed_prefix("+14155550123", " , ,"));
	CHECK(phone_has_allowed_prefix("+14155550123", "+1,+44,+33"));
	CHECK(phone_has_allowed_prefix("+442079460958", "+1,+44,+33"));
	CHECK(phone_has_allowed_prefix("+33123456789", "+1, +44 , +33 "));
	CHECK(!phone_has_allowed_prefix("+4915112345678", "+1,+44,+33"));
	CHECK(!phone_has_allowed_prefix("+2348012345678", "+1,+44,+33"));
	/* Longer prefixes narrow the match. */
	CHECK(phone_has_allowed_prefix("+14155550123", "+1415"));
	CHECK(!phone_has_allowed_prefix("+12125550123", "+1415"));
	CHECK(!phone_has_allowed_prefix("+4412345678", "+441234567890"));
	/* Items without '+' and trailing commas are tolerated. */
	CHECK(phone_has_allowed_prefix("+442079460958", "1,44,"));
	CHECK(!phone_has_allowed_prefix("+33123456789", "1,44,"));
}

static void test_mask(void)
{
	char tiny[6];

	CHECK_STR(mask("+14155550123"), "+1415*****23");
	CHECK_STR(mask("+442079460958"), "+4420******58");
	CHECK_STR(mask("+12345678"), "+1234**78");
	CHECK_STR(mask("+123456789012345"), "+1234*********45");
	/* Not a normalised number: nothing is shown. */
	CHECK_STR(mask("+1234567"), "********");
	CHECK_STR(mask("4155550123"), "**********");
	CHECK_STR(mask("+1 415 555 0123"), "***************");
	CHECK_STR(mask("+1234567890123456"), "*****************");
	CHECK_STR(mask(""), "");
	CHECK_STR(mask(NULL), "");
	/* Truncated to the buffer, still NUL-terminated. */
	phone_mask("+14155550123", tiny, sizeof(tiny));
	CHECK_STR(tiny, "+1415");
	phone_mask("secret", tiny, sizeof(tiny));
	CHECK_STR(tiny, "*****");
	/* The mask of any normalised number fits PHONE_MAX. */
	CHECK(strlen(mask("+123456789012345")) < PHONE_MAX);
}

int main(void)
{
	test_normalise_valid();
	test_normalise_invalid();
	test_prefix();
	test_mask();
	return check_done("test_phone");
}
