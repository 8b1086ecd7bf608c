/*
 * The signup request state machine (see request.h): body reading with its
 * cap, validation, the record's encoding and its Kafka round trip.
 */
#include "request.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "prechecks.h"
#include "publish.h"
#include "reaper.h"
#include "reply.h"

/* Bodies up to this size (a signup is typically 30-300 bytes) stay in the
 * request itself; only larger ones get a buffer of OTPFLOW_MAX_BODY_BYTES. */
#define SMALL_BODY 512

enum state {
	ST_READING, /* receiving the body */
	ST_IN_FLIGHT, /* record queued, connection suspended */
	ST_DELIVERED, /* delivery report arrived, connection resumed */
};

struct request {
	struct ingest_http *h;
	long long submitted_ns;
	struct MHD_Connection *conn;
	enum state state;
	enum signup_route route;
	bool prechecked; /* the checks before the body passed */
	char ip[CLIENTIP_SIZE]; /* the client (socket peer or proxy hop) */
	bool too_large;
	char *body; /* small, or malloc'd when the body outgrew it */
	size_t len;
	rd_kafka_resp_err_t kafka_err;
	char small[SMALL_BODY];
};

static const double accept_buckets[] = { 0.001, 0.0025, 0.005, 0.01,
					 0.025, 0.05,	0.1,   0.25,
					 0.5,	1,	2.5,   5 };

static struct {
	struct metric *accept; /* body received -> delivery report */
	struct metric *in_flight;
} m;

void request_metrics_init(void)
{
	m.accept = metrics_histogram(
		"otpflow_ingest_accept_seconds",
		"Time from a valid request to Kafka's delivery report.",
		accept_buckets,
		sizeof(accept_buckets) / sizeof(*accept_buckets));
	m.in_flight = metrics_gauge("otpflow_ingest_in_flight_requests",
				    "Requests waiting for Kafka to confirm.");
}

struct request *request_new(struct ingest_http *h, struct MHD_Connection *conn,
			    enum signup_route route)
{
	struct request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->h = h;
	req->conn = conn;
	req->route = route;
	precheck_client_ip(h, conn, req->ip);
	atomic_fetch_add(&h->active, 1);
	return req;
}

void request_free(struct request *req)
{
	struct ingest_http *h = req->h;

	if (req->body != req->small)
		free(req->body);
	free(req);
	atomic_fetch_sub(&h->active, 1);
}

/* The checks before the body, once. */
static bool prechecked(struct request *req, enum MHD_Result *ret)
{
	if (!req->prechecked &&
	    precheck_run(req->h, req->conn, req->route, req->ip, ret))
		req->prechecked = true;
	return req->prechecked;
}

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

	if (signup_validate_route(&h->policy, req->route,
				  req->body ? req->body : "", req->len, &rec,
				  &error))
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
	reaper_disarm(req->conn);
	req->state = ST_IN_FLIGHT;
	req->submitted_ns = clock_mono_ns();
	metrics_add(m.in_flight, 1);
	err = publisher_send(
		h->pub, h->topic,
		json_string_value(json_object_get(rec, "phone_e164")), value,
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

void request_delivered(void *opaque, rd_kafka_resp_err_t err)
{
	struct request *req = opaque;

	req->kafka_err = err;
	req->state = ST_DELIVERED;
	metrics_add(m.in_flight, -1);
	if (!err)
		metrics_observe(m.accept,
				clock_seconds_since(req->submitted_ns));
	MHD_resume_connection(req->conn);
}

static enum MHD_Result answer_delivered(struct request *req)
{
	if (req->kafka_err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return reply_shared_ok(req->conn, req->h->ok);
	LOG(LOG_WARN, "request not stored", "error",
	    rd_kafka_err2name(req->kafka_err));
	return reply_error(req->conn, API_ERR_INTERNAL_SERVER_ERROR, 503,
			   "The request could not be stored; retry later",
			   MHD_HTTP_HEADER_RETRY_AFTER, "1");
}

/* First call: the declared length against the cap, then the checks
 * before the body when the length is known. */
static enum MHD_Result on_headers(struct request *req)
{
	enum MHD_Result ret = MHD_YES;
	const char *cl = MHD_lookup_connection_value(
		req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;
	char *end;

	if (!cl)
		return MHD_YES;
	n = strtoull(cl, &end, 10);
	if (*end || n > req->h->max_body)
		return reply_error(req->conn, API_ERR_INVALID_REQUEST, 413,
				   "Request body too large", NULL, NULL);
	/* Length known: the checks before the body need no body. */
	if (!prechecked(req, &ret))
		return ret;
	return MHD_YES;
}

/* One upload call: n more bytes, kept up to the cap. */
static enum MHD_Result on_upload(struct request *req, const char *data,
				 size_t n)
{
	if (req->too_large || req->len + n > req->h->max_body) {
		/* Chunked body over the cap: keep nothing more. */
		req->too_large = true;
		return MHD_YES;
	}
	if (!req->body)
		req->body = req->small;
	if (req->body == req->small && req->len + n > sizeof(req->small)) {
		char *big = malloc(req->h->max_body);

		if (!big)
			return MHD_NO;
		memcpy(big, req->small, req->len);
		req->body = big;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	return MHD_YES;
}

enum MHD_Result request_handle(struct request *req, const char *upload_data,
			       size_t *upload_data_size, bool first)
{
	enum MHD_Result ret = MHD_YES;
	size_t n;

	if (req->state == ST_DELIVERED)
		return answer_delivered(req);
	if (first)
		return on_headers(req);
	if (*upload_data_size > 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		return on_upload(req, upload_data, n);
	}
	if (req->too_large)
		return reply_error(req->conn, API_ERR_INVALID_REQUEST, 413,
				   "Request body too large", NULL, NULL);
	if (!prechecked(req, &ret))
		return ret;
	return submit(req);
}
