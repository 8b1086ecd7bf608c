/*
 * Avro encoding of otpflow events, bridged to jansson objects: records are
 * written straight from JSON to Avro binary by walking the schema, and read
 * with avro-c. Owns: the parsed reader schemas and their generic value
 * classes (for reading), the schema ids in use, and a small cache of other
 * writer schema versions (looked up in the schema registry by id).
 *
 * Schema resolution (reading a record written with another version) is
 * done here on the JSON form, not by avro-c: avro-c 1.11's resolver does
 * not support reader defaults ("Reader field X doesn't appear in writer"),
 * which BACKWARD evolution needs. A foreign record is decoded with its
 * own writer schema, then mapped onto the reader schema by resolve().
 */
#include "events.h"

#include <avro.h>
#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#define FRAME_HEADER 5
#define MAX_FOREIGN 32

struct codec {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	int32_t id;
};

/* A writer schema version other than ours (fetched from the registry). */
struct foreign {
	int32_t id;
	enum events_type type;
	struct codec writer;
};

struct events {
	struct codec codecs[EVENTS__COUNT];
	json_t *reader_json[EVENTS__COUNT]; /* parsed schemas, for resolution */
	char *registry_url;
	long timeout_ms;
	pthread_mutex_t lock; /* guards foreign[] */
	struct foreign foreign[MAX_FOREIGN];
	int nforeign;
};

static const char *const event_names[EVENTS__COUNT] = { "SignupRequested",
							"OtpIssued", "SmsSent",
							"SmsDeadLetter" };

const char *events_name(enum events_type type)
{
	return event_names[type];
}

int32_t events_schema_id(const struct events *ev, enum events_type type)
{
	return ev->codecs[type].id;
}

/* --- JSON -> Avro ------------------------------------------------------ */

/*
 * Records are written straight from the jansson object to Avro binary by
 * walking the parsed schema, without avro-c's generic value: building one
 * per record (allocations, reference counts, a formatted field path per
 * field) was most of the cost of encoding, and ingest encodes every request.
 * The bytes are the ones avro-c writes for the same value (one block per
 * array or map, then 0), which tests/unit/test_events.c checks with avro-c
 * itself for every schema and every Avro type.
 */

/* Largest record the encoder writes (Kafka refuses far smaller ones). */
#define ENCODE_MAX_BYTES (64u << 20)
#define ENCODE_INITIAL_BYTES 512
#define PATH_TEXT_SIZE 256

/* The record being written; buf grows by doubling up to ENCODE_MAX_BYTES. */
struct enc {
	unsigned char *buf;
	size_t len, cap;
	char *errstr;
	size_t errstr_size;
};

/* The field path of a value ("otp.otp_id"), turned into text only for an
 * error message. The root record has no path (NULL). */
struct path {
	const struct path *up;
	const char *name;
};

static const char *path_text(const struct path *p, char out[PATH_TEXT_SIZE])
{
	size_t n;

	out[0] = '\0';
	if (!p)
		return out;
	path_text(p->up, out);
	n = strlen(out);
	snprintf(out + n, PATH_TEXT_SIZE - n, "%s%s", n ? "." : "", p->name);
	return out;
}

static int enc_reserve(struct enc *e, size_t n)
{
	size_t cap = e->cap;
	unsigned char *grown;

	if (n <= e->cap - e->len)
		return 0;
	if (n > ENCODE_MAX_BYTES - e->len) {
		snprintf(e->errstr, e->errstr_size,
			 "record larger than %u bytes", ENCODE_MAX_BYTES);
		return -1;
	}
	while (cap - e->len < n)
		cap *= 2;
	if (cap > ENCODE_MAX_BYTES)
		cap = ENCODE_MAX_BYTES;
	grown = realloc(e->buf, cap);
	if (!grown) {
		snprintf(e->errstr, e->errstr_size, "out of memory");
		return -1;
	}
	e->buf = grown;
	e->cap = cap;
	return 0;
}

/* int and long: zig-zag, then 7 bits a byte, low bits first. */
static int put_long(struct enc *e, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	if (enc_reserve(e, 10))
		return -1;
	while (z >= 0x80) {
		e->buf[e->len++] = (unsigned char)(z | 0x80);
		z >>= 7;
	}
	e->buf[e->len++] = (unsigned char)z;
	return 0;
}

/* string and bytes: the length, then the bytes. */
static int put_bytes(struct enc *e, const void *p, size_t n)
{
	if (put_long(e, (int64_t)n) || enc_reserve(e, n))
		return -1;
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	return 0;
}

/* float and double: IEEE 754 bits, little-endian. */
static int put_le(struct enc *e, uint64_t bits, size_t n)
{
	if (enc_reserve(e, n))
		return -1;
	for (size_t i = 0; i < n; i++)
		e->buf[e->len++] = (unsigned char)(bits >> (8 * i));
	return 0;
}

static bool branch_accepts(avro_type_t t, const json_t *j)
{
	switch (t) {
	case AVRO_NULL:
		return json_is_null(j);
	case AVRO_STRING:
	case AVRO_BYTES:
	case AVRO_ENUM:
	case AVRO_FIXED:
		return json_is_string(j);
	case AVRO_INT32:
	case AVRO_INT64:
		return json_is_integer(j);
	case AVRO_FLOAT:
	case AVRO_DOUBLE:
		return json_is_number(j);
	case AVRO_BOOLEAN:
		return json_is_boolean(j);
	case AVRO_RECORD:
	case AVRO_MAP:
		return json_is_object(j);
	case AVRO_ARRAY:
		return json_is_array(j);
	default:
		return false;
	}
}

static int write_value(struct enc *e, avro_schema_t s, const json_t *j,
		       const struct path *p);

static int write_record(struct enc *e, avro_schema_t s, const json_t *j,
			const struct path *p)
{
	size_t n = avro_schema_record_size(s), matched = 0;
	char text[PATH_TEXT_SIZE];

	if (!json_is_object(j)) {
		snprintf(e->errstr, e->errstr_size, "%s: expected an object",
			 path_text(p, text));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		avro_schema_t fs =
			avro_schema_record_field_get_by_index(s, (int)i);
		struct path sub = { p,
				    avro_schema_record_field_name(s, (int)i) };
		const json_t *jc = json_object_get(j, sub.name);

		if (is_avro_link(fs))
			fs = avro_schema_link_target(fs);
		if (jc) {
			matched++;
		} else if (is_avro_union(fs)) {
			jc = json_null(); /* absent optional field */
		} else {
			snprintf(e->errstr, e->errstr_size, "missing field %s",
				 path_text(&sub, text));
			return -1;
		}
		if (write_value(e, fs, jc, &sub))
			return -1;
	}
	if (matched != json_object_size(j)) {
		const char *key;
		const json_t *val;

		json_object_foreach((json_t *)j, key, val)
		{
			struct path sub = { p, key };

			if (avro_schema_record_field_get_index(s, key) < 0) {
				snprintf(e->errstr, e->errstr_size,
					 "unknown field %s",
					 path_text(&sub, text));
				return -1;
			}
		}
	}
	return 0;
}

static int write_value(struct enc *e, avro_schema_t s, const json_t *j,
		       const struct path *p)
{
	char text[PATH_TEXT_SIZE];
	avro_type_t t;

	if (is_avro_link(s))
		s = avro_schema_link_target(s);
	t = avro_typeof(s);
	if (t != AVRO_UNION && t != AVRO_RECORD && !branch_accepts(t, j)) {
		snprintf(e->errstr, e->errstr_size, "%s: wrong JSON type",
			 path_text(p, text));
		return -1;
	}
	switch (t) {
	case AVRO_NULL:
		return 0;
	case AVRO_BOOLEAN:
		return put_le(e, json_is_true(j) ? 1 : 0, 1);
	case AVRO_STRING:
		return put_bytes(e, json_string_value(j),
				 json_string_length(j));
	case AVRO_BYTES: {
		const char *b64 = json_string_value(j);
		size_t cap = json_string_length(j), len = 0;
		unsigned char *bin = malloc(cap + 1);
		int rc;

		if (!bin) {
			snprintf(e->errstr, e->errstr_size, "out of memory");
			return -1;
		}
		if (sodium_base642bin(bin, cap + 1, b64, cap, NULL, &len, NULL,
				      sodium_base64_VARIANT_ORIGINAL)) {
			free(bin);
			snprintf(e->errstr, e->errstr_size,
				 "%s: invalid base64", path_text(p, text));
			return -1;
		}
		rc = put_bytes(e, bin, len);
		free(bin);
		return rc;
	}
	case AVRO_INT32: {
		json_int_t n = json_integer_value(j);

		if (n < INT32_MIN || n > INT32_MAX) {
			snprintf(e->errstr, e->errstr_size, "%s: out of range",
				 path_text(p, text));
			return -1;
		}
		return put_long(e, n);
	}
	case AVRO_INT64:
		return put_long(e, json_integer_value(j));
	case AVRO_FLOAT: {
		float f = (float)json_number_value(j);
		uint32_t bits;

		memcpy(&bits, &f, sizeof(bits));
		return put_le(e, bits, sizeof(bits));
	}
	case AVRO_DOUBLE: {
		double d = json_number_value(j);
		uint64_t bits;

		memcpy(&bits, &d, sizeof(bits));
		return put_le(e, bits, sizeof(bits));
	}
	case AVRO_ENUM: {
		int sym = avro_schema_enum_get_by_name(s, json_string_value(j));

		if (sym < 0) {
			snprintf(e->errstr, e->errstr_size,
				 "%s: unknown symbol", path_text(p, text));
			return -1;
		}
		return put_long(e, sym);
	}
	case AVRO_ARRAY: {
		size_t n = json_array_size(j);

		if (n && put_long(e, (int64_t)n))
			return -1;
		for (size_t i = 0; i < n; i++)
			if (write_value(e, avro_schema_array_items(s),
					json_array_get(j, i), p))
				return -1;
		return put_long(e, 0);
	}
	case AVRO_MAP: {
		const char *key;
		json_t *val;

		if (json_object_size(j) &&
		    put_long(e, (int64_t)json_object_size(j)))
			return -1;
		json_object_foreach((json_t *)j, key, val)
		{
			if (put_bytes(e, key, strlen(key)) ||
			    write_value(e, avro_schema_map_values(s), val, p))
				return -1;
		}
		return put_long(e, 0);
	}
	case AVRO_RECORD:
		return write_record(e, s, j, p);
	case AVRO_UNION: {
		size_t n = avro_schema_union_size(s);

		for (size_t i = 0; i < n; i++) {
			avro_schema_t b = avro_schema_union_branch(s, (int)i);

			if (!branch_accepts(avro_typeof(b), j))
				continue;
			if (put_long(e, (int64_t)i))
				return -1;
			return write_value(e, b, j, p);
		}
		snprintf(e->errstr, e->errstr_size, "%s: no union branch fits",
			 path_text(p, text));
		return -1;
	}
	default:
		snprintf(e->errstr, e->errstr_size, "%s: unsupported Avro type",
			 path_text(p, text));
		return -1;
	}
}

/*
 * Writes header_len zero bytes (room for a frame header) and then obj as
 * Avro binary of schema. On success *out is malloc'd, owned by the caller.
 */
static int encode(avro_schema_t schema, size_t header_len, const json_t *obj,
		  unsigned char **out, size_t *out_len, char *errstr,
		  size_t errstr_size)
{
	struct enc e = { .errstr = errstr, .errstr_size = errstr_size };

	e.buf = malloc(ENCODE_INITIAL_BYTES);
	if (!e.buf) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	e.cap = ENCODE_INITIAL_BYTES;
	memset(e.buf, 0, header_len);
	e.len = header_len;
	if (write_value(&e, schema, obj, NULL)) {
		free(e.buf);
		return -1;
	}
	*out = e.buf;
	*out_len = e.len;
	return 0;
}

/* --- Avro -> JSON ------------------------------------------------------ */

static json_t *to_json(avro_value_t *v, char *errstr, size_t errstr_size)
{
	avro_schema_t schema = avro_value_get_schema(v);

	switch (avro_value_get_type(v)) {
	case AVRO_NULL:
		return json_null();
	case AVRO_STRING: {
		const char *s = "";
		size_t size = 0;
		json_t *j;

		avro_value_get_string(v, &s, &size);
		j = json_stringn(s, size ? size - 1 : 0);
		if (!j)
			snprintf(errstr, errstr_size,
				 "string is not valid UTF-8");
		return j;
	}
	case AVRO_BYTES: {
		const void *p = NULL;
		size_t len = 0;
		size_t cap;
		char *b64;
		json_t *j;

		avro_value_get_bytes(v, &p, &len);
		cap = sodium_base64_encoded_len(len,
						sodium_base64_VARIANT_ORIGINAL);
		b64 = malloc(cap);
		if (!b64)
			return NULL;
		sodium_bin2base64(b64, cap, p, len,
				  sodium_base64_VARIANT_ORIGINAL);
		j = json_string(b64);
		free(b64);
		return j;
	}
	case AVRO_INT32: {
		int32_t n = 0;
		avro_value_get_int(v, &n);
		return json_integer(n);
	}
	case AVRO_INT64: {
		int64_t n = 0;
		avro_value_get_long(v, &n);
		return json_integer(n);
	}
	case AVRO_FLOAT: {
		float f = 0;
		avro_value_get_float(v, &f);
		return json_real(f);
	}
	case AVRO_DOUBLE: {
		double d = 0;
		avro_value_get_double(v, &d);
		return json_real(d);
	}
	case AVRO_BOOLEAN: {
		int b = 0;
		avro_value_get_boolean(v, &b);
		return json_boolean(b);
	}
	case AVRO_ENUM: {
		int sym = -1;
		const char *name;

		avro_value_get_enum(v, &sym);
		name = avro_schema_enum_get(schema, sym);
		if (!name) {
			snprintf(errstr, errstr_size, "enum symbol %d unknown",
				 sym);
			return NULL;
		}
		return json_string(name);
	}
	case AVRO_UNION: {
		avro_value_t branch;
		if (avro_value_get_current_branch(v, &branch)) {
			snprintf(errstr, errstr_size, "union without branch");
			return NULL;
		}
		return to_json(&branch, errstr, errstr_size);
	}
	case AVRO_ARRAY:
	case AVRO_MAP:
	case AVRO_RECORD: {
		bool array = avro_value_get_type(v) == AVRO_ARRAY;
		json_t *out = array ? json_array() : json_object();
		size_t n = 0;

		avro_value_get_size(v, &n);
		for (size_t i = 0; out && i < n; i++) {
			avro_value_t child;
			const char *name = NULL;
			json_t *jc;

			avro_value_get_by_index(v, i, &child, &name);
			jc = to_json(&child, errstr, errstr_size);
			if (!jc ||
			    (array ? json_array_append_new(out, jc) :
				     json_object_set_new(out, name, jc))) {
				json_decref(out);
				return NULL;
			}
		}
		return out;
	}
	default:
		snprintf(errstr, errstr_size, "unsupported Avro type");
		return NULL;
	}
}

/* --- Schemas ----------------------------------------------------------- */

static int32_t declared_id(const char *avsc)
{
	json_t *root = json_loads(avsc, 0, NULL);
	json_t *id = json_object_get(root, "otpflow.schema_id");
	int32_t out = json_is_integer(id) ? (int32_t)json_integer_value(id) :
					    -1;

	json_decref(root);
	return out;
}

static int codec_init(struct codec *c, const char *json, char *errstr,
		      size_t errstr_size)
{
	if (avro_schema_from_json_length(json, strlen(json), &c->schema)) {
		snprintf(errstr, errstr_size, "%s", avro_strerror());
		return -1;
	}
	c->iface = avro_generic_class_from_schema(c->schema);
	if (!c->iface) {
		snprintf(errstr, errstr_size, "%s", avro_strerror());
		return -1;
	}
	return 0;
}

static void codec_free(struct codec *c)
{
	if (c->iface)
		avro_value_iface_decref(c->iface);
	if (c->schema)
		avro_schema_decref(c->schema);
}

struct events *events_new(const char *registry_url,
			  const char *const topics[EVENTS__COUNT],
			  long timeout_ms, char *errstr, size_t errstr_size)
{
	struct events *ev = calloc(1, sizeof(*ev));
	char why[256];

	if (!ev || sodium_init() < 0) {
		snprintf(errstr, errstr_size, "out of memory");
		free(ev);
		return NULL;
	}
	pthread_mutex_init(&ev->lock, NULL);
	ev->timeout_ms = timeout_ms;
	for (int t = 0; t < EVENTS__COUNT; t++) {
		struct codec *c = &ev->codecs[t];

		if (codec_init(c, events_avsc[t], why, sizeof(why))) {
			snprintf(errstr, errstr_size,
				 "schemas/%s.avsc does not parse: %s",
				 event_names[t], why);
			goto fail;
		}
		if (strcmp(avro_schema_name(c->schema), event_names[t]) != 0) {
			snprintf(errstr, errstr_size,
				 "schemas/%s.avsc defines record %s",
				 event_names[t], avro_schema_name(c->schema));
			goto fail;
		}
		ev->reader_json[t] = json_loads(events_avsc[t], 0, NULL);
		c->id = declared_id(events_avsc[t]);
		if (c->id <= 0) {
			snprintf(errstr, errstr_size,
				 "schemas/%s.avsc lacks a positive "
				 "\"otpflow.schema_id\"",
				 event_names[t]);
			goto fail;
		}
	}
	if (registry_url && *registry_url) {
		ev->registry_url = strdup(registry_url);
		for (int t = 0; t < EVENTS__COUNT; t++) {
			char subject[512];

			snprintf(subject, sizeof(subject), "%s-value",
				 topics[t]);
			if (registry_register(registry_url, subject,
					      events_avsc[t], timeout_ms,
					      &ev->codecs[t].id, why,
					      sizeof(why))) {
				snprintf(errstr, errstr_size,
					 "schema registry: registering %s: %s",
					 subject, why);
				goto fail;
			}
		}
	}
	return ev;
fail:
	events_destroy(ev);
	return NULL;
}

struct events *events_from_config(const struct cfg *cfg, char *errstr,
				  size_t errstr_size)
{
	const char *topics[EVENTS__COUNT] = {
		[EVENTS_SIGNUP_REQUESTED] =
			cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_REQUESTS),
		[EVENTS_OTP_ISSUED] = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_OTP),
		[EVENTS_SMS_SENT] = cfg_str(cfg, CFG_OTPFLOW_TOPIC_SMS_SENT),
		[EVENTS_SMS_DEAD_LETTER] =
			cfg_str(cfg, CFG_OTPFLOW_TOPIC_DEAD_LETTER),
	};

	return events_new(cfg_str(cfg, CFG_OTPFLOW_SCHEMA_REGISTRY_URL), topics,
			  cfg_ms(cfg, CFG_OTPFLOW_SCHEMA_REGISTRY_TIMEOUT),
			  errstr, errstr_size);
}

void events_destroy(struct events *ev)
{
	if (!ev)
		return;
	for (int t = 0; t < EVENTS__COUNT; t++)
		codec_free(&ev->codecs[t]);
	for (int t = 0; t < EVENTS__COUNT; t++)
		json_decref(ev->reader_json[t]);
	for (int i = 0; i < ev->nforeign; i++)
		codec_free(&ev->foreign[i].writer);
	pthread_mutex_destroy(&ev->lock);
	free(ev->registry_url);
	free(ev);
}

/* --- Encode / decode --------------------------------------------------- */

int events_encode(struct events *ev, enum events_type type, const json_t *obj,
		  void **out, size_t *out_len, char *errstr, size_t errstr_size)
{
	const struct codec *c = &ev->codecs[type];
	unsigned char *buf;
	size_t len;

	if (encode(c->schema, FRAME_HEADER, obj, &buf, &len, errstr,
		   errstr_size))
		return -1;
	buf[0] = 0;
	buf[1] = (unsigned char)(c->id >> 24);
	buf[2] = (unsigned char)(c->id >> 16);
	buf[3] = (unsigned char)(c->id >> 8);
	buf[4] = (unsigned char)c->id;
	*out = buf;
	*out_len = len;
	return 0;
}

int events_encode_raw(const char *schema_json, const json_t *obj, void **out,
		      size_t *out_len, char *errstr, size_t errstr_size)
{
	avro_schema_t schema;
	unsigned char *buf;
	int rc;

	if (avro_schema_from_json_length(schema_json, strlen(schema_json),
					 &schema)) {
		snprintf(errstr, errstr_size, "%s", avro_strerror());
		return -1;
	}
	rc = encode(schema, 0, obj, &buf, out_len, errstr, errstr_size);
	if (!rc)
		*out = buf;
	avro_schema_decref(schema);
	return rc;
}

/*
 * Structural check of Avro binary against a schema before avro-c reads
 * it: every length and count must fit in what is left of the buffer.
 * avro-c 1.11 leaks the buffer of a string or bytes value whose read fails
 * part-way, so malformed input must never reach it; this walk (no
 * allocation, bounded depth) makes sure avro_value_read cannot fail.
 */
#define VALIDATE_MAX_DEPTH 32

static bool read_long(const unsigned char **p, const unsigned char *end,
		      int64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return false;
		v |= (uint64_t)(**p & 0x7F) << shift;
		if (!(*(*p)++ & 0x80)) {
			*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			return true;
		}
	}
	return false;
}

static bool skip_bytes(const unsigned char **p, const unsigned char *end)
{
	int64_t n;

	if (!read_long(p, end, &n) || n < 0 || n > end - *p)
		return false;
	*p += n;
	return true;
}

static bool bin_valid(avro_schema_t s, const unsigned char **p,
		      const unsigned char *end, int depth)
{
	int64_t n;

	if (depth > VALIDATE_MAX_DEPTH)
		return false;
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return true;
	case AVRO_BOOLEAN:
		if (*p >= end || **p > 1)
			return false;
		(*p)++;
		return true;
	case AVRO_INT32:
	case AVRO_INT64:
		return read_long(p, end, &n);
	case AVRO_FLOAT:
	case AVRO_DOUBLE: {
		int64_t size = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;
		if (end - *p < size)
			return false;
		*p += size;
		return true;
	}
	case AVRO_STRING:
	case AVRO_BYTES:
		return skip_bytes(p, end);
	case AVRO_FIXED:
		n = avro_schema_fixed_size(s);
		if (n < 0 || n > end - *p)
			return false;
		*p += n;
		return true;
	case AVRO_ENUM:
		return read_long(p, end, &n) && n >= 0 &&
		       n < avro_schema_enum_number_of_symbols(s);
	case AVRO_UNION:
		return read_long(p, end, &n) && n >= 0 &&
		       (size_t)n < avro_schema_union_size(s) &&
		       bin_valid(avro_schema_union_branch(s, (int)n), p, end,
				 depth + 1);
	case AVRO_RECORD:
		for (size_t i = 0; i < avro_schema_record_size(s); i++)
			if (!bin_valid(avro_schema_record_field_get_by_index(
					       s, (int)i),
				       p, end, depth + 1))
				return false;
		return true;
	case AVRO_ARRAY:
	case AVRO_MAP:
		/* Blocks of items; a negative count is followed by a size. */
		for (;;) {
			if (!read_long(p, end, &n))
				return false;
			if (n == 0)
				return true;
			if (n < 0) {
				int64_t size;
				if (n == INT64_MIN || !read_long(p, end, &size))
					return false;
				n = -n;
			}
			/* Every item takes at least one byte but null. */
			if (n > end - *p + 1)
				return false;
			for (int64_t i = 0; i < n; i++) {
				if (avro_typeof(s) == AVRO_MAP &&
				    !skip_bytes(p, end))
					return false;
				if (!bin_valid(
					    avro_typeof(s) == AVRO_MAP ?
						    avro_schema_map_values(s) :
						    avro_schema_array_items(s),
					    p, end, depth + 1))
					return false;
			}
		}
	case AVRO_LINK:
		return bin_valid(avro_schema_link_target(s), p, end, depth + 1);
	default:
		return false;
	}
}

/* Reads one record of the codec's schema from Avro binary into JSON. */
static int read_value(const struct codec *c, const void *data, size_t len,
		      json_t **out, char *errstr, size_t errstr_size)
{
	avro_value_t v;
	avro_reader_t r;
	int rc = -1;

	{
		const unsigned char *p = data, *end = p + len;
		if (!bin_valid(c->schema, &p, end, 0) || p != end) {
			snprintf(errstr, errstr_size,
				 "malformed Avro: does not match %s "
				 "(or has trailing bytes)",
				 avro_schema_name(c->schema));
			return -1;
		}
	}
	if (avro_generic_value_new(c->iface, &v)) {
		snprintf(errstr, errstr_size, "%s", avro_strerror());
		return -1;
	}
	r = avro_reader_memory(data, (int64_t)len);
	if (!r) {
		snprintf(errstr, errstr_size, "out of memory");
		goto out;
	}
	if (avro_value_read(r, &v)) {
		snprintf(errstr, errstr_size, "malformed Avro: %s",
			 avro_strerror());
		goto out;
	}
	*out = to_json(&v, errstr, errstr_size);
	rc = *out ? 0 : -1;
out:
	if (r)
		avro_reader_free(r);
	avro_value_decref(&v);
	return rc;
}

/* --- Resolution (writer version -> reader schema, on the JSON form) ----- */

static json_t *resolve(const json_t *type, json_t *value, const char *path,
		       char *errstr, size_t errstr_size);

static json_t *resolve_record(const json_t *type, json_t *value,
			      const char *path, char *errstr,
			      size_t errstr_size)
{
	json_t *out = json_object();
	const json_t *field;
	size_t i;

	json_array_foreach(json_object_get(type, "fields"), i, field)
	{
		const char *name =
			json_string_value(json_object_get(field, "name"));
		json_t *given = json_object_get(value, name);
		json_t *def = json_object_get(field, "default");
		json_t *r;

		if (given)
			r = resolve(json_object_get(field, "type"), given, name,
				    errstr, errstr_size);
		else if (def)
			r = json_deep_copy(def);
		else {
			snprintf(errstr, errstr_size,
				 "%s.%s: absent in the writer and no default",
				 path, name);
			r = NULL;
		}
		if (!r) {
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, name, r);
	}
	return out;
}

static json_t *resolve(const json_t *type, json_t *value, const char *path,
		       char *errstr, size_t errstr_size)
{
	const char *kind;

	if (json_is_array(type)) { /* union: the first branch that fits */
		const json_t *branch;
		size_t i;

		json_array_foreach(type, i, branch)
		{
			const char *bk =
				json_is_string(branch) ?
					json_string_value(branch) :
					json_string_value(json_object_get(
						branch, "type"));
			bool fits = bk && (strcmp(bk, "null") == 0 ?
						   json_is_null(value) :
						   !json_is_null(value));
			if (fits)
				return resolve(branch, value, path, errstr,
					       errstr_size);
		}
		snprintf(errstr, errstr_size, "%s: no union branch fits", path);
		return NULL;
	}
	kind = json_is_string(type) ?
		       json_string_value(type) :
		       json_string_value(json_object_get(type, "type"));
	if (kind && strcmp(kind, "record") == 0)
		return json_is_object(value) ?
			       resolve_record(type, value, path, errstr,
					      errstr_size) :
			       NULL;
	if (kind && strcmp(kind, "enum") == 0) {
		const json_t *sym;
		size_t i;

		json_array_foreach(
			json_object_get(type, "symbols"), i,
			sym) if (json_equal(sym,
					    value)) return json_incref(value);
		if (json_object_get(type, "default"))
			return json_deep_copy(json_object_get(type, "default"));
		snprintf(errstr, errstr_size, "%s: symbol unknown to reader",
			 path);
		return NULL;
	}
	if (kind && strcmp(kind, "array") == 0 && json_is_array(value)) {
		json_t *out = json_array();
		json_t *item;
		size_t i;

		json_array_foreach(value, i, item)
		{
			json_t *r = resolve(json_object_get(type, "items"),
					    item, path, errstr, errstr_size);
			if (!r) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, r);
		}
		return out;
	}
	/* Primitives (and named references): the JSON form carries over. */
	return json_incref(value);
}

/* Finds or fetches the writer schema of a foreign id; NULL if none, with
 * *later set when asking again later may find it. */
static const struct codec *foreign_writer(struct events *ev,
					  enum events_type type, int32_t id,
					  bool *later, char *errstr,
					  size_t errstr_size)
{
	int rc;
	const struct codec *found = NULL;
	struct codec writer = { 0 };
	char *text = NULL;

	pthread_mutex_lock(&ev->lock);
	for (int i = 0; i < ev->nforeign; i++) {
		if (ev->foreign[i].id == id && ev->foreign[i].type == type) {
			found = &ev->foreign[i].writer;
			goto out;
		}
	}
	if (!ev->registry_url) {
		snprintf(errstr, errstr_size,
			 "unknown schema id %d (no schema registry configured)",
			 (int)id);
		goto out;
	}
	if (ev->nforeign == MAX_FOREIGN) {
		snprintf(errstr, errstr_size, "too many schema versions");
		*later = true;
		goto out;
	}
	rc = registry_fetch(ev->registry_url, id, ev->timeout_ms, &text, errstr,
			    errstr_size);
	*later = rc == REGISTRY_RETRY_LATER;
	if (rc || codec_init(&writer, text, errstr, errstr_size)) {
		codec_free(&writer);
		goto out;
	}
	ev->foreign[ev->nforeign] = (struct foreign){ id, type, writer };
	found = &ev->foreign[ev->nforeign++].writer;
out:
	pthread_mutex_unlock(&ev->lock);
	free(text);
	return found;
}

int events_decode(struct events *ev, enum events_type type, const void *data,
		  size_t len, json_t **out, char *errstr, size_t errstr_size)
{
	const unsigned char *p = data;
	const struct codec *writer;
	json_t *raw = NULL;
	bool later = false;
	int32_t id;

	if (!p || len < FRAME_HEADER || p[0] != 0) {
		snprintf(errstr, errstr_size,
			 "not Confluent-framed Avro (%zu bytes)", len);
		return -1;
	}
	id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 8 | p[4]);
	if (id == ev->codecs[type].id)
		return read_value(&ev->codecs[type], p + FRAME_HEADER,
				  len - FRAME_HEADER, out, errstr, errstr_size);
	writer = foreign_writer(ev, type, id, &later, errstr, errstr_size);
	if (!writer)
		return later ? EVENTS_RETRY_LATER : -1;
	if (read_value(writer, p + FRAME_HEADER, len - FRAME_HEADER, &raw,
		       errstr, errstr_size))
		return -1;
	*out = resolve(ev->reader_json[type], raw, events_name(type), errstr,
		       errstr_size);
	json_decref(raw);
	return *out ? 0 : -1;
}

int events_decode_resolved(const char *writer_json, const char *reader_json,
			   const void *data, size_t len, json_t **out,
			   char *errstr, size_t errstr_size)
{
	struct codec writer = { 0 };
	json_t *reader = json_loads(reader_json, 0, NULL);
	json_t *raw = NULL;
	int rc = -1;

	if (!reader) {
		snprintf(errstr, errstr_size, "reader schema is not JSON");
		goto out;
	}
	if (codec_init(&writer, writer_json, errstr, errstr_size) ||
	    read_value(&writer, data, len, &raw, errstr, errstr_size))
		goto out;
	*out = resolve(reader, raw, "record", errstr, errstr_size);
	rc = *out ? 0 : -1;
out:
	json_decref(raw);
	json_decref(reader);
	codec_free(&writer);
	return rc;
}
