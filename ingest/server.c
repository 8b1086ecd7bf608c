/*
 * Ingest's server life cycle (see server.h): the state built from the
 * configuration, MHD started with its callbacks (routes.c, reaper.c), the
 * graceful drain and the teardown in a fixed order — stop accepting,
 * answer in-flight requests, flush Kafka, stop the server.
 */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "mhd_errors.h"
#include "publish.h"
#include "ratelimit.h"
#include "reply.h"
#include "request.h"
#include "routes.h"

#define WAIT_STEP_MS 10

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	LOG(LOG_WARN, "http", "message", msg);
}

static double ratelimit_clients_metric(void *arg)
{
	return (double)ratelimit_clients(arg);
}

/* One rule of the limiter from its two settings. */
static struct ratelimit_rule rule_of(const struct cfg *cfg, enum cfg_id burst,
				     enum cfg_id interval)
{
	return (struct ratelimit_rule){ (unsigned)cfg_int(cfg, burst),
					cfg_ms(cfg, interval) };
}

/* The rate limiter of AUTH_RATE_LIMIT_* (NULL *rl when disabled). */
static int limiter_new(const struct cfg *cfg, struct ratelimit **rl,
		       char *errstr, size_t errstr_size)
{
	const struct ratelimit_rule rules[] = {
		[LIMIT_GLOBAL] = rule_of(cfg, CFG_AUTH_RATE_LIMIT_GLOBAL_BURST,
					 CFG_AUTH_RATE_LIMIT_GLOBAL_INTERVAL),
		[LIMIT_SMS] = rule_of(cfg, CFG_AUTH_RATE_LIMIT_SMS_BURST,
				      CFG_AUTH_RATE_LIMIT_SMS_INTERVAL),
		[LIMIT_SIGNUPS] = rule_of(cfg,
					  CFG_AUTH_RATE_LIMIT_SIGNUPS_BURST,
					  CFG_AUTH_RATE_LIMIT_SIGNUPS_INTERVAL),
		[LIMIT_BRUTE_FORCE] =
			rule_of(cfg, CFG_AUTH_RATE_LIMIT_BRUTE_FORCE_BURST,
				CFG_AUTH_RATE_LIMIT_BRUTE_FORCE_INTERVAL),
	};

	*rl = NULL;
	if (!cfg_bool(cfg, CFG_AUTH_RATE_LIMIT_ENABLE))
		return 0;
	*rl = ratelimit_new(
		rules, sizeof(rules) / sizeof(*rules),
		(size_t)cfg_int(cfg, CFG_OTPFLOW_RATE_LIMIT_MAX_CLIENTS));
	if (!*rl) {
		snprintf(errstr, errstr_size,
			 "rate limiter: invalid AUTH_RATE_LIMIT_* settings or "
			 "out of memory");
		return -1;
	}
	metrics_gauge_func("otpflow_ingest_ratelimit_clients",
			   "Client IPs the rate limiter tracks.",
			   ratelimit_clients_metric, *rl);
	return 0;
}

/* Frees what ingest_server_start built; the server must be stopped. */
static void free_state(struct ingest_http *h)
{
	if (h->ok)
		MHD_destroy_response(h->ok);
	if (h->rl)
		ratelimit_free(h->rl);
	signup_policy_free(&h->policy);
	cors_free(&h->cors);
	clientip_trust_free(&h->trust);
	reaper_destroy(&h->reaper);
	free(h);
}

/* The settings the request threads read, copied or parsed once. */
static int settings_init(struct ingest_http *h, const struct cfg *cfg,
			 char *errstr, size_t errstr_size)
{
	struct sockaddr_storage ss;
	socklen_t ss_len;

	h->max_body = (size_t)cfg_int(cfg, CFG_OTPFLOW_MAX_BODY_BYTES);
	h->topic = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS);
	h->prefix = cfg_str(cfg, CFG_AUTH_API_PREFIX);
	h->prefix_len = strlen(h->prefix);
	h->trust_proxy = cfg_bool(cfg, CFG_OTPFLOW_TRUST_PROXY);
	if (cors_init(&h->cors,
		      cfg_list(cfg, CFG_OTPFLOW_CORS_ALLOWED_ORIGINS))) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	reply_init(&h->cors);
	return addr_parse(cfg_str(cfg, CFG_OTPFLOW_LISTEN), &ss, &ss_len,
			  errstr, errstr_size) ||
	       clientip_trust_init(&h->trust,
				   cfg_list(cfg, CFG_OTPFLOW_TRUSTED_PROXIES),
				   errstr, errstr_size) ||
	       signup_policy_init(&h->policy, cfg, errstr, errstr_size) ||
	       limiter_new(cfg, &h->rl, errstr, errstr_size);
}

int ingest_server_start(const struct cfg *cfg, struct events *ev, void **state,
			char *errstr, size_t errstr_size)
{
	struct ingest_http *h = calloc(1, sizeof(*h));
	const char *listen = cfg_str(cfg, CFG_OTPFLOW_LISTEN);
	int rc = DAEMON_EXIT_CONFIG;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = cores > 0 ? (unsigned)cores : 1;

	if (!h) {
		snprintf(errstr, errstr_size, "out of memory");
		return DAEMON_EXIT_FAILED;
	}
	h->cfg = cfg;
	h->ev = ev;
	h->listen_fd = -1;
	reaper_init(&h->reaper, cfg_ms(cfg, CFG_OTPFLOW_CONNECTION_TIMEOUT));
	request_metrics_init();
	if (settings_init(h, cfg, errstr, errstr_size))
		goto fail;
	h->ok = reply_ok_new();
	if (!h->ok) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	h->pub = publisher_new(cfg, request_delivered, errstr, errstr_size);
	if (!h->pub)
		goto fail;
	rc = DAEMON_EXIT_FAILED; /* the settings are fine from here on */
	if (!mhd_errors_ready()) {
		snprintf(errstr, errstr_size,
			 "libmicrohttpd's MHD_queue_response not found");
		goto fail;
	}
	/* Our own socket: a busy address is an error naming it, never a
	 * port shared with another process (no SO_REUSEPORT). */
	h->listen_fd = addr_listen(listen, errstr, errstr_size);
	if (h->listen_fd < 0)
		goto fail;
	h->d = MHD_start_daemon(
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ITC | MHD_USE_ERROR_LOG,
		0, NULL, NULL, routes_on_request, h,
		/* First, so that MHD's own messages about the options that
		 * follow go through it too. */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)(cfg_ms(cfg, CFG_OTPFLOW_CONNECTION_TIMEOUT) / 1000),
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)cfg_int(cfg, CFG_OTPFLOW_MAX_CONNECTIONS),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg_int(cfg, CFG_OTPFLOW_MAX_CONNECTIONS_PER_IP),
		MHD_OPTION_NOTIFY_COMPLETED, routes_on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, reaper_on_connection, &h->reaper,
		MHD_OPTION_END);
	if (!h->d) {
		snprintf(errstr, errstr_size, "%s: cannot start the server",
			 listen);
		goto fail;
	}
	if (reaper_start(&h->reaper, errstr, errstr_size))
		goto fail;
	*state = h;
	return DAEMON_EXIT_OK;
fail:
	if (h->d)
		MHD_stop_daemon(h->d); /* closes the listening socket too */
	else if (h->listen_fd >= 0)
		close(h->listen_fd);
	if (h->pub) {
		publisher_close(h->pub, 0);
		publisher_free(h->pub);
	}
	free_state(h);
	return rc;
}

/* Waits up to timeout_ms for h->active to reach 0; returns it. */
static int wait_idle(struct ingest_http *h, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += WAIT_STEP_MS) {
		if (atomic_load(&h->active) == 0)
			break;
		clock_sleep_ms(WAIT_STEP_MS);
	}
	return atomic_load(&h->active);
}

int ingest_server_drain(struct ingest_http *h, int timeout_ms)
{
	/* The listening socket is ours again; closed after the server. */
	h->quiesced = MHD_quiesce_daemon(h->d) != MHD_INVALID_SOCKET;
	return wait_idle(h, timeout_ms);
}

void ingest_server_stop(struct ingest_http *h, int timeout_ms)
{
	/* Every queued record gets its report (and its connection an answer)
	 * before the server goes away; the producer itself goes last, once
	 * no HTTP thread can reach it. */
	publisher_close(h->pub, timeout_ms);
	wait_idle(h, 1000);
	reaper_stop(&h->reaper);
	MHD_stop_daemon(h->d);
	publisher_free(h->pub);
	h->pub = NULL;
	if (h->quiesced)
		close(h->listen_fd);
	free_state(h);
}

bool ingest_server_fatal(const struct ingest_http *h)
{
	return publisher_fatal(h->pub);
}
