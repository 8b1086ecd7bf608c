/*
 * The sealed OTP: the worker seals each 6-digit code, bound to its otp_id and
 * destination number, to the sender's public key (libsodium
 * crypto_box_seal), so the plaintext exists only inside the worker while
 * hashing and inside the sender while sending, and a sealed code is only
 * good for its own record (docs/api.md §2.2). Keys travel as standard
 * base64 in configuration.
 */
#ifndef OTPFLOW_SEAL_H
#define OTPFLOW_SEAL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

#define SEAL_CODE_DIGITS 6
#define SEAL_SEALED_BYTES (crypto_box_SEALBYTES + SEAL_CODE_DIGITS)
/* Room for a base64 key including the NUL. */
#define SEAL_KEY_B64_SIZE 64

struct seal_keys {
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	unsigned char sk[crypto_box_SECRETKEYBYTES]; /* zero if public only */
};

/* A fresh key pair as base64 strings (buffers of SEAL_KEY_B64_SIZE). */
int seal_keygen(char *pk_b64, char *sk_b64);

/* Decodes a base64 public key. Error text never contains key material. */
int seal_keys_public(struct seal_keys *keys, const char *pk_b64, char *errstr,
		     size_t errstr_size);

/* Decodes a base64 secret key and derives its public key. */
int seal_keys_secret(struct seal_keys *keys, const char *sk_b64, char *errstr,
		     size_t errstr_size);

/*
 * Version 2 binds the code to its record: the sealed plaintext is
 * "v2\n<otp_id>\n<E.164 destination>\n<code>", so a sealed value copied
 * onto another record (another number) is refused. Version 1 sealed the
 * bare code (still opened, reported unbound, during an upgrade).
 */
#define SEAL_ID_SIZE 37 /* a uuid and the NUL */
#define SEAL_E164_SIZE 17 /* "+" 15 digits and the NUL */
#define SEAL_PLAIN_MAX (3 + SEAL_ID_SIZE + SEAL_E164_SIZE + SEAL_CODE_DIGITS)
#define SEAL_MAX_BYTES (crypto_box_SEALBYTES + SEAL_PLAIN_MAX)

/* Version 1: seals a bare 6-digit code; out receives SEAL_SEALED_BYTES
 * bytes. Kept for tests and tools that must write the old form. */
int seal_code(const struct seal_keys *keys, const char *code,
	      unsigned char *out);

/*
 * Version 2: seals code bound to otp_id and e164 (the record's
 * phone_number). out receives *out_len (at most SEAL_MAX_BYTES) bytes.
 * -1 when otp_id or e164 is too long or holds a newline.
 */
int seal_bind(const struct seal_keys *keys, const char *otp_id,
	      const char *e164, const char *code,
	      unsigned char out[SEAL_MAX_BYTES], size_t *out_len);

/* What a sealed value held. */
struct seal_opened {
	char code[SEAL_CODE_DIGITS + 1];
	bool bound; /* version 2: otp_id and e164 are set */
	char otp_id[SEAL_ID_SIZE];
	char e164[SEAL_E164_SIZE];
};

/*
 * Opens a sealed value of either version into *o (the caller wipes it
 * after use: it holds the code). Fails (-1) on a wrong key, tampering, or
 * a plaintext of neither form (a code that is not 6 ASCII digits).
 */
int seal_open(const struct seal_keys *keys, const unsigned char *sealed,
	      size_t len, struct seal_opened *o);

#endif
