/*
 * A fixed pool of threads that computes the bcrypt hashes of one batch in
 * parallel (bcrypt is the worker's dominant cost). The caller's thread
 * works too, so a pool of N threads uses N cores.
 */
#ifndef OTPFLOW_WORKER_HASHPOOL_H
#define OTPFLOW_WORKER_HASHPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "otp.h"

struct hash_job {
	char code[OTP_CODE_SIZE];  /* input */
	char hash[OTP_HASH_SIZE];  /* output */
	bool ok;                   /* output */
};

struct hashpool;

/* threads >= 1 (the caller counts as one). NULL on failure. */
struct hashpool *hashpool_new(unsigned threads, int cost);

/* Hashes every job (blocking until all are done). Not reentrant. */
void hashpool_run(struct hashpool *hp, struct hash_job *jobs, size_t n);

void hashpool_free(struct hashpool *hp);

#endif
