/*
 * Kafka record headers: every header name otpflow writes or reads, the
 * readers for them, and the Spring Kafka binary encodings that the retry
 * and dead-letter headers use, so that existing tools understand them
 * (retry_topic-attempts: 4-byte big-endian int; retry_topic-backoff-
 * timestamp: big-endian two's complement of the epoch milliseconds, as
 * Java's BigInteger.toByteArray; kafka_dlt-original-partition: 4-byte int;
 * kafka_dlt-original-offset: 8-byte long). docs/api.md §2.3 lists them.
 */
#ifndef OTPFLOW_HEADERS_H
#define OTPFLOW_HEADERS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* On every record. */
#define HDR_REQUEST_ID "request-id"
#define HDR_TRACEPARENT "traceparent"
/* OtpIssued: when ingest received the request (end-to-end latency). */
#define HDR_RECEIVED_AT "received-at"
/* Retries (Spring Kafka names). */
#define HDR_RETRY_ATTEMPTS "retry_topic-attempts"
#define HDR_RETRY_BACKOFF "retry_topic-backoff-timestamp"
#define HDR_FIRST_ATTEMPT "otpflow-first-attempt-at"
/* Dead letters (Spring Kafka names). */
#define HDR_DLT_TOPIC "kafka_dlt-original-topic"
#define HDR_DLT_PARTITION "kafka_dlt-original-partition"
#define HDR_DLT_OFFSET "kafka_dlt-original-offset"
#define HDR_DLT_MESSAGE "kafka_dlt-exception-message"
/* Replays (otpflowctl replay). */
#define HDR_REPLAY_OF "x-replay-of"
#define HDR_REPLAY_COUNT "x-replay-count"

/*
 * The value of the last header called name, or NULL when there is none;
 * *len gets its length. Points into rkm (valid while rkm is).
 */
const void *hdr_get(const rd_kafka_message_t *rkm, const char *name,
		    size_t *len);

/*
 * Copies a text header into out (size bytes with the NUL). Returns false,
 * with out = "", when it is absent, too long or holds a NUL byte.
 */
bool hdr_str(const rd_kafka_message_t *rkm, const char *name, char *out,
	     size_t size);

/* A header of decimal epoch milliseconds; 0 when absent or not a number. */
int64_t hdr_ms(const rd_kafka_message_t *rkm, const char *name);

/* Adds a text header (value copied). */
void hdr_add_str(rd_kafka_headers_t *hdrs, const char *name, const char *value);

/* Adds a header of decimal text for n (the form hdr_ms reads). */
void hdr_add_ms(rd_kafka_headers_t *hdrs, const char *name, int64_t n);

/* Spring encodings. Encoders return the bytes written. */
size_t hdr_int32(int32_t v, unsigned char out[4]);
size_t hdr_int64(int64_t v, unsigned char out[8]);
size_t hdr_bigint(int64_t v, unsigned char out[8]);

/*
 * Decoders: attempts accept 4 bytes (Spring), 1 byte (old Spring) or ASCII
 * digits; timestamps accept BigInteger bytes or ASCII digits (>= 10 of
 * them). -1 on anything else.
 */
int hdr_parse_attempts(const void *v, size_t len);
int64_t hdr_parse_timestamp(const void *v, size_t len);

#endif
