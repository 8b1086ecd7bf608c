/*
 * Kafka client construction shared by every binary: configuration from the
 * table plus the OTPFLOW_KAFKA_<PROPERTY> pass-through, the idempotent
 * producer, the consumer with manual offset store, librdkafka's log routed
 * through log.h, and the one place where Kafka errors are classified.
 */
#ifndef OTPFLOW_KAFKA_H
#define OTPFLOW_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/*
 * Converts a pass-through variable name to a librdkafka property:
 * "OTPFLOW_KAFKA_SECURITY_PROTOCOL" -> "security.protocol". Returns false
 * if name is not a pass-through variable or out is too small.
 */
bool kafka_property_name(const char *name, char *out, size_t out_size);

/*
 * A new librdkafka configuration: bootstrap servers from the table, every
 * OTPFLOW_KAFKA_* variable of the environment, then `overrides` (property,
 * value pairs ending with NULL; they win). Logs go to log.h. The caller
 * owns the result (hand it to rd_kafka_new, or rd_kafka_conf_destroy).
 * NULL with a message naming the variable on an invalid property.
 */
rd_kafka_conf_t *kafka_conf_new(const struct cfg *cfg,
				const char *const *overrides, char *errstr,
				size_t errstr_size);

/*
 * An idempotent producer (acks=all, enable.idempotence=true): every record
 * is either stored exactly once or reported failed in its delivery report.
 * dr_msg_cb may be NULL. Takes ownership of nothing; caller owns the
 * handle.
 */
rd_kafka_t *kafka_producer_new(const struct cfg *cfg,
			       void (*dr_msg_cb)(rd_kafka_t *rk,
						 const rd_kafka_message_t *rkm,
						 void *opaque),
			       void *opaque, const char *const *overrides,
			       char *errstr, size_t errstr_size);

/* librdkafka's rebalance callback (rd_kafka_conf_set_rebalance_cb). */
typedef void (*kafka_rebalance_fn)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
				   rd_kafka_topic_partition_list_t *parts,
				   void *opaque);

/*
 * A consumer in `group` that never stores offsets by itself: callers call
 * rd_kafka_offsets_store() once a record's effects are durable; stored
 * offsets are committed in the background. New groups start at the
 * earliest offset. Every consumer reports otpflow_consumer_lag_messages
 * (librdkafka statistics). rebalance may be NULL (librdkafka assigns by
 * itself); opaque is passed to it. Subscribes to the NULL-terminated
 * topics (NULL: the caller assigns partitions). Caller owns the handle (kafka_consumer_close).
 */
rd_kafka_t *kafka_consumer_new(const struct cfg *cfg, const char *group,
			       const char *const *topics,
			       const char *const *overrides,
			       kafka_rebalance_fn rebalance, void *opaque,
			       char *errstr, size_t errstr_size);

/*
 * Leaves the group, committing stored offsets, then destroys the handle;
 * the whole close is bounded by timeout_ms even when no broker answers:
 * a handle that could not close in time is left to the process exit (what
 * was not committed is redelivered after a restart). Call it on the way
 * out only.
 */
void kafka_consumer_close(rd_kafka_t *rk, int timeout_ms);

/*
 * Waits up to timeout_ms for queued records' delivery reports, purges what
 * is left (its reports say so), serves those reports and destroys the
 * handle. NULL-safe.
 */
void kafka_producer_close(rd_kafka_t *rk, int timeout_ms);

enum kafka_class {
	KAFKA_OK,
	KAFKA_RETRIABLE, /* transient: try again later, nothing lost */
	KAFKA_PERMANENT, /* this record/request cannot succeed */
	KAFKA_FATAL, /* the handle is unusable: flush, exit, restart */
};

/* Classifies an error of a handle (consults rd_kafka_fatal_error). */
enum kafka_class kafka_classify(rd_kafka_t *rk, rd_kafka_resp_err_t err);

/* Bounded wait for broker metadata; 0 when the cluster answered. */
int kafka_wait_ready(rd_kafka_t *rk, int timeout_ms, char *errstr,
		     size_t errstr_size);

#endif
