/*
 * Ingest HTTP server. Owns the MHD daemon, the Kafka publisher, the signup
 * policy and the rate limiter, and the per-request state machine:
 *
 *   first call   route, method, Content-Length cap and, when the length is
 *                known, the checks of rows 3-6 (answered before any body)
 *   upload calls body into a buffer capped at OTPFLOW_MAX_BODY_BYTES
 *   last call    rows 3-6 if not done yet, validation (signup.c), Avro
 *                encoding, produce; the connection is then suspended
 *   resume       the delivery report resumed it: 200 "OK" or 503
 *
 * It also owns the slow-client deadline (docs/api.md §1.7). MHD's connection
 * timeout only closes a connection that stays silent that long, so a client
 * sending one byte per second would hold it open for ever (slowloris). Each
 * connection therefore also has a deadline, armed when it starts waiting
 * for a request (accepted, or its previous answer sent) and disarmed once
 * the request is in (an answer queued, or the record handed to Kafka); a
 * reaper thread shuts down the socket of a connection past its deadline,
 * and MHD then closes it as one the client dropped.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "daemon.h"
#include "err.h"
#include "httpd.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "publish.h"
#include "ratelimit.h"
#include "signup.h"
#include "version.h"

#define SIGNUP_PATH "/signup/passwordless/sms"
#define IP_SIZE 64
/* Bodies up to this size (a signup is typically 30-300 bytes) stay in the
 * request itself; only larger ones get a buffer of OTPFLOW_MAX_BODY_BYTES. */
#define SMALL_BODY 512
#define REAPER_INTERVAL_MS 100

enum route {
	ROUTE_SIGNUP,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_VERSION,
	ROUTE_NOT_FOUND
};

enum state {
	ST_READING, /* receiving the body */
	ST_IN_FLIGHT, /* record queued, connection suspended */
	ST_DELIVERED, /* delivery report arrived, connection resumed */
};

/* Answer codes counted by otpflow_ingest_http_responses_total. */
static const char *const status_labels[] = { "200", "400", "403", "404",
					     "405", "409", "413", "415",
					     "429", "500", "503", NULL };
static const double accept_buckets[] = { 0.001, 0.0025, 0.005, 0.01,
					 0.025, 0.05,	0.1,   0.25,
					 0.5,	1,	2.5,   5 };

static struct {
	struct metric *responses; /* by status code */
	struct metric *accept; /* body received -> delivery report */
	struct metric *in_flight;
} m;

struct request {
	struct ingest_http *h;
	long long submitted_ns;
	struct MHD_Connection *conn;
	enum state state;
	bool prechecked; /* rows 3-6 passed */
	char ip[IP_SIZE]; /* the client (socket peer or proxy hop) */
	bool too_large;
	char *body; /* small, or malloc'd when the body outgrew it */
	size_t len;
	rd_kafka_resp_err_t kafka_err;
	char small[SMALL_BODY];
};

/* The slow-client deadline of one connection (its MHD socket context). */
struct conn_clock {
	struct conn_clock *prev, *next; /* in ingest_http.clocks */
	MHD_socket fd;
	atomic_llong deadline_ms; /* monotonic; 0: disarmed */
};

struct ingest_http {
	const struct cfg *cfg;
	struct events *ev;
	struct MHD_Daemon *d;
	struct MHD_Response *ok; /* 200 "OK", shared by every connection */
	struct publisher *pub;
	struct signup_policy policy;
	struct ratelimit *rl;
	char signup_path[512];
	size_t max_body;
	const char *topic;
	atomic_int active; /* requests allocated and not completed */
	long long timeout_ms; /* OTPFLOW_CONNECTION_TIMEOUT, 0: none */
	pthread_mutex_t clocks_lock; /* guards the list, not the deadlines */
	struct conn_clock *clocks;
	pthread_t reaper;
	bool reaper_started;
	atomic_bool reaper_stop;
};

/* --- Slow-client deadline ---------------------------------------------- */

/* The connection's clock, or NULL if it could not get one. */
static struct conn_clock *deadline_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* now + the timeout, or 0 (never) when the timeout is 0. */
static long long deadline_from_now(const struct ingest_http *h)
{
	return h->timeout_ms > 0 ? clock_mono_ms() + h->timeout_ms : 0;
}

/* The client has until the deadline to deliver its next request. */
static void deadline_arm(const struct ingest_http *h,
			 struct MHD_Connection *conn)
{
	struct conn_clock *c = deadline_of(conn);

	if (c)
		atomic_store(&c->deadline_ms, deadline_from_now(h));
}

/* The request is in: from here on the wait is the server's. */
static void deadline_disarm(struct MHD_Connection *conn)
{
	struct conn_clock *c = deadline_of(conn);

	if (c)
		atomic_store(&c->deadline_ms, 0);
}

/*
 * MHD_OPTION_NOTIFY_CONNECTION: a clock per connection, in the list from
 * accept until MHD is about to close the socket (it notifies CLOSED before
 * close(), so the reaper never touches a reused descriptor). A connection
 * without a clock (out of memory) keeps MHD's idle timeout only.
 */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct ingest_http *h = cls;
	struct conn_clock *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		c = ci ? calloc(1, sizeof(*c)) : NULL;
		if (!c)
			return;
		c->fd = ci->connect_fd;
		atomic_init(&c->deadline_ms, deadline_from_now(h));
		pthread_mutex_lock(&h->clocks_lock);
		c->next = h->clocks;
		if (h->clocks)
			h->clocks->prev = c;
		h->clocks = c;
		pthread_mutex_unlock(&h->clocks_lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&h->clocks_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->clocks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&h->clocks_lock);
	free(c);
	*socket_context = NULL;
}

/* Shuts down every connection past its deadline, every 100 ms. */
static void *reaper_main(void *arg)
{
	struct ingest_http *h = arg;
	struct conn_clock *c;
	long long now, deadline;

	while (!atomic_load(&h->reaper_stop)) {
		usleep(REAPER_INTERVAL_MS * 1000);
		now = clock_mono_ms();
		pthread_mutex_lock(&h->clocks_lock);
		for (c = h->clocks; c; c = c->next) {
			deadline = atomic_load(&c->deadline_ms);
			if (deadline && now >= deadline) {
				atomic_store(&c->deadline_ms, 0);
				shutdown(c->fd, SHUT_RDWR);
			}
		}
		pthread_mutex_unlock(&h->clocks_lock);
	}
	return NULL;
}

/* --- Responses --------------------------------------------------------- */

static void count_status(unsigned status)
{
	/* Compared as numbers: no formatting on every answer. */
	for (size_t i = 0; status_labels[i]; i++) {
		if (strtoul(status_labels[i], NULL, 10) == status) {
			metrics_inc(m.responses, i, 1);
			break;
		}
	}
}

static enum MHD_Result reply_typed(struct MHD_Connection *conn, unsigned status,
				   const char *type, const char *body,
				   size_t len, const char *hname,
				   const char *hval)
{
	const char *headers[] = { hname, hval, NULL };

	deadline_disarm(conn);
	count_status(status);
	return httpd_reply(conn, status, type, body, len, headers);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *body, size_t len, const char *hname,
			     const char *hval)
{
	return reply_typed(conn, status, "application/json", body, len, hname,
			   hval);
}

/*
 * 200 "OK", the answer to nearly every request under load: one response
 * built at start and queued on every connection (MHD counts its uses), so
 * that it is not allocated, copied and freed each time.
 */
static enum MHD_Result reply_ok(struct ingest_http *h,
				struct MHD_Connection *conn)
{
	deadline_disarm(conn);
	count_status(MHD_HTTP_OK);
	return MHD_queue_response(conn, MHD_HTTP_OK, h->ok);
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, enum api_err e,
				   int status, const char *message,
				   const char *hname, const char *hval)
{
	char body[512];
	size_t len = api_err_body(e, status, message, body, sizeof(body));

	return reply(conn, (unsigned)(status ? status : api_err_status(e)),
		     body, len, hname, hval);
}

/* --- Checks before the body (docs/api.md §1.2 rows 3-6) ----------------------- */

static bool is_json_content_type(const char *ct)
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

/* The client's IP: the socket peer, or the first X-Forwarded-For hop. */
static void client_ip(const struct ingest_http *h, struct MHD_Connection *conn,
		      char out[IP_SIZE])
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

			if (n > 0 && n < IP_SIZE) {
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
		if (getnameinfo(ci->client_addr, sl, out, IP_SIZE, NULL, 0,
				NI_NUMERICHOST))
			out[0] = '\0';
	}
}

/* Rows 3-6. Returns true to go on; otherwise a response was queued. */
static bool precheck(struct request *req, enum MHD_Result *ret)
{
	struct ingest_http *h = req->h;
	struct MHD_Connection *conn = req->conn;
	bool conceal = cfg_bool(h->cfg, CFG_AUTH_CONCEAL_ERRORS);
	unsigned retry_after = 0;
	char retry[16];

	if (!is_json_content_type(MHD_lookup_connection_value(
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
	if (h->rl) {
		if (!ratelimit_check(h->rl, req->ip, clock_mono_ms(),
				     &retry_after)) {
			snprintf(retry, sizeof(retry), "%u", retry_after);
			*ret = reply_error(conn, API_ERR_INVALID_REQUEST, 429,
					   "Too many requests",
					   MHD_HTTP_HEADER_RETRY_AFTER, retry);
			return false;
		}
	}
	req->prechecked = true;
	return true;
}

/* --- The signup request ------------------------------------------------ */

/* Validates, encodes and queues the record; suspends on success. */
static enum MHD_Result submit(struct request *req)
{
	struct ingest_http *h = req->h;
	struct signup_error error;
	json_t *rec = NULL;
	void *value = NULL;
	size_t len = 0;
	char request_id[IDS_UUID_SIZE], tp[IDS_TRACEPARENT_SIZE];
	char why[256];
	rd_kafka_resp_err_t err;
	enum MHD_Result ret;

	if (signup_validate(&h->policy, req->body ? req->body : "", req->len,
			    &rec, &error))
		return reply_error(req->conn, error.err, error.status,
				   error.message, NULL, NULL);
	ids_uuid_v4(request_id);
	ids_traceparent_child(MHD_lookup_connection_value(req->conn,
							  MHD_HEADER_KIND,
							  "traceparent"),
			      tp);
	json_object_set_new(rec, "request_id", json_string(request_id));
	json_object_set_new(rec, "received_at", json_integer(clock_wall_ms()));
	json_object_set_new(rec, "client_ip",
			    *req->ip ? json_string(req->ip) : json_null());
	if (events_encode(h->ev, EVENTS_SIGNUP_REQUESTED, rec, &value, &len,
			  why, sizeof(why))) {
		LOG(LOG_ERROR, "cannot encode SignupRequested", "request_id",
		    request_id, "error", why);
		ret = reply_error(req->conn, API_ERR_INTERNAL_SERVER_ERROR, 0,
				  NULL, NULL, NULL);
		goto out;
	}
	deadline_disarm(req->conn);
	req->state = ST_IN_FLIGHT;
	req->submitted_ns = clock_mono_ns();
	metrics_add(m.in_flight, 1);
	err = publisher_send(
		h->pub, h->topic,
		json_string_value(json_object_get(rec, "phone_number")), value,
		len, request_id, tp, req);
	if (err) {
		req->state = ST_READING;
		metrics_add(m.in_flight, -1);
		LOG(LOG_WARN, "request not queued", "request_id", request_id,
		    "error", rd_kafka_err2name(err));
		ret = reply_error(
			req->conn, API_ERR_INTERNAL_SERVER_ERROR, 503,
			"The request could not be stored; retry later",
			MHD_HTTP_HEADER_RETRY_AFTER, "1");
		goto out;
	}
	MHD_suspend_connection(req->conn);
	ret = MHD_YES;
out:
	free(value);
	json_decref(rec);
	return ret;
}

/* Delivery report (publisher thread): remember the outcome, resume. */
static void on_done(void *opaque, rd_kafka_resp_err_t err)
{
	struct request *req = opaque;

	req->kafka_err = err;
	req->state = ST_DELIVERED;
	metrics_add(m.in_flight, -1);
	if (!err)
		metrics_observe(m.accept,
				(double)(clock_mono_ns() - req->submitted_ns) /
					1e9);
	MHD_resume_connection(req->conn);
}

static enum MHD_Result answer_delivered(struct request *req)
{
	if (req->kafka_err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return reply_ok(req->h, req->conn);
	LOG(LOG_WARN, "request not stored", "error",
	    rd_kafka_err2name(req->kafka_err));
	return reply_error(req->conn, API_ERR_INTERNAL_SERVER_ERROR, 503,
			   "The request could not be stored; retry later",
			   MHD_HTTP_HEADER_RETRY_AFTER, "1");
}

static enum MHD_Result handle_signup(struct request *req,
				     const char *upload_data,
				     size_t *upload_data_size, bool first)
{
	struct MHD_Connection *conn = req->conn;
	enum MHD_Result ret = MHD_YES;

	if (req->state == ST_DELIVERED)
		return answer_delivered(req);
	if (first) {
		const char *cl = MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			unsigned long long n = strtoull(cl, &end, 10);
			if (*end || n > req->h->max_body)
				return reply_error(conn,
						   API_ERR_INVALID_REQUEST, 413,
						   "Request body too large",
						   NULL, NULL);
			/* Length known: rows 3-6 need no body. */
			if (!precheck(req, &ret))
				return ret;
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->too_large || req->len + n > req->h->max_body) {
			/* Chunked body over the cap: keep nothing more. */
			req->too_large = true;
			return MHD_YES;
		}
		if (!req->body)
			req->body = req->small;
		if (req->body == req->small &&
		    req->len + n > sizeof(req->small)) {
			char *big = malloc(req->h->max_body);

			if (!big)
				return MHD_NO;
			memcpy(big, req->small, req->len);
			req->body = big;
		}
		memcpy(req->body + req->len, upload_data, n);
		req->len += n;
		return MHD_YES;
	}
	if (req->too_large)
		return reply_error(conn, API_ERR_INVALID_REQUEST, 413,
				   "Request body too large", NULL, NULL);
	if (!req->prechecked && !precheck(req, &ret))
		return ret;
	return submit(req);
}

/* --- Other routes ------------------------------------------------------ */

static enum MHD_Result handle_get(struct ingest_http *h,
				  struct MHD_Connection *conn, enum route r)
{
	char body[128];

	switch (r) {
	case ROUTE_HEALTHZ:
		return reply_ok(h, conn);
	case ROUTE_READYZ:
		if (publisher_ready(h->pub))
			return reply_ok(h, conn);
		return reply_error(conn, API_ERR_INTERNAL_SERVER_ERROR, 503,
				   "Kafka is not reachable", NULL, NULL);
	case ROUTE_VERSION:
		snprintf(body, sizeof(body), "{\"version\":\"%s\"}",
			 otpflow_version());
		return reply(conn, 200, body, strlen(body), NULL, NULL);
	case ROUTE_METRICS: {
		char *text = NULL;
		size_t len = httpd_metrics_text(&text);
		enum MHD_Result ret;

		if (!text)
			return reply_error(conn, API_ERR_INTERNAL_SERVER_ERROR,
					   0, NULL, NULL, NULL);
		ret = reply_typed(conn, 200, HTTPD_METRICS_TYPE, text, len,
				  NULL, NULL);
		free(text);
		return ret;
	}
	default:
		return reply_error(conn, API_ERR_INVALID_REQUEST, 404,
				   "Route not found", NULL, NULL);
	}
}

static enum route route_of(const struct ingest_http *h, const char *url)
{
	if (strcmp(url, h->signup_path) == 0)
		return ROUTE_SIGNUP;
	if (strcmp(url, "/healthz") == 0)
		return ROUTE_HEALTHZ;
	if (strcmp(url, "/readyz") == 0)
		return ROUTE_READYZ;
	if (strcmp(url, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strcmp(url, "/version") == 0)
		return ROUTE_VERSION;
	return ROUTE_NOT_FOUND;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct ingest_http *h = cls;
	struct request *req = *con_cls;
	enum route r;

	if (req)
		return handle_signup(req, upload_data, upload_data_size, false);
	r = route_of(h, url);
	if (r == ROUTE_SIGNUP) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_error(conn, API_ERR_INVALID_REQUEST, 405,
					   "Method not allowed; use POST",
					   MHD_HTTP_HEADER_ALLOW, "POST");
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->h = h;
		req->conn = conn;
		client_ip(h, conn, req->ip);
		atomic_fetch_add(&h->active, 1);
		*con_cls = req;
		return handle_signup(req, upload_data, upload_data_size, true);
	}
	if (r != ROUTE_NOT_FOUND && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_error(conn, API_ERR_INVALID_REQUEST, 405,
				   "Method not allowed; use GET",
				   MHD_HTTP_HEADER_ALLOW, "GET");
	return handle_get(h, conn, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ingest_http *h = cls;
	struct request *req = *con_cls;

	/* Answered; a kept-alive connection now waits for the next request. */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		deadline_arm(h, conn);
	if (!req)
		return;
	if (req->body != req->small)
		free(req->body);
	free(req);
	*con_cls = NULL;
	atomic_fetch_sub(&h->active, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	LOG(LOG_WARN, "http", "message", msg);
}

/* --- Lifecycle --------------------------------------------------------- */

static double ratelimit_clients_metric(void *arg)
{
	return (double)ratelimit_clients(arg);
}

int ingest_http_start(const struct cfg *cfg, struct events *ev, void **state,
		      char *errstr, size_t errstr_size)
{
	struct ingest_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t ss_len;
	int rc = DAEMON_EXIT_CONFIG;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = cores > 0 ? (unsigned)cores : 1;

	if (!h) {
		snprintf(errstr, errstr_size, "out of memory");
		return DAEMON_EXIT_FAILED;
	}
	h->cfg = cfg;
	h->ev = ev;
	h->timeout_ms = cfg_ms(cfg, CFG_OTPFLOW_CONNECTION_TIMEOUT);
	pthread_mutex_init(&h->clocks_lock, NULL);
	m.responses = metrics_counter(
		"otpflow_ingest_http_responses_total",
		"HTTP answers of ingest (every route, probes included), by status code.",
		"code", status_labels);
	m.accept = metrics_histogram(
		"otpflow_ingest_accept_seconds",
		"Time from a valid request to Kafka's delivery report.",
		accept_buckets,
		sizeof(accept_buckets) / sizeof(*accept_buckets));
	m.in_flight = metrics_gauge("otpflow_ingest_in_flight_requests",
				    "Requests waiting for Kafka to confirm.");
	h->max_body = (size_t)cfg_int(cfg, CFG_OTPFLOW_MAX_BODY_BYTES);
	h->topic = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS);
	snprintf(h->signup_path, sizeof(h->signup_path), "%s%s",
		 cfg_str(cfg, CFG_AUTH_API_PREFIX), SIGNUP_PATH);
	if (addr_parse(cfg_str(cfg, CFG_OTPFLOW_LISTEN), &ss, &ss_len, errstr,
		       errstr_size) ||
	    signup_policy_init(&h->policy, cfg, errstr, errstr_size))
		goto fail;
	if (cfg_bool(cfg, CFG_AUTH_RATE_LIMIT_ENABLE)) {
		const struct ratelimit_rule rules[] = {
			{ (unsigned)cfg_int(cfg,
					    CFG_AUTH_RATE_LIMIT_GLOBAL_BURST),
			  cfg_ms(cfg, CFG_AUTH_RATE_LIMIT_GLOBAL_INTERVAL) },
			{ (unsigned)cfg_int(cfg, CFG_AUTH_RATE_LIMIT_SMS_BURST),
			  cfg_ms(cfg, CFG_AUTH_RATE_LIMIT_SMS_INTERVAL) },
			{ (unsigned)cfg_int(cfg,
					    CFG_AUTH_RATE_LIMIT_SIGNUPS_BURST),
			  cfg_ms(cfg, CFG_AUTH_RATE_LIMIT_SIGNUPS_INTERVAL) },
		};
		h->rl = ratelimit_new(
			rules, 3,
			(size_t)cfg_int(cfg,
					CFG_OTPFLOW_RATE_LIMIT_MAX_CLIENTS));
		if (!h->rl) {
			snprintf(errstr, errstr_size,
				 "rate limiter: invalid AUTH_RATE_LIMIT_* "
				 "settings or out of memory");
			goto fail;
		}
		metrics_gauge_func("otpflow_ingest_ratelimit_clients",
				   "Client IPs the rate limiter tracks.",
				   ratelimit_clients_metric, h->rl);
	}
	h->ok = MHD_create_response_from_buffer(4, (void *)"\"OK\"",
						MHD_RESPMEM_PERSISTENT);
	if (!h->ok ||
	    MHD_add_response_header(h->ok, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "application/json") != MHD_YES) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	h->pub = publisher_new(cfg, on_done, errstr, errstr_size);
	if (!h->pub)
		goto fail;
	rc = DAEMON_EXIT_FAILED; /* the settings are fine from here on */
	h->d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ITC | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, h,
		/* First, so that MHD's own messages about the options that
		 * follow go through it too. */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)(cfg_ms(cfg, CFG_OTPFLOW_CONNECTION_TIMEOUT) / 1000),
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)cfg_int(cfg, CFG_OTPFLOW_MAX_CONNECTIONS),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg_int(cfg, CFG_OTPFLOW_MAX_CONNECTIONS_PER_IP),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U, MHD_OPTION_END);
	if (!h->d) {
		snprintf(errstr, errstr_size, "cannot listen on %s",
			 cfg_str(cfg, CFG_OTPFLOW_LISTEN));
		goto fail;
	}
	if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
		snprintf(errstr, errstr_size, "cannot start the reaper thread");
		goto fail;
	}
	h->reaper_started = true;
	*state = h;
	return DAEMON_EXIT_OK;
fail:
	if (h->d)
		MHD_stop_daemon(h->d);
	if (h->pub)
		publisher_close(h->pub, 0);
	if (h->ok)
		MHD_destroy_response(h->ok);
	if (h->rl)
		ratelimit_free(h->rl);
	signup_policy_free(&h->policy);
	pthread_mutex_destroy(&h->clocks_lock);
	free(h);
	return rc;
}

int ingest_http_drain(struct ingest_http *h, int timeout_ms)
{
	MHD_quiesce_daemon(h->d);
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (atomic_load(&h->active) == 0)
			break;
		usleep(10 * 1000);
	}
	return atomic_load(&h->active);
}

void ingest_http_stop(struct ingest_http *h, int timeout_ms)
{
	/* Every queued record gets its report (and its connection an answer)
	 * before the server goes away. */
	publisher_close(h->pub, timeout_ms);
	for (int waited = 0; waited < 1000 && atomic_load(&h->active) > 0;
	     waited += 10)
		usleep(10 * 1000);
	if (h->reaper_started) {
		atomic_store(&h->reaper_stop, true);
		pthread_join(h->reaper, NULL);
	}
	MHD_stop_daemon(h->d);
	MHD_destroy_response(h->ok);
	if (h->rl)
		ratelimit_free(h->rl);
	signup_policy_free(&h->policy);
	pthread_mutex_destroy(&h->clocks_lock);
	free(h);
}

bool ingest_http_fatal(const struct ingest_http *h)
{
	return publisher_fatal(h->pub);
}
