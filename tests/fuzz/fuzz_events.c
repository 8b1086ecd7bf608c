/*
 * libFuzzer target: Avro decoding of every event type from arbitrary bytes
 * (the first byte picks the type; the rest is the framed value). Whatever
 * decodes must encode again.
 */
#include <stdint.h>
#include <stdlib.h>

#include "events.h"

static struct events *ev;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const topics[EVENTS__COUNT] = { "a", "b", "c", "d" };
	char err[256];

	ev = events_new(NULL, topics, 1000, err, sizeof(err));
	if (!ev)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum events_type type;
	json_t *rec = NULL;
	void *buf = NULL;
	size_t len = 0;
	char err[256];

	if (size < 1)
		return 0;
	type = (enum events_type)(data[0] % EVENTS__COUNT);
	if (events_decode(ev, type, data + 1, size - 1, &rec, err, sizeof(err)))
		return 0;
	if (events_encode(ev, type, rec, &buf, &len, err, sizeof(err)))
		abort();
	free(buf);
	json_decref(rec);
	return 0;
}
