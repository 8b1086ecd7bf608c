/* otp: code shape and spread; $2a$ hashes that verify; the pool hashes all. */
#include <crypt.h>

#include "check.h"
#include "hashpool.h"
#include "otp.h"

static bool verifies(const char *code, const char *hash)
{
	struct crypt_data data = { 0 };
	const char *h = crypt_rn(code, hash, &data, sizeof(data));
	return h && strcmp(h, hash) == 0;
}

int main(void)
{
	char code[OTP_CODE_SIZE], hash[OTP_HASH_SIZE];
	int first_digit[10] = { 0 };
	struct hash_job jobs[40];
	struct hashpool *hp;

	for (int i = 0; i < 5000; i++) {
		CHECK(otp_generate(code));
		CHECK_INT(strlen(code), 6);
		CHECK(strspn(code, "0123456789") == 6);
		first_digit[code[0] - '0']++;
	}
	/* Leading zeros happen (codes are not numbers) and digits spread. */
	for (int d = 0; d < 10; d++)
		CHECK(first_digit[d] > 300 && first_digit[d] < 700);

	CHECK(otp_hash("042917", 6, hash));
	CHECK(strncmp(hash, "$2a$06$", 7) == 0);
	CHECK_INT(strlen(hash), 60);
	CHECK(verifies("042917", hash));
	CHECK(!verifies("042918", hash));
	CHECK(!otp_hash("042917", 3, hash));

	hp = hashpool_new(3, 4);
	CHECK(hp != NULL);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 40; i++) {
			snprintf(jobs[i].code, sizeof(jobs[i].code), "%06d",
				 i * 1111 + round);
			jobs[i].ok = false;
		}
		hashpool_run(hp, jobs, 40);
		for (int i = 0; i < 40; i++)
			CHECK(jobs[i].ok &&
			      verifies(jobs[i].code, jobs[i].hash));
	}
	hashpool_free(hp);
	return check_done("otp");
}
