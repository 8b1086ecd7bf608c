/* seal: keys round-trip through base64; only the right key opens a code; a
 * version 2 seal carries its otp_id and number, a version 1 seal is still
 * opened (and said unbound); anything else is refused. */
#include <stdbool.h>

#include "check.h"
#include "seal.h"

static const char otp_id[] = "2b4e28ba-2fa1-11d2-883f-0016d3cca427";

/* Seals an arbitrary plaintext (what a forger with the public key can). */
static size_t seal_text(const struct seal_keys *pub, const char *text,
			unsigned char *out)
{
	crypto_box_seal(out, (const unsigned char *)text, strlen(text),
			pub->pk);
	return crypto_box_SEALBYTES + strlen(text);
}

static void version_2(const struct seal_keys *pub, const struct seal_keys *sec,
		      const struct seal_keys *wrong)
{
	unsigned char sealed[SEAL_MAX_BYTES], forged[256];
	size_t len = 0;
	struct seal_opened o;
	char long_id[64];

	CHECK_INT(seal_bind(pub, otp_id, "+14155550123", "042917", sealed,
			    &len),
		  0);
	CHECK(len > SEAL_SEALED_BYTES && len <= SEAL_MAX_BYTES);
	CHECK(memmem(sealed, len, "042917", 6) == NULL);
	CHECK(memmem(sealed, len, "+14155550123", 12) == NULL);
	CHECK_INT(seal_open(sec, sealed, len, &o), 0);
	CHECK(o.bound);
	CHECK_STR(o.code, "042917");
	CHECK_STR(o.otp_id, otp_id);
	CHECK_STR(o.e164, "+14155550123");
	CHECK(seal_open(wrong, sealed, len, &o) < 0);
	CHECK(!o.bound && o.code[0] == '\0');
	sealed[30] ^= 1;
	CHECK(seal_open(sec, sealed, len, &o) < 0);
	/* The longest number fits. */
	CHECK_INT(seal_bind(pub, otp_id, "+123456789012345", "000000", sealed,
			    &len),
		  0);
	CHECK_INT(seal_open(sec, sealed, len, &o), 0);
	CHECK_STR(o.e164, "+123456789012345");
	/* What cannot be bound. */
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	CHECK(seal_bind(pub, long_id, "+1", "000000", sealed, &len) < 0);
	CHECK(seal_bind(pub, otp_id, "+1234567890123456", "000000", sealed,
			&len) < 0);
	CHECK(seal_bind(pub, "a\nb", "+1", "000000", sealed, &len) < 0);
	CHECK(seal_bind(pub, otp_id, "+1", "12345", sealed, &len) < 0);
	/* Plaintexts of neither form are refused, though the key opens them. */
	static const char *const bad[] = {
		"v2\nid\n+1\n12345",
		"v2\nid\n+1\n1234567",
		"v2\n\n+1\n123456",
		"v2\nid\n\n123456",
		"v2\nid\n+1\n12345a",
		"v3\nid\n+1\n123456",
		"v2\nid+1\n123456",
		"12345",
		"1234567",
		"v2\nid\n+1\n123456\n",
	};
	bool all_refused = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = seal_text(pub, bad[i], forged);

		if (seal_open(sec, forged, n, &o) == 0)
			all_refused = false;
	}
	CHECK(all_refused);
	CHECK(seal_open(sec, forged, SEAL_MAX_BYTES + 1, &o) < 0);
	CHECK(seal_open(sec, forged, crypto_box_SEALBYTES, &o) < 0);
}

int main(void)
{
	char pk_b64[SEAL_KEY_B64_SIZE], sk_b64[SEAL_KEY_B64_SIZE];
	char other_pk[SEAL_KEY_B64_SIZE], other_sk[SEAL_KEY_B64_SIZE];
	struct seal_keys pub, sec, wrong;
	unsigned char sealed[SEAL_SEALED_BYTES];
	struct seal_opened o;
	char err[128];

	CHECK_INT(seal_keygen(pk_b64, sk_b64), 0);
	CHECK_INT(seal_keygen(other_pk, other_sk), 0);
	CHECK_INT(seal_keys_public(&pub, pk_b64, err, sizeof(err)), 0);
	CHECK_INT(seal_keys_secret(&sec, sk_b64, err, sizeof(err)), 0);
	CHECK_INT(seal_keys_secret(&wrong, other_sk, err, sizeof(err)), 0);
	CHECK(memcmp(pub.pk, sec.pk, sizeof(pub.pk)) == 0);

	/* Version 1: the bare code. */
	CHECK_INT(seal_code(&pub, "042917", sealed), 0);
	CHECK(memmem(sealed, sizeof(sealed), "042917", 6) == NULL);
	CHECK_INT(seal_open(&sec, sealed, sizeof(sealed), &o), 0);
	CHECK_STR(o.code, "042917");
	CHECK(!o.bound && o.otp_id[0] == '\0');
	CHECK(seal_open(&wrong, sealed, sizeof(sealed), &o) < 0);
	CHECK(seal_open(&sec, sealed, sizeof(sealed) - 1, &o) < 0);
	sealed[20] ^= 1;
	CHECK(seal_open(&sec, sealed, sizeof(sealed), &o) < 0);

	version_2(&pub, &sec, &wrong);

	CHECK(seal_keys_public(&pub, "not base64!", err, sizeof(err)) < 0);
	CHECK(seal_keys_public(&pub, "AAAA", err, sizeof(err)) < 0);
	CHECK(seal_keys_secret(&sec, pk_b64 + 4, err, sizeof(err)) < 0);
	CHECK(strstr(err, pk_b64 + 4) == NULL);
	return check_done("seal");
}
