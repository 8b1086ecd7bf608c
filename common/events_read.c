/*
 * The reader: Avro binary -> the jansson form of docs/api.md §2.2
 * (timestamps as integers, bytes as base64, enums as their symbol, a
 * nullable union as null or the value), through avro-c's generic value.
 * Input is checked structurally first (events_frame.c), so avro-c never
 * sees a malformed buffer.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "events_codec.h"

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

int events_read(const struct events_codec *c, const void *data, size_t len,
		json_t **out, char *errstr, size_t errstr_size)
{
	avro_value_t v;
	avro_reader_t r;
	int rc = -1;

	if (!events_avro_valid(c->schema, data, len)) {
		snprintf(errstr, errstr_size,
			 "malformed Avro: does not match %s "
			 "(or has trailing bytes)",
			 avro_schema_name(c->schema));
		return -1;
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
