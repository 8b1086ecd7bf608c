/* libFuzzer target: phone normalisation and masking never overflow, and
 * what they accept is E.164 and stable under a second normalisation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[PHONE_MAX], again[PHONE_MAX], masked[PHONE_MAX + 8];
	size_t n;

	if (!phone_normalise((const char *)data, size, out, sizeof(out)))
		return 0;
	n = strlen(out);
	if (out[0] != '+' || n < 9 || n > 16 || out[1] == '0' ||
	    strspn(out + 1, "0123456789") != n - 1)
		abort();
	if (!phone_normalise(out, n, again, sizeof(again)) ||
	    strcmp(out, again) != 0)
		abort();
	phone_mask(out, masked, sizeof(masked));
	if (strcmp(masked, out) == 0)
		abort();
	return 0;
}
