/* The client's IP behind trusted proxies (see clientip.h). */
#include "clientip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* text as 16 bytes (IPv4 mapped into IPv6); false if not an address. */
static bool parse_addr(const char *text, unsigned char out[16])
{
	unsigned char v4[4];

	if (inet_pton(AF_INET, text, v4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, v4, 4);
		return true;
	}
	return inet_pton(AF_INET6, text, out) == 1;
}

static bool is_v4_mapped(const unsigned char a[16])
{
	static const unsigned char prefix[12] = { 0, 0, 0, 0, 0,    0,
						  0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* "addr" or "addr/bits" into net; false if it is neither. */
static bool parse_net(const char *text, struct clientip_net *net)
{
	char addr[CLIENTIP_SIZE];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max;
	long bits;
	char *end;

	if (len == 0 || len >= sizeof(addr))
		return false;
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (!parse_addr(addr, net->addr))
		return false;
	max = strchr(addr, ':') ? 128 : 32;
	if (!slash) {
		net->prefix = 128;
		return true;
	}
	bits = strtol(slash + 1, &end, 10);
	if (!slash[1] || *end || bits < 0 || bits > (long)max)
		return false;
	/* An IPv4 block counts its bits after the 96 of the mapping. */
	net->prefix = (unsigned)bits + (max == 32 ? 96 : 0);
	return true;
}

static bool in_net(const struct clientip_net *net, const unsigned char a[16])
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	unsigned char mask;

	if (memcmp(net->addr, a, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (a[full] & mask);
}

int clientip_trust_init(struct clientip_trust *t, char *const *list,
			char *errstr, size_t errstr_size)
{
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	while (list && list[n])
		n++;
	if (n == 0)
		return 0;
	t->nets = calloc(n, sizeof(*t->nets));
	if (!t->nets) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!parse_net(list[i], &t->nets[i])) {
			snprintf(errstr, errstr_size,
				 "OTPFLOW_TRUSTED_PROXIES: \"%s\" is not an "
				 "address or CIDR block",
				 list[i]);
			clientip_trust_free(t);
			return -1;
		}
	}
	t->n = n;
	return 0;
}

void clientip_trust_free(struct clientip_trust *t)
{
	free(t->nets);
	t->nets = NULL;
	t->n = 0;
}

bool clientip_trusted(const struct clientip_trust *t, const char *text)
{
	unsigned char a[16];

	if (!parse_addr(text, a))
		return false;
	for (size_t i = 0; i < t->n; i++)
		if (in_net(&t->nets[i], a))
			return true;
	return false;
}

/* One X-Forwarded-For entry, trimmed, into out; false if not an address. */
static bool hop_address(const char *hop, char out[CLIENTIP_SIZE])
{
	unsigned char a[16];
	size_t skip = strspn(hop, " \t"), len;

	hop += skip;
	len = strcspn(hop, " \t");
	if (len == 0 || len >= CLIENTIP_SIZE ||
	    hop[len + strspn(hop + len, " \t")])
		return false;
	memcpy(out, hop, len);
	out[len] = '\0';
	if (!parse_addr(out, a))
		return false;
	/* An IPv4-mapped IPv6 address is the IPv4 client. */
	if (is_v4_mapped(a) && strchr(out, ':'))
		inet_ntop(AF_INET, a + 12, out, CLIENTIP_SIZE);
	return true;
}

void clientip_pick(const struct clientip_trust *t, const char *peer,
		   const char *const *hops, size_t n, char out[CLIENTIP_SIZE])
{
	char hop[CLIENTIP_SIZE];
	bool peer_trusted = t->n == 0 || clientip_trusted(t, peer);

	snprintf(out, CLIENTIP_SIZE, "%s", peer);
	if (!peer_trusted)
		return;
	/* Without a list only the peer is trusted: its own entry (the
	 * right-most) is the client, whatever it is. */
	while (n > 0) {
		if (!hop_address(hops[--n], hop))
			return; /* garbage: stay with the last trusted hop */
		snprintf(out, CLIENTIP_SIZE, "%s", hop);
		if (t->n == 0 || !clientip_trusted(t, hop))
			return;
	}
}
