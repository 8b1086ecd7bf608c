/*
 * The P4 ceiling: single-thread bcrypt hashes per second at a given cost,
 * with the worker's own otp_hash. Prints one number (hashes/s).
 *
 * usage: otpflow-bench-bcrypt [COST] [SECONDS]   (defaults 6, 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "otp.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int cost = argc > 1 ? atoi(argv[1]) : 6;
	double secs = argc > 2 ? atof(argv[2]) : 3.0;
	char hash[OTP_HASH_SIZE];
	double start = now(), elapsed;
	long n = 0;

	do {
		if (!otp_hash("123456", cost, hash))
			return 1;
		n++;
		elapsed = now() - start;
	} while (elapsed < secs);
	printf("%.1f\n", (double)n / elapsed);
	return 0;
}
