/*
 * The sealed OTP: the worker seals each 6-digit code to the sender's public
 * key (libsodium crypto_box_seal), so the plaintext exists only inside the
 * worker while hashing and inside the sender while sending. Keys travel as
 * standard base64 in configuration.
 */
#ifndef OTPFLOW_SEAL_H
#define OTPFLOW_SEAL_H

#include <sodium.h>
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

/* Seals a 6-digit code; out receives SEAL_SEALED_BYTES bytes. */
int seal_code(const struct seal_keys *keys, const char *code,
	      unsigned char *out);

/*
 * Opens a sealed code into code (7 bytes incl. NUL). Fails on a wrong key,
 * tampering, or a payload that is not 6 ASCII digits.
 */
int seal_open(const struct seal_keys *keys, const unsigned char *sealed,
	      size_t len, char *code);

#endif
