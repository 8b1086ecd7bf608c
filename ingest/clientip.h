/*
 * Who the client is, for the rate limiter and the record's client_ip
 * (docs/api.md §1.4). Behind proxies (OTPFLOW_TRUST_PROXY=true) it is the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy
 * (OTPFLOW_TRUSTED_PROXIES, addresses or CIDR blocks; none listed: the
 * socket peer only). Never the left-most entry: the client writes that one,
 * and rotating it would dodge every per-IP limit. Pure functions over
 * caller buffers, apart from the trust list built once at start.
 */
#ifndef OTPFLOW_INGEST_CLIENTIP_H
#define OTPFLOW_INGEST_CLIENTIP_H

#include <stdbool.h>
#include <stddef.h>

/* Room for an address in text, with NUL (an IPv6 address with a zone). */
#define CLIENTIP_SIZE 64
/* X-Forwarded-For entries looked at, from the right. */
#define CLIENTIP_MAX_HOPS 32

struct clientip_net {
	unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	unsigned prefix; /* bits, 0-128, counted on the 16 bytes */
};

/* The trusted proxies; n == 0: the socket peer only. */
struct clientip_trust {
	struct clientip_net *nets; /* owned */
	size_t n;
};

/*
 * Parses the list (NULL-terminated, as cfg_list gives it) into t. Returns
 * 0, or -1 with errstr naming the entry that is not an address or CIDR
 * block (t is then empty).
 */
int clientip_trust_init(struct clientip_trust *t, char *const *list,
			char *errstr, size_t errstr_size);

/* Frees what t owns; t may be zeroed or freed already. */
void clientip_trust_free(struct clientip_trust *t);

/* True when text is an IPv4 or IPv6 address inside one of t's blocks. */
bool clientip_trusted(const struct clientip_trust *t, const char *text);

/*
 * The client's address into out: peer (the socket peer, in text) when it
 * is not a trusted proxy, else the X-Forwarded-For entries hops[0..n)
 * (left to right, as the headers list them) read from the right: trusted
 * proxies are skipped, the first other address is the client; an entry
 * that is not an address stops the walk at the last trusted hop; when
 * every hop is trusted, the left-most. peer must not be NULL.
 */
void clientip_pick(const struct clientip_trust *t, const char *peer,
		   const char *const *hops, size_t n, char out[CLIENTIP_SIZE]);

#endif
