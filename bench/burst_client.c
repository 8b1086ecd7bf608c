/*
 * The P3 load generator: exactly N POST /signup/passwordless/sms requests,
 * each with its own phone number, as fast as C keep-alive connections allow
 * (one request in flight per connection, single thread, epoll). wrk cannot
 * stop after a fixed number of requests, hence this.
 *
 * usage: otpflow-bench-burst HOST PORT N CONNECTIONS [PREFIX] [TIMEOUT_S]
 *
 * Request i (0 <= i < N) carries phone "+1" followed by the ten digits of
 * PREFIX * 10^7 + i (PREFIX 0-999, default 555; N <= 10^7). Prints one JSON
 * line: requests, answers by status, transport errors, seconds, req/s and
 * p50/p90/p99/max latency (request written -> whole answer read). Exit 0
 * when every request got an answer (any status), 1 on a transport error
 * or the timeout (default 600 s), 2 on bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 8192

struct conn {
	int fd;
	long idx; /* request in flight, -1 when idle */
	char out[512];
	size_t out_len, out_off;
	char in[BUF_SIZE];
	size_t in_len;
	double started;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int conn_open(const char *host, int port, int ep, struct conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	struct epoll_event ev = { .events = EPOLLIN };
	int one = 1;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	ev.data.ptr = c;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_prepare(struct conn *c, long idx, long prefix)
{
	char body[64];
	int blen = snprintf(body, sizeof(body),
			    "{\"phoneNumber\":\"+1%010ld\"}",
			    prefix * 10000000L + idx);

	c->idx = idx;
	c->out_len = (size_t)snprintf(
		c->out, sizeof(c->out),
		"POST /signup/passwordless/sms HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
		"Content-Length: %d\r\n\r\n%s",
		blen, body);
	c->out_off = 0;
	c->in_len = 0;
	c->started = now();
}

/* Writes what is pending; 0 done, 1 partial (wait for EPOLLOUT), -1 error. */
static int conn_flush(struct conn *c, int ep)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
						  .data.ptr = c };
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return 1;
		}
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	return 0;
}

/* Status of a complete answer in c->in, 0 when incomplete, -1 malformed. */
static int answer_status(struct conn *c, int *keep_alive)
{
	char *end, *p;
	long clen = -1;
	size_t head;
	int status;

	c->in[c->in_len] = '\0';
	end = strstr(c->in, "\r\n\r\n");
	if (!end)
		return c->in_len >= BUF_SIZE - 1 ? -1 : 0;
	head = (size_t)(end - c->in) + 4;
	if (sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	*keep_alive = 1;
	for (p = strstr(c->in, "\r\n"); p && p < end;
	     p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, "content-length:", 15))
			clen = strtol(p + 17, NULL, 10);
		else if (!strncasecmp(p + 2, "connection: close", 17))
			*keep_alive = 0;
	}
	if (clen < 0 || head + (size_t)clen >= BUF_SIZE)
		return -1;
	return c->in_len >= head + (size_t)clen ? status : 0;
}

int main(int argc, char **argv)
{
	const char *host;
	long n, nconn, prefix = 555, next = 0, done = 0, errors = 0;
	long statuses[600] = { 0 }, other = 0;
	double timeout = 600, start, elapsed;
	struct conn *conns;
	uint32_t *lat;
	int port, ep, i, first;

	if (argc < 5) {
		fprintf(stderr,
			"usage: %s HOST PORT N CONNECTIONS [PREFIX] "
			"[TIMEOUT_S]\n",
			argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	n = atol(argv[3]);
	nconn = atol(argv[4]);
	if (argc > 5)
		prefix = atol(argv[5]);
	if (argc > 6)
		timeout = atof(argv[6]);
	if (n <= 0 || n > 10000000L || nconn <= 0 || prefix < 0 ||
	    prefix > 999 || port <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	if (nconn > n)
		nconn = n;
	conns = calloc((size_t)nconn, sizeof(*conns));
	lat = calloc((size_t)n, sizeof(*lat));
	ep = epoll_create1(0);
	if (!conns || !lat || ep < 0)
		return 1;

	start = now();
	for (i = 0; i < nconn; i++) {
		if (conn_open(host, port, ep, &conns[i]) != 0) {
			fprintf(stderr, "connect %s:%d: %s\n", host, port,
				strerror(errno));
			return 1;
		}
		conn_prepare(&conns[i], next++, prefix);
		if (conn_flush(&conns[i], ep) < 0)
			return 1;
	}
	while (done + errors < n) {
		struct epoll_event evs[256];
		int k, m = epoll_wait(ep, evs, 256, 1000);

		if (now() - start > timeout) {
			fprintf(stderr, "timeout: %ld of %ld answered\n", done,
				n);
			return 1;
		}
		for (k = 0; k < m; k++) {
			struct conn *c = evs[k].data.ptr;
			int status, keep_alive = 1, broken = 0;
			ssize_t r;

			if (c->idx < 0)
				continue;
			if (evs[k].events & EPOLLOUT) {
				struct epoll_event ev = { .events = EPOLLIN,
							  .data.ptr = c };
				if (conn_flush(c, ep) == 0)
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd,
						  &ev);
			}
			if (!(evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			r = recv(c->fd, c->in + c->in_len,
				 BUF_SIZE - 1 - c->in_len, 0);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			if (r <= 0) {
				broken = 1;
				status = -1;
			} else {
				c->in_len += (size_t)r;
				status = answer_status(c, &keep_alive);
				if (status == 0)
					continue;
			}
			if (status < 0) {
				/* closed or malformed: the request's fate is unknown */
				errors++;
				broken = 1;
			} else {
				double dt = now() - c->started;
				lat[done++] = (uint32_t)(dt * 1e6);
				if (status < 600)
					statuses[status]++;
				else
					other++;
			}
			c->idx = -1;
			if (broken || !keep_alive) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				if (next < n &&
				    conn_open(host, port, ep, c) != 0) {
					fprintf(stderr, "reconnect: %s\n",
						strerror(errno));
					return 1;
				}
			}
			if (next < n) {
				conn_prepare(c, next++, prefix);
				if (conn_flush(c, ep) < 0) {
					errors++;
					c->idx = -1;
				}
			}
		}
	}
	elapsed = now() - start;
	qsort(lat, (size_t)done, sizeof(*lat), cmp_u32);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] / 1000.0 : 0.0)
	printf("{\"requests\": %ld, \"answers\": {", n);
	for (i = 0, first = 1; i < 600; i++) {
		if (!statuses[i])
			continue;
		printf("%s\"%d\": %ld", first ? "" : ", ", i, statuses[i]);
		first = 0;
	}
	printf("}, \"other_status\": %ld, \"transport_errors\": %ld, "
	       "\"seconds\": %.3f, \"req_per_s\": %.0f, \"p50_ms\": %.2f, "
	       "\"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
	       "\"connections\": %ld}\n",
	       other, errors, elapsed, (double)done / elapsed, PCT(0.50),
	       PCT(0.90), PCT(0.99), PCT(1.0), nconn);
	return errors ? 1 : 0;
}
