/* retry: backoff with jitter and Retry-After, the verdict after a transient
 * failure. */
#include <stdint.h>

#include "check.h"
#include "retry.h"

int main(void)
{
	struct retry_policy p = { .max_attempts = 5,
				  .initial_ms = 1000,
				  .max_ms = 8000,
				  .expiry_margin_ms = 30000 };
	int64_t next = 0;

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

	return check_done("retry");
}
