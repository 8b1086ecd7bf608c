/* Sealed-box handling of OTP codes (libsodium). */
#include "seal.h"

#include <stdbool.h>
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

int seal_bind(const struct seal_keys *keys, const char *otp_id,
	      const char *e164, const char *code,
	      unsigned char out[SEAL_MAX_BYTES], size_t *out_len)
{
	char plain[SEAL_PLAIN_MAX + 1];
	int n;

	if (strlen(otp_id) >= SEAL_ID_SIZE || strlen(e164) >= SEAL_E164_SIZE ||
	    strlen(code) != SEAL_CODE_DIGITS || strchr(otp_id, '\n') ||
	    strchr(e164, '\n'))
		return -1;
	n = snprintf(plain, sizeof(plain), "v2\n%s\n%s\n%s", otp_id, e164,
		     code);
	if (n < 0 || (size_t)n >= sizeof(plain) ||
	    crypto_box_seal(out, (const unsigned char *)plain,
			    (unsigned long long)n, keys->pk)) {
		sodium_memzero(plain, sizeof(plain));
		return -1;
	}
	*out_len = crypto_box_SEALBYTES + (size_t)n;
	sodium_memzero(plain, sizeof(plain));
	return 0;
}

static bool digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* Copies the next field of "a\nb\nc" (up to a newline) into out. */
static const char *field(const char *p, const char *end, char *out, size_t size)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (!nl || (size_t)(nl - p) >= size || nl == p)
		return NULL;
	memcpy(out, p, (size_t)(nl - p));
	out[nl - p] = '\0';
	return nl + 1;
}

/* Reads a version 2 plaintext into o; false if it is not one. */
static bool parse_bound(const char *plain, size_t n, struct seal_opened *o)
{
	const char *end = plain + n, *p = plain + 3;

	if (n < 3 || memcmp(plain, "v2\n", 3) != 0)
		return false;
	p = field(p, end, o->otp_id, sizeof(o->otp_id));
	if (p)
		p = field(p, end, o->e164, sizeof(o->e164));
	if (!p || (size_t)(end - p) != SEAL_CODE_DIGITS ||
	    !digits(p, SEAL_CODE_DIGITS))
		return false;
	memcpy(o->code, p, SEAL_CODE_DIGITS);
	o->code[SEAL_CODE_DIGITS] = '\0';
	o->bound = true;
	return true;
}

int seal_open(const struct seal_keys *keys, const unsigned char *sealed,
	      size_t len, struct seal_opened *o)
{
	char plain[SEAL_PLAIN_MAX];
	size_t n;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	if (len <= crypto_box_SEALBYTES || len > SEAL_MAX_BYTES)
		return -1;
	n = len - crypto_box_SEALBYTES;
	if (crypto_box_seal_open((unsigned char *)plain, sealed, len, keys->pk,
				 keys->sk))
		return -1;
	if (n == SEAL_CODE_DIGITS && digits(plain, n)) { /* version 1 */
		memcpy(o->code, plain, SEAL_CODE_DIGITS);
		o->code[SEAL_CODE_DIGITS] = '\0';
		rc = 0;
	} else if (parse_bound(plain, n, o)) {
		rc = 0;
	}
	sodium_memzero(plain, sizeof(plain));
	if (rc)
		sodium_memzero(o, sizeof(*o));
	return rc;
}
