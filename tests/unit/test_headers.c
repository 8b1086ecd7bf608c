/* headers: the Spring Kafka encodings of the retry and dead-letter headers,
 * and the text form of timestamps. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "headers.h"

static void test_writers(void)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
	const void *v = NULL;
	size_t len = 0;

	hdr_add_str(hdrs, HDR_REQUEST_ID, "abc");
	hdr_add_ms(hdrs, HDR_RECEIVED_AT, 1764093153123LL);
	CHECK_INT(rd_kafka_header_cnt(hdrs), 2);
	CHECK(rd_kafka_header_get_last(hdrs, HDR_RECEIVED_AT, &v, &len) == 0);
	CHECK(len == 13 && memcmp(v, "1764093153123", 13) == 0);
	CHECK_INT(hdr_parse_timestamp(v, len), 1764093153123LL);
	rd_kafka_headers_destroy(hdrs);
}

int main(void)
{
	unsigned char b[8];
	size_t n;

	test_writers();
	/* headers */
	n = hdr_int32(3, b);
	CHECK_INT(n, 4);
	CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 3);
	CHECK_INT(hdr_parse_attempts(b, n), 3);
	CHECK_INT(hdr_parse_attempts("\x02", 1), 2);
	CHECK_INT(hdr_parse_attempts("12", 2), 12);
	CHECK_INT(hdr_parse_attempts("x", 1), -1);
	CHECK_INT(hdr_parse_attempts(NULL, 0), -1);
	n = hdr_int64(258, b);
	CHECK_INT(n, 8);
	CHECK(b[6] == 1 && b[7] == 2 && b[0] == 0);
	/* BigInteger.toByteArray of 1764093153123 (0x019abb6f0c63) */
	n = hdr_bigint(1764093153123LL, b);
	CHECK_INT(n, 6);
	CHECK(b[0] == 0x01);
	CHECK_INT(hdr_parse_timestamp(b, n), 1764093153123LL);
	n = hdr_bigint(128, b); /* sign bit: keeps a leading zero */
	CHECK_INT(n, 2);
	CHECK(b[0] == 0 && b[1] == 0x80);
	n = hdr_bigint(1, b);
	CHECK_INT(n, 1);
	CHECK_INT(hdr_parse_timestamp("1764093153123", 13), 1764093153123LL);
	CHECK_INT(hdr_parse_timestamp("\xff", 1), -1);
	/* too short for decimal, too long for a long */
	CHECK_INT(hdr_parse_timestamp("123456789", 9), -1);
	return check_done("headers");
}
