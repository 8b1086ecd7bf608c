/* Sealed-box handling of OTP codes (libsodium). */
#include "seal.h"

#include <stdio.h>
#include <string.h>

static int decode_key(const char *b64, unsigned char *out, size_t out_len)
{
	size_t len = 0;

	if (!b64 ||
	    sodium_base642bin(out, out_len, b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) ||
	    len != out_len)
		return -1;
	return 0;
}

int seal_keygen(char *pk_b64, char *sk_b64)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	unsigned char sk[crypto_box_SECRETKEYBYTES];

	if (sodium_init() < 0 || crypto_box_keypair(pk, sk))
		return -1;
	sodium_bin2base64(pk_b64, SEAL_KEY_B64_SIZE, pk, sizeof(pk),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(sk_b64, SEAL_KEY_B64_SIZE, sk, sizeof(sk),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(sk, sizeof(sk));
	return 0;
}

int seal_keys_public(struct seal_keys *keys, const char *pk_b64, char *errstr,
		     size_t errstr_size)
{
	memset(keys, 0, sizeof(*keys));
	if (sodium_init() < 0 ||
	    decode_key(pk_b64, keys->pk, sizeof(keys->pk))) {
		snprintf(errstr, errstr_size, "not a base64 %d-byte public key",
			 crypto_box_PUBLICKEYBYTES);
		return -1;
	}
	return 0;
}

int seal_keys_secret(struct seal_keys *keys, const char *sk_b64, char *errstr,
		     size_t errstr_size)
{
	memset(keys, 0, sizeof(*keys));
	if (sodium_init() < 0 ||
	    decode_key(sk_b64, keys->sk, sizeof(keys->sk)) ||
	    crypto_scalarmult_base(keys->pk, keys->sk)) {
		sodium_memzero(keys, sizeof(*keys));
		snprintf(errstr, errstr_size, "not a base64 %d-byte secret key",
			 crypto_box_SECRETKEYBYTES);
		return -1;
	}
	return 0;
}

int seal_code(const struct seal_keys *keys, const char *code,
	      unsigned char *out)
{
	return crypto_box_seal(out, (const unsigned char *)code,
			       SEAL_CODE_DIGITS, keys->pk) ?
		       -1 :
		       0;
}

int seal_open(const struct seal_keys *keys, const unsigned char *sealed,
	      size_t len, char *code)
{
	unsigned char plain[SEAL_CODE_DIGITS];

	if (len != SEAL_SEALED_BYTES ||
	    crypto_box_seal_open(plain, sealed, len, keys->pk, keys->sk))
		return -1;
	for (int i = 0; i < SEAL_CODE_DIGITS; i++) {
		if (plain[i] < '0' || plain[i] > '9') {
			sodium_memzero(plain, sizeof(plain));
			return -1;
		}
		code[i] = (char)plain[i];
	}
	code[SEAL_CODE_DIGITS] = '\0';
	sodium_memzero(plain, sizeof(plain));
	return 0;
}
