/* retry: backoff with jitter and Retry-After, the verdict after a transient
 * failure, and the Spring Kafka header encodings. */
#include <stdint.h>

#include "check.h"
#include "retry.h"

int main(void)
{
	struct retry_policy p = { .max_attempts = 5,
				  .initial_ms = 1000,
				  .max_ms = 8000,
				  .expiry_margin_ms = 30000 };
	unsigned char b[8];
	int64_t next = 0;
	size_t n;

	/* Exponential, equal jitter: [base/2, base). */
	CHECK_INT(retry_backoff_ms(&p, 1, 0.0, 0), 500);
	CHECK_INT(retry_backoff_ms(&p, 1, 0.999, 0), 999);
	CHECK_INT(retry_backoff_ms(&p, 2, 0.0, 0), 1000);
	CHECK_INT(retry_backoff_ms(&p, 3, 0.0, 0), 2000);
	CHECK_INT(retry_backoff_ms(&p, 4, 0.5, 0), 6000);
	/* capped */
	CHECK_INT(retry_backoff_ms(&p, 10, 0.0, 0), 4000);
	CHECK_INT(retry_backoff_ms(&p, 60, 0.999, 0), 7996);
	/* out-of-range randomness is clamped */
	CHECK(retry_backoff_ms(&p, 1, 7.0, 0) < 1000);
	CHECK_INT(retry_backoff_ms(&p, 1, -1.0, 0), 500);
	/* Retry-After wins when longer, even past the cap */
	CHECK_INT(retry_backoff_ms(&p, 1, 0.0, 3000), 3000);
	CHECK_INT(retry_backoff_ms(&p, 1, 0.0, 60000), 60000);
	CHECK_INT(retry_backoff_ms(&p, 3, 0.0, 10), 2000);

	/* verdicts */
	CHECK_INT(retry_decide(&p, 1, 1000, 500, 1000000, &next), RETRY_AGAIN);
	CHECK_INT(next, 1500);
	CHECK_INT(retry_decide(&p, 5, 1000, 500, 1000000, &next),
		  RETRY_EXHAUSTED);
	CHECK_INT(retry_decide(&p, 4, 1000, 500, 1000000, &next), RETRY_AGAIN);
	/* next attempt after expires_at - margin: expired */
	CHECK_INT(retry_decide(&p, 1, 1000, 500, 31500, &next), RETRY_AGAIN);
	CHECK_INT(retry_decide(&p, 1, 1000, 501, 31500, &next), RETRY_EXPIRED);
	CHECK(retry_too_late(&p, 1001, 31000));
	CHECK(!retry_too_late(&p, 1000, 31000));

	/* Retry-After */
	CHECK_INT(retry_after_parse("2", 0), 2000);
	CHECK_INT(retry_after_parse(" 120 ", 0), 120000);
	CHECK_INT(retry_after_parse(NULL, 0), 0);
	CHECK_INT(retry_after_parse("", 0), 0);
	CHECK_INT(retry_after_parse("soon", 0), 0);
	CHECK_INT(retry_after_parse("5x", 0), 0);
	CHECK_INT(retry_after_parse("99999999999999999999", 0),
		  24LL * 3600 * 1000);
	/* 1994-11-06 08:49:37 UTC = 784111777 s */
	CHECK_INT(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT",
				    784111777000LL - 5000),
		  5000);
	CHECK_INT(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT",
				    784111777000LL + 5000),
		  0);

	/* headers */
	n = retry_hdr_int32(3, b);
	CHECK_INT(n, 4);
	CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 3);
	CHECK_INT(retry_hdr_parse_attempts(b, n), 3);
	CHECK_INT(retry_hdr_parse_attempts("\x02", 1), 2);
	CHECK_INT(retry_hdr_parse_attempts("12", 2), 12);
	CHECK_INT(retry_hdr_parse_attempts("x", 1), -1);
	CHECK_INT(retry_hdr_parse_attempts(NULL, 0), -1);
	n = retry_hdr_int64(258, b);
	CHECK_INT(n, 8);
	CHECK(b[6] == 1 && b[7] == 2 && b[0] == 0);
	/* BigInteger.toByteArray of 1764093153123 (0x019abb6f0c63) */
	n = retry_hdr_bigint(1764093153123LL, b);
	CHECK_INT(n, 6);
	CHECK(b[0] == 0x01);
	CHECK_INT(retry_hdr_parse_timestamp(b, n), 1764093153123LL);
	n = retry_hdr_bigint(128, b); /* sign bit: keeps a leading zero */
	CHECK_INT(n, 2);
	CHECK(b[0] == 0 && b[1] == 0x80);
	n = retry_hdr_bigint(1, b);
	CHECK_INT(n, 1);
	CHECK_INT(retry_hdr_parse_timestamp("1764093153123", 13),
		  1764093153123LL);
	CHECK_INT(retry_hdr_parse_timestamp("\xff", 1), -1);
	/* too short for decimal, too long for a long */
	CHECK_INT(retry_hdr_parse_timestamp("123456789", 9), -1);
	return check_done("retry");
}
