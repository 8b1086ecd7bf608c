/* Checks before the body, and the client's IP (see prechecks.h). */
#include "prechecks.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "clock.h"
#include "err.h"
#include "ratelimit.h"
#include "reply.h"

bool precheck_json_content_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* The X-Forwarded-For entries of every such header, the last ones kept. */
struct hops {
	char text[CLIENTIP_MAX_HOPS][CLIENTIP_SIZE];
	size_t n; /* entries seen; the last CLIENTIP_MAX_HOPS are kept */
};

static void hops_add(struct hops *hops, const char *entry, size_t len)
{
	char *slot = hops->text[hops->n++ % CLIENTIP_MAX_HOPS];

	/* Too long to be an address: kept as an entry that is not one. */
	if (len >= CLIENTIP_SIZE)
		len = 0;
	memcpy(slot, entry, len);
	slot[len] = '\0';
}

static enum MHD_Result collect_hops(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	struct hops *hops = cls;

	if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
		return MHD_YES;
	for (;;) {
		size_t len = strcspn(value, ",");

		hops_add(hops, value, len);
		if (!value[len])
			return MHD_YES;
		value += len + 1;
	}
}

/* The socket peer in text into out ("" if unknown). */
static void peer_ip(struct MHD_Connection *conn, char out[CLIENTIP_SIZE])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	out[0] = '\0';
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
		/* Dotted quad by hand: glibc formats it with sprintf, a
		 * visible cost when done for every request. */
		const unsigned char *a =
			(const unsigned char *)&(
				(const struct sockaddr_in *)ci->client_addr)
				->sin_addr;
		char *o = out;

		for (int i = 0; i < 4; i++) {
			if (i)
				*o++ = '.';
			if (a[i] >= 100)
				*o++ = (char)('0' + a[i] / 100);
			if (a[i] >= 10)
				*o++ = (char)('0' + a[i] / 10 % 10);
			*o++ = (char)('0' + a[i] % 10);
		}
		*o = '\0';
	} else if (ci && ci->client_addr) {
		socklen_t sl = ci->client_addr->sa_family == AF_INET6 ?
				       sizeof(struct sockaddr_in6) :
				       sizeof(struct sockaddr_in);
		if (getnameinfo(ci->client_addr, sl, out, CLIENTIP_SIZE, NULL,
				0, NI_NUMERICHOST))
			out[0] = '\0';
	}
}

void precheck_client_ip(const struct ingest_http *h,
			struct MHD_Connection *conn, char out[CLIENTIP_SIZE])
{
	struct hops hops;
	const char *list[CLIENTIP_MAX_HOPS];
	char peer[CLIENTIP_SIZE];
	size_t n, first;

	peer_ip(conn, h->trust_proxy ? peer : out);
	if (!h->trust_proxy)
		return;
	hops.n = 0;
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_hops, &hops);
	n = hops.n < CLIENTIP_MAX_HOPS ? hops.n : CLIENTIP_MAX_HOPS;
	first = hops.n - n; /* the oldest entry kept */
	for (size_t i = 0; i < n; i++)
		list[i] = hops.text[(first + i) % CLIENTIP_MAX_HOPS];
	clientip_pick(&h->trust, peer, list, n, out);
}

bool precheck_run(const struct ingest_http *h, struct MHD_Connection *conn,
		  enum signup_route route, const char *ip, enum MHD_Result *ret)
{
	/* Nhost's sets: every route global and SMS; then sign-ups or brute
	 * force. */
	unsigned rules = 1u << LIMIT_GLOBAL | 1u << LIMIT_SMS |
			 (route == SIGNUP_ROUTE_SIGNIN ?
				  1u << LIMIT_BRUTE_FORCE :
				  1u << LIMIT_SIGNUPS);
	unsigned retry_after = 0;
	char retry[16];

	if (!precheck_json_content_type(MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		*ret = reply_error(conn, API_ERR_INVALID_REQUEST, 415,
				   "Content-Type must be application/json",
				   NULL, NULL);
		return false;
	}
	if (h->rl && !ratelimit_check_rules(h->rl, ip, rules, clock_mono_ms(),
					    &retry_after)) {
		snprintf(retry, sizeof(retry), "%u", retry_after);
		*ret = reply_error(conn, API_ERR_INVALID_REQUEST, 429,
				   "Too many requests",
				   MHD_HTTP_HEADER_RETRY_AFTER, retry);
		return false;
	}
	return true;
}
