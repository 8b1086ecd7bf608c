/*
 * The otpflow events on Kafka (docs/api.md §2): the Avro schemas compiled in from
 * schemas/ (one .avsc per event), and their encoding in the Confluent wire format (0x00,
 * 4-byte big-endian schema id, Avro binary).
 *
 * Records are handled as jansson objects with the schema's field names:
 * timestamps are integers (ms since the epoch), bytes are base64 strings,
 * enums are their symbol, a nullable union is null or the value. This keeps
 * daemons, otpflowctl tail and tests on one representation.
 */
#ifndef OTPFLOW_EVENTS_H
#define OTPFLOW_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum events_type {
	EVENTS_SIGNUP_REQUESTED,
	EVENTS_OTP_ISSUED,
	EVENTS_SMS_SENT,
	EVENTS_SMS_DEAD_LETTER,
	EVENTS__COUNT
};

/* Schema texts, generated at build time from schemas/ (static storage). */
extern const char *const events_avsc[EVENTS__COUNT];

struct events;

/*
 * Parses and checks the compiled-in schemas. Without registry_url (NULL or
 * "") the fixed ids declared in schemas/ ("otpflow.schema_id") are used;
 * with it, each schema is registered under subject "<topic>-value"
 * (topics[type]) and the registry's id is used; unknown writer ids met
 * while decoding are then looked up there. Every registry call is bounded
 * by timeout_ms. Returns NULL with a message in errstr on failure; the
 * caller owns the result (events_destroy).
 */
struct events *events_new(const char *registry_url,
			  const char *const topics[EVENTS__COUNT],
			  long timeout_ms, char *errstr, size_t errstr_size);

/* events_new with the registry URL, timeout and topic names of cfg. */
struct events *events_from_config(const struct cfg *cfg, char *errstr,
				  size_t errstr_size);

void events_destroy(struct events *ev);

/* Record name, e.g. "OtpIssued" (static storage). */
const char *events_name(enum events_type type);

/* The id written in front of records of this type. */
int32_t events_schema_id(const struct events *ev, enum events_type type);

/*
 * Encodes obj as a framed record of the given type. On success *out is a
 * malloc'd buffer of *out_len bytes that the caller frees. Unknown or
 * missing fields and wrong JSON types are errors. Thread-safe.
 */
int events_encode(struct events *ev, enum events_type type, const json_t *obj,
		  void **out, size_t *out_len, char *errstr,
		  size_t errstr_size);

/*
 * Encodes obj as Avro binary (no framing) of the schema in schema_json, the
 * same way events_encode does. Used to check the encoder against avro-c
 * for schemas other than the events'. Same ownership as events_encode.
 */
int events_encode_raw(const char *schema_json, const json_t *obj, void **out,
		      size_t *out_len, char *errstr, size_t errstr_size);

/* events_decode: the record cannot be decoded now (its writer schema is
 * not fetched yet and the registry does not answer): try again later. */
#define EVENTS_RETRY_LATER (-2)

/*
 * Decodes a framed record of the given type (any compatible writer schema
 * version). On success (0) *out is a new reference owned by the caller.
 * Malformed input returns -1 with a reason in errstr; a record that cannot
 * be decoded now (registry unreachable or failing, schema cache full)
 * returns EVENTS_RETRY_LATER: it is not malformed. Never crashes.
 * Thread-safe.
 */
int events_decode(struct events *ev, enum events_type type, const void *data,
		  size_t len, json_t **out, char *errstr, size_t errstr_size);

/*
 * Decodes Avro binary (no framing) written with writer_json into the shape
 * of reader_json, applying Avro schema resolution. Used for schema
 * evolution checks. Same ownership as events_decode.
 */
int events_decode_resolved(const char *writer_json, const char *reader_json,
			   const void *data, size_t len, json_t **out,
			   char *errstr, size_t errstr_size);

#endif
