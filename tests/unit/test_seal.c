/* seal: keys round-trip through base64; only the right key opens a code. */
#include "check.h"
#include "seal.h"

int main(void)
{
	char pk_b64[SEAL_KEY_B64_SIZE], sk_b64[SEAL_KEY_B64_SIZE];
	char other_pk[SEAL_KEY_B64_SIZE], other_sk[SEAL_KEY_B64_SIZE];
	struct seal_keys pub, sec, wrong;
	unsigned char sealed[SEAL_SEALED_BYTES];
	char code[SEAL_CODE_DIGITS + 1] = "";
	char err[128];

	CHECK_INT(seal_keygen(pk_b64, sk_b64), 0);
	CHECK_INT(seal_keygen(other_pk, other_sk), 0);
	CHECK_INT(seal_keys_public(&pub, pk_b64, err, sizeof(err)), 0);
	CHECK_INT(seal_keys_secret(&sec, sk_b64, err, sizeof(err)), 0);
	CHECK_INT(seal_keys_secret(&wrong, other_sk, err, sizeof(err)), 0);
	CHECK(memcmp(pub.pk, sec.pk, sizeof(pub.pk)) == 0);

	CHECK_INT(seal_code(&pub, "042917", sealed), 0);
	CHECK(memmem(sealed, sizeof(sealed), "042917", 6) == NULL);
	CHECK_INT(seal_open(&sec, sealed, sizeof(sealed), code), 0);
	CHECK_STR(code, "042917");
	CHECK(seal_open(&wrong, sealed, sizeof(sealed), code) < 0);
	CHECK(seal_open(&sec, sealed, sizeof(sealed) - 1, code) < 0);
	sealed[20] ^= 1;
	CHECK(seal_open(&sec, sealed, sizeof(sealed), code) < 0);

	CHECK(seal_keys_public(&pub, "not base64!", err, sizeof(err)) < 0);
	CHECK(seal_keys_public(&pub, "AAAA", err, sizeof(err)) < 0);
	CHECK(seal_keys_secret(&sec, pk_b64 + 4, err, sizeof(err)) < 0);
	CHECK(strstr(err, pk_b64 + 4) == NULL);
	return check_done("seal");
}
