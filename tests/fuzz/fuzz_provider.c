/*
 * libFuzzer target: a provider's answer (HTTP status, Retry-After header,
 * body) read as the sender reads it, then classified with the built-in
 * table. Input layout: 2 bytes status (big-endian, mod 1000), 1 byte
 * provider kind, the Retry-After value up to the first '\n' (at most 63
 * bytes), then the body. Checked: every output string is terminated within
 * its buffer, a 2xx answer carries no error, the class is one of the four.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct classifier *table;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sms_outcome o;
	char retry_after[64] = "", msgid[PROVIDER_MSGID_SIZE];
	char error[PROVIDER_ERROR_SIZE], errstr[256];
	const uint8_t *nl;
	int64_t retry_ms;
	enum sms_class cls;
	long status;
	size_t n;

	if (!table && !(table = classifier_new(NULL, errstr, sizeof(errstr))))
		abort();
	if (size < 3)
		return 0;
	status = ((long)data[0] << 8 | data[1]) % 1000;
	enum provider_kind kind = (enum provider_kind)(data[2] % 4);
	data += 3;
	size -= 3;
	nl = memchr(data, '\n', size < 64 ? size : 64);
	if (nl) {
		n = (size_t)(nl - data);
		memcpy(retry_after, data, n);
		retry_after[n] = '\0';
		data += n + 1;
		size -= n + 1;
	}
	provider_parse_answer(kind, status, (const char *)data, size,
			      retry_after, 1795600000000LL, &o, &retry_ms,
			      msgid, error);
	if (strnlen(msgid, sizeof(msgid)) == sizeof(msgid) ||
	    strnlen(error, sizeof(error)) == sizeof(error) ||
	    strnlen(o.provider_code, sizeof(o.provider_code)) ==
		    sizeof(o.provider_code) ||
	    o.http_status != status || retry_ms < 0)
		abort();
	if (status >= 200 && status < 300 && (error[0] || o.provider_code[0]))
		abort();
	cls = classify(table, &o);
	if (cls != SMS_SUCCESS && cls != SMS_TRANSIENT &&
	    cls != SMS_PERMANENT && cls != SMS_CONFIG)
		abort();
	return 0;
}
