/*
 * Code generation and hashing. Uniformity: a 32-bit random value is
 * rejected when it falls in the last, incomplete block of 10^6 values, so
 * every code has the same probability.
 */
#include "otp.h"

#include <crypt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"

bool otp_generate(char code[OTP_CODE_SIZE])
{
	const uint32_t limit = UINT32_MAX - UINT32_MAX % 1000000u;
	uint32_t r;

	do {
		if (!ids_random(&r, sizeof(r)))
			return false;
	} while (r >= limit);
	snprintf(code, OTP_CODE_SIZE, "%06u", r % 1000000u);
	return true;
}

bool otp_hash(const char *code, int cost, char out[OTP_HASH_SIZE])
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data data;
	const char *h;

	if (cost < 4 || cost > 31 ||
	    !crypt_gensalt_rn("$2a$", (unsigned long)cost, NULL, 0, setting,
			      sizeof(setting)))
		return false;
	memset(&data, 0, sizeof(data));
	h = crypt_rn(code, setting, &data, sizeof(data));
	if (!h || h[0] == '*' || strlen(h) >= OTP_HASH_SIZE) {
		explicit_bzero(&data, sizeof(data));
		return false;
	}
	memcpy(out, h, strlen(h) + 1);
	/* crypt_data holds the plaintext code: wipe it. */
	explicit_bzero(&data, sizeof(data));
	return true;
}
