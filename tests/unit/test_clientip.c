/*
 * ingest/clientip and ingest/cors: the client IP behind proxies is the
 * right-most X-Forwarded-For entry that is not a trusted proxy (never the
 * left-most, which the client writes), and the CORS origin globs.
 */
#include <stdlib.h>

#include "check.h"
#include "clientip.h"
#include "cors.h"

static void pick(const struct clientip_trust *t, const char *peer,
		 const char *const *hops, size_t n, const char *want, int line)
{
	char out[CLIENTIP_SIZE];

	clientip_pick(t, peer, hops, n, out);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "  line %d: got %s, want %s\n", line, out,
			want);
	CHECK_STR(out, want);
}

#define PICK(t, peer, hops, want) \
	pick(t, peer, hops, sizeof(hops) / sizeof(*(hops)), want, __LINE__)

static void test_default_trusts_the_peer_only(void)
{
	struct clientip_trust t;
	char err[128];
	const char *one[] = { "203.0.113.7" };
	const char *two[] = { "198.51.100.1", "203.0.113.7" };
	const char *spoofed[] = { "1.2.3.4", " 203.0.113.7 " };
	const char *garbage[] = { "203.0.113.7", "not-an-ip" };
	const char *mapped[] = { "::ffff:203.0.113.9" };

	CHECK_INT(clientip_trust_init(&t, NULL, err, sizeof(err)), 0);
	PICK(&t, "10.0.0.1", one, "203.0.113.7");
	/* Whatever the client wrote on the left, the hop the proxy added. */
	PICK(&t, "10.0.0.1", two, "203.0.113.7");
	PICK(&t, "10.0.0.1", spoofed, "203.0.113.7");
	PICK(&t, "10.0.0.1", garbage, "10.0.0.1");
	PICK(&t, "10.0.0.1", mapped, "203.0.113.9");
	pick(&t, "10.0.0.1", NULL, 0, "10.0.0.1", __LINE__);
	clientip_trust_free(&t);
}

static void test_trusted_chain(void)
{
	char *list[] = { "10.0.0.0/8", "2001:db8::/32", "192.0.2.5", NULL };
	struct clientip_trust t;
	char err[128];
	const char *chain[] = { "6.6.6.6", "203.0.113.7", "10.1.2.3",
				"2001:db8::1" };
	const char *rotated[] = { "7.7.7.7", "203.0.113.7", "10.1.2.3",
				  "2001:db8::1" };
	const char *inside[] = { "10.9.9.9", "10.1.2.3" };
	const char *broken[] = { "203.0.113.7", "x", "10.1.2.3" };

	CHECK_INT(clientip_trust_init(&t, list, err, sizeof(err)), 0);
	CHECK(clientip_trusted(&t, "10.255.0.1"));
	CHECK(clientip_trusted(&t, "192.0.2.5"));
	CHECK(!clientip_trusted(&t, "192.0.2.6"));
	CHECK(clientip_trusted(&t, "2001:db8:ffff::1"));
	CHECK(!clientip_trusted(&t, "2001:db9::1"));
	CHECK(!clientip_trusted(&t, "11.0.0.1"));
	PICK(&t, "10.0.0.1", chain, "203.0.113.7");
	/* The regression of docs/api.md §1.4: the left-most entry rotates,
	 * the client does not. */
	PICK(&t, "10.0.0.1", rotated, "203.0.113.7");
	PICK(&t, "10.0.0.1", inside, "10.9.9.9");
	PICK(&t, "10.0.0.1", broken, "10.1.2.3");
	/* A peer outside the list: its headers are not believed. */
	PICK(&t, "198.51.100.1", chain, "198.51.100.1");
	clientip_trust_free(&t);
}

static void test_bad_lists(void)
{
	char *bad[][2] = { { "10.0.0.0/33", NULL },
			   { "nope", NULL },
			   { "10.0.0.0/", NULL },
			   { "::1/129", NULL } };
	struct clientip_trust t;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		CHECK_INT(clientip_trust_init(&t, bad[i], err, sizeof(err)),
			  -1);
		CHECK(strstr(err, bad[i][0]) != NULL);
	}
}

static void test_cors_globs(void)
{
	char *list[] = { "https://*.my-app.com", "http://localhost:*", NULL };
	char *all[] = { "*", NULL };
	struct cors c;

	CHECK_INT(cors_init(&c, NULL), 0);
	CHECK(cors_origin_allowed(&c, "https://anything.example"));
	cors_free(&c);
	CHECK_INT(cors_init(&c, list), 0);
	CHECK(cors_origin_allowed(&c, "https://app.my-app.com"));
	CHECK(cors_origin_allowed(&c, "https://a.b.my-app.com"));
	CHECK(cors_origin_allowed(&c, "HTTPS://App.My-App.com"));
	CHECK(cors_origin_allowed(&c, "http://localhost:3000"));
	CHECK(!cors_origin_allowed(&c, "https://my-app.com"));
	CHECK(!cors_origin_allowed(&c, "https://evil.com/.my-app.com"));
	CHECK(!cors_origin_allowed(&c, "https://app.my-app.com.evil.com"));
	CHECK(!cors_origin_allowed(&c, "null"));
	cors_free(&c);
	CHECK_INT(cors_init(&c, all), 0);
	CHECK(cors_origin_allowed(&c, "null"));
	cors_free(&c);
}

int main(void)
{
	test_default_trusts_the_peer_only();
	test_trusted_chain();
	test_bad_lists();
	test_cors_globs();
	return check_done("clientip");
}
