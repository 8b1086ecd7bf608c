/* Admin endpoints over libmicrohttpd (see admin.h). */
#include "admin.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct admin {
	struct MHD_Daemon *d;
	admin_ready_fn ready;
	void *arg;
};

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status,
				 const char *ctype, const char *body,
				 size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **ctx)
{
	struct admin *a = cls;

	if (!*ctx) { /* first call: headers only */
		*ctx = (void *)1;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* ignore bodies */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_text(conn, 405, "text/plain",
				 "method not allowed\n", 19);
	if (strcmp(url, "/healthz") == 0)
		return send_text(conn, 200, "text/plain", "ok\n", 3);
	if (strcmp(url, "/readyz") == 0) {
		char why[256] = "";
		char body[300];
		bool ok = !a->ready || a->ready(a->arg, why, sizeof(why));
		int n = snprintf(body, sizeof(body), "%s%s%s\n",
				 ok ? "ready" : "not ready", why[0] ? ": " : "",
				 why);
		return send_text(conn, ok ? 200 : 503, "text/plain", body,
				 (size_t)n < sizeof(body) ? (size_t)n :
							    sizeof(body) - 1);
	}
	if (strcmp(url, "/metrics") == 0) {
		size_t cap = metrics_render_bound();
		char *buf = malloc(cap ? cap : 1);
		enum MHD_Result ret;
		size_t len;

		if (!buf)
			return send_text(conn, 500, "text/plain", "oom\n", 4);
		len = metrics_render(buf, cap ? cap : 1);
		ret = send_text(conn, 200,
				"text/plain; version=0.0.4; charset=utf-8", buf,
				len);
		free(buf);
		return ret;
	}
	return send_text(conn, 404, "text/plain", "not found\n", 10);
}

struct admin *admin_start(const char *address, admin_ready_fn ready, void *arg,
			  char *errstr, size_t errstr_size)
{
	struct admin *a = calloc(1, sizeof(*a));
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(address, ':');
	int gai;

	if (!a) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	if (!colon || colon == address ||
	    (size_t)(colon - address) >= sizeof(host)) {
		snprintf(errstr, errstr_size,
			 "admin address '%s': want "
			 "host:port",
			 address);
		goto fail;
	}
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(errstr, errstr_size, "admin address '%s': %s", address,
			 gai_strerror(gai));
		goto fail;
	}
	a->ready = ready;
	a->arg = arg;
	a->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, a, MHD_OPTION_SOCK_ADDR, res->ai_addr,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	freeaddrinfo(res);
	if (!a->d) {
		snprintf(errstr, errstr_size,
			 "admin address '%s': cannot "
			 "listen",
			 address);
		goto fail;
	}
	return a;
fail:
	free(a);
	return NULL;
}

void admin_stop(struct admin *a)
{
	if (!a)
		return;
	MHD_stop_daemon(a->d);
	free(a);
}
