/* UUIDs and trace context from getrandom(2). */
#include "ids.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

static const char hexdig[] = "0123456789abcdef";

bool ids_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0)
			return false; /* EINTR is impossible for <= 256 bytes */
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Random bytes for identifiers, fetched from getrandom(2) ahead of need:
 * ingest takes 40 bytes per request (request id and trace ids), and a
 * system call each time cost more than the rest of the id work. Each thread
 * keeps its own pool (no lock); a forked child starts with an empty one so
 * that parent and child never hand out the same bytes. Secrets (OTP codes)
 * use ids_random, never this pool.
 */
#define ID_POOL_SIZE 256 /* getrandom(2) never returns short for <= 256 */

static __thread unsigned char id_pool[ID_POOL_SIZE];
static __thread size_t id_pool_left;
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_pool_forget(void)
{
	id_pool_left = 0;
}

static void id_pool_init(void)
{
	pthread_atfork(NULL, NULL, id_pool_forget);
}

static void id_random(void *buf, size_t len)
{
	pthread_once(&id_pool_once, id_pool_init);
	if (len > id_pool_left) {
		if (!ids_random(id_pool, sizeof(id_pool))) {
			ids_random(buf, len); /* the OS failed: no pool */
			return;
		}
		id_pool_left = sizeof(id_pool);
	}
	/* Bytes are taken from the end and wiped, never handed out twice. */
	id_pool_left -= len;
	memcpy(buf, id_pool + id_pool_left, len);
	memset(id_pool + id_pool_left, 0, len);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
}

void ids_uuid_v4(char out[IDS_UUID_SIZE])
{
	unsigned char b[16];
	size_t o = 0;

	id_random(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	/* 8-4-4-4-12 hex digits */
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		hex(b + i, 1, out + o);
		o += 2;
	}
	out[o] = '\0';
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(hexdig, s[i]) || !s[i])
			return false;
	return true;
}

bool ids_uuid_valid(const char *s)
{
	static const size_t dashes[] = { 8, 13, 18, 23 };

	if (!s || strlen(s) != 36)
		return false;
	for (size_t i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dashes[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex(s + i, 1)) {
			return false;
		}
	}
	return true;
}

/* 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, ids not all zero */
static bool traceparent_valid(const char *s)
{
	if (!s || strlen(s) != 55 || strncmp(s, "00-", 3) != 0 ||
	    s[35] != '-' || s[52] != '-' || !is_hex(s + 3, 32) ||
	    !is_hex(s + 36, 16) || !is_hex(s + 53, 2))
		return false;
	return strspn(s + 3, "0") < 32 && strspn(s + 36, "0") < 16;
}

/* out: 00-<trace>-<span hex>-<flags>, built without printf (per request). */
void ids_traceparent_child(const char *parent, char out[IDS_TRACEPARENT_SIZE])
{
	unsigned char span[8], trace[16];

	id_random(span, sizeof(span));
	span[0] |= 1; /* never all zero */
	memcpy(out, "00-", 3);
	if (traceparent_valid(parent)) {
		memcpy(out + 3, parent + 3, 32);
		memcpy(out + 52, parent + 52, 3); /* "-" and the flags */
	} else {
		id_random(trace, sizeof(trace));
		trace[0] |= 1;
		hex(trace, sizeof(trace), out + 3);
		memcpy(out + 52, "-01", 3);
	}
	out[35] = '-';
	hex(span, sizeof(span), out + 36);
	out[55] = '\0';
}
