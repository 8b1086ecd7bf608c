/*
 * One-time codes: 6 uniform decimal digits from the OS CSPRNG, and their
 * bcrypt hash in the "$2a$" form that pgcrypto's crypt() verifies (which is
 * what Nhost's verification statement uses).
 */
#ifndef OTPFLOW_WORKER_OTP_H
#define OTPFLOW_WORKER_OTP_H

#include <stdbool.h>
#include <stddef.h>

#define OTP_CODE_SIZE 7 /* 6 digits + NUL */
#define OTP_HASH_SIZE 64 /* a $2a$ hash is 60 characters */

/* Writes a uniformly random 6-digit code; false only if getrandom fails. */
bool otp_generate(char code[OTP_CODE_SIZE]);

/*
 * bcrypt of code with the given cost (4..31) and a fresh random salt.
 * Thread-safe. False on failure (bad cost, libcrypt error).
 */
bool otp_hash(const char *code, int cost, char out[OTP_HASH_SIZE]);

#endif
