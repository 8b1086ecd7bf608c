/*
 * A fixed pool of threads that computes the bcrypt hashes of one batch in
 * parallel (bcrypt is the worker's dominant cost). Hashing runs in the
 * background while the caller commits and publishes the previous batch;
 * the caller joins in once it waits for the result.
 */
#ifndef OTPFLOW_WORKER_HASHPOOL_H
#define OTPFLOW_WORKER_HASHPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "otp.h"

struct hash_job {
	char code[OTP_CODE_SIZE]; /* input */
	char hash[OTP_HASH_SIZE]; /* output */
	bool ok; /* output */
};

struct hashpool;

/* threads >= 1 pool threads (0 counts as 1). NULL on failure. */
struct hashpool *hashpool_new(unsigned threads, int cost);

/*
 * Starts hashing jobs[0..n) on the pool's threads and returns at once; the
 * jobs must stay alive until hashpool_wait returns. One batch at a time:
 * every start is followed by a wait before the next start.
 */
void hashpool_start(struct hashpool *hp, struct hash_job *jobs, size_t n);

/* Helps with the started batch, then blocks until every job is done. */
void hashpool_wait(struct hashpool *hp);

/* hashpool_start + hashpool_wait. */
void hashpool_run(struct hashpool *hp, struct hash_job *jobs, size_t n);

void hashpool_free(struct hashpool *hp);

#endif
