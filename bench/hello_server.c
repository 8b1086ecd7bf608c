/*
 * The P1 ceiling: a hello-world libmicrohttpd + jansson POST server built
 * like ingest (epoll, a thread per core, keep-alive). It reads the body,
 * parses it as JSON and answers "OK" — no validation, no Kafka. Whatever
 * ingest reaches is reported as a fraction of what this reaches in the
 * same run on the same machine.
 *
 * usage: hello_server PORT   (runs until SIGTERM/SIGINT)
 */
#include <jansson.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct body {
	char buf[16384];
	size_t len;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct body *b = *con_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	json_t *doc;

	(void)cls, (void)url, (void)method, (void)version;
	if (!b) {
		*con_cls = calloc(1, sizeof(*b));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*size) {
		size_t n = *size < sizeof(b->buf) - b->len ?
				   *size :
				   sizeof(b->buf) - b->len;
		memcpy(b->buf + b->len, data, n);
		b->len += n;
		*size = 0;
		return MHD_YES;
	}
	doc = json_loadb(b->buf, b->len, 0, NULL);
	resp = MHD_create_response_from_buffer(doc ? 4 : 2,
					       (void *)(doc ? "\"OK\"" : "{}"),
					       MHD_RESPMEM_PERSISTENT);
	json_decref(doc);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, doc ? 200 : 400, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct MHD_Daemon *d;

	if (argc != 2)
		return 2;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD,
			     (uint16_t)atoi(argv[1]), NULL, NULL, on_request,
			     NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cores,
			     MHD_OPTION_CONNECTION_LIMIT, 4096U,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_END);
	if (!d)
		return 1;
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	return 0;
}
