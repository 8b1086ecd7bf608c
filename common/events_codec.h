/*
 * Inside the events module (events*.c only; nothing else includes this):
 * the state behind struct events and the parts it is made of.
 *
 *   events.c          the module: compiled-in schemas, ids, the public API
 *   events_write.c    JSON -> Avro binary (the writer)
 *   events_frame.c    Confluent framing and the structural check of Avro
 *                     binary before avro-c reads it
 *   events_read.c     Avro binary -> JSON (the reader, through avro-c)
 *   events_resolve.c  schema resolution of other writer versions, and the
 *                     cache of writer schemas fetched from the registry
 */
#ifndef OTPFLOW_EVENTS_CODEC_H
#define OTPFLOW_EVENTS_CODEC_H

#include <avro.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

#define EVENTS_FRAME_HEADER 5 /* 0x00 + 4-byte big-endian schema id */
/* Writer schemas of other versions cached; the least recently used one is
 * evicted. */
#define EVENTS_MAX_WRITERS 32
/* Earlier versions kept in schemas/previous/. */
#define EVENTS_MAX_PREVIOUS 16

/* A parsed schema, its avro-c value class (for reading) and its id. */
struct events_codec {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	int32_t id;
};

/* A writer schema version other than ours: fetched from the registry, or
 * an earlier version of schemas/previous/. */
struct events_writer {
	int32_t id;
	enum events_type type;
	struct events_codec codec;
	uint64_t used; /* ev->clock at the last use */
};

struct events {
	struct events_codec codecs[EVENTS__COUNT];
	json_t *reader_json[EVENTS__COUNT]; /* parsed schemas, for resolution */
	char *registry_url;
	long timeout_ms;
	pthread_mutex_t lock; /* guards writers[] and clock */
	struct events_writer writers[EVENTS_MAX_WRITERS];
	int nwriters;
	uint64_t clock; /* ticks at every use of a cached writer */
	/* Earlier versions with fixed ids (schemas/previous/), only without
	 * a registry; read-only after events_new. */
	struct events_writer previous[EVENTS_MAX_PREVIOUS];
	int nprevious;
};

/* Parses a schema into c; -1 with errstr. The caller frees c either way. */
int events_codec_init(struct events_codec *c, const char *json, char *errstr,
		      size_t errstr_size);

/* Frees what c holds (NULL members allowed). */
void events_codec_free(struct events_codec *c);

/*
 * Writes header_len zero bytes (room for a frame header) and then obj as
 * Avro binary of schema. On success *out is malloc'd, owned by the caller.
 */
int events_write(avro_schema_t schema, size_t header_len, const json_t *obj,
		 unsigned char **out, size_t *out_len, char *errstr,
		 size_t errstr_size);

/* Writes the frame header of schema id into buf[0..EVENTS_FRAME_HEADER). */
void events_frame_put(unsigned char *buf, int32_t id);

/* Reads the frame header: false (with errstr) if data is not framed. */
bool events_frame_get(const void *data, size_t len, int32_t *id, char *errstr,
		      size_t errstr_size);

/*
 * True if data[0..len) is exactly one value of schema s: every length and
 * count fits in the buffer. No allocation, bounded depth.
 */
bool events_avro_valid(avro_schema_t s, const void *data, size_t len);

/*
 * Reads one record of the codec's schema from Avro binary (unframed) into
 * JSON. Malformed input: -1 with errstr. *out is owned by the caller.
 */
int events_read(const struct events_codec *c, const void *data, size_t len,
		json_t **out, char *errstr, size_t errstr_size);

/*
 * Maps value (the JSON form of a record of another writer version) onto
 * the reader schema type (parsed JSON): reader defaults for absent fields.
 * path names the value in messages. A new reference, or NULL with errstr.
 */
json_t *events_resolve(const json_t *type, json_t *value, const char *path,
		       char *errstr, size_t errstr_size);

/*
 * Decodes the unframed Avro data of a record written with writer schema id
 * (not ours) into the reader shape of type, fetching the writer schema from
 * the registry if needed. Same results as events_decode (EVENTS_RETRY_LATER
 * included).
 */
int events_decode_foreign(struct events *ev, enum events_type type, int32_t id,
			  const void *data, size_t len, json_t **out,
			  char *errstr, size_t errstr_size);

#endif
