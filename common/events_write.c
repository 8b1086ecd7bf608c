/*
 * The writer: otpflow events are written straight from their jansson
 * object to Avro binary by walking the parsed schema, without avro-c's
 * generic value: building one per record (allocations, reference counts, a
 * formatted field path per field) was most of the cost of encoding, and
 * ingest encodes every request. The bytes are the ones avro-c writes for
 * the same value (one block per array or map, then 0), which
 * tests/unit/test_events.c checks with avro-c itself for every schema and
 * every Avro type.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_codec.h"

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

int events_write(avro_schema_t schema, size_t header_len, const json_t *obj,
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
