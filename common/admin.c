/* Admin endpoints over libmicrohttpd (see admin.h). */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "httpd.h"

struct admin {
	struct MHD_Daemon *d;
	admin_ready_fn ready;
	void *arg;
};

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status,
			    const char *body)
{
	return httpd_reply(conn, status, "text/plain", body, strlen(body),
			   NULL);
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
		return text(conn, 405, "method not allowed\n");
	if (strcmp(url, "/healthz") == 0)
		return text(conn, 200, "ok\n");
	if (strcmp(url, "/readyz") == 0) {
		char why[256] = "";
		char body[300];
		bool ok = !a->ready || a->ready(a->arg, why, sizeof(why));

		snprintf(body, sizeof(body), "%s%s%s\n",
			 ok ? "ready" : "not ready", why[0] ? ": " : "", why);
		return text(conn, ok ? 200 : 503, body);
	}
	if (strcmp(url, "/metrics") == 0) {
		char *buf = NULL;
		size_t len = httpd_metrics_text(&buf);
		enum MHD_Result ret;

		if (!buf)
			return text(conn, 500, "out of memory\n");
		ret = httpd_reply(conn, 200, HTTPD_METRICS_TYPE, buf, len,
				  NULL);
		free(buf);
		return ret;
	}
	return text(conn, 404, "not found\n");
}

struct admin *admin_start(const char *address, admin_ready_fn ready, void *arg,
			  char *errstr, size_t errstr_size)
{
	struct admin *a = calloc(1, sizeof(*a));
	int fd = -1;

	if (!a) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	fd = addr_listen(address, errstr, errstr_size);
	if (fd < 0)
		goto fail;
	a->ready = ready;
	a->arg = arg;
	a->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
		NULL, handle, a, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (!a->d) {
		snprintf(errstr, errstr_size, "%s: cannot start the server",
			 address);
		close(fd);
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
	MHD_stop_daemon(a->d); /* closes the listening socket too */
	free(a);
}
