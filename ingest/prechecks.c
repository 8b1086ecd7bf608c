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

void precheck_client_ip(const struct ingest_http *h,
			struct MHD_Connection *conn,
			char out[PRECHECK_IP_SIZE])
{
	const union MHD_ConnectionInfo *ci;

	out[0] = '\0';
	if (cfg_bool(h->cfg, CFG_OTPFLOW_TRUST_PROXY)) {
		const char *xff = MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, "X-Forwarded-For");
		if (xff) {
			size_t skip = strspn(xff, " \t");
			size_t n = strcspn(xff + skip, ", \t");
			unsigned char addr[sizeof(struct in6_addr)];

			if (n > 0 && n < PRECHECK_IP_SIZE) {
				memcpy(out, xff + skip, n);
				out[n] = '\0';
				/* Only an address; anything else is ignored. */
				if (inet_pton(AF_INET, out, addr) == 1 ||
				    inet_pton(AF_INET6, out, addr) == 1)
					return;
			}
		}
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
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
		if (getnameinfo(ci->client_addr, sl, out, PRECHECK_IP_SIZE,
				NULL, 0, NI_NUMERICHOST))
			out[0] = '\0';
	}
}

bool precheck_run(const struct ingest_http *h, struct MHD_Connection *conn,
		  const char *ip, enum MHD_Result *ret)
{
	bool conceal = cfg_bool(h->cfg, CFG_AUTH_CONCEAL_ERRORS);
	unsigned retry_after = 0;
	char retry[16];

	if (!precheck_json_content_type(MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		*ret = reply_error(conn, API_ERR_INVALID_REQUEST, 415,
				   "Content-Type must be application/json",
				   NULL, NULL);
		return false;
	}
	if (!cfg_bool(h->cfg, CFG_AUTH_SMS_PASSWORDLESS_ENABLED)) {
		*ret = reply_error(conn, API_ERR_DISABLED_ENDPOINT, 0, NULL,
				   NULL, NULL);
		return false;
	}
	if (cfg_bool(h->cfg, CFG_AUTH_DISABLE_SIGNUP)) {
		*ret = conceal ? reply_error(conn, API_ERR_INVALID_REQUEST, 0,
					     NULL, NULL, NULL) :
				 reply_error(conn, API_ERR_SIGNUP_DISABLED, 0,
					     NULL, NULL, NULL);
		return false;
	}
	if (h->rl &&
	    !ratelimit_check(h->rl, ip, clock_mono_ms(), &retry_after)) {
		snprintf(retry, sizeof(retry), "%u", retry_after);
		*ret = reply_error(conn, API_ERR_INVALID_REQUEST, 429,
				   "Too many requests",
				   MHD_HTTP_HEADER_RETRY_AFTER, retry);
		return false;
	}
	return true;
}
