/*
 * Avro encoding of otpflow events with avro-c, bridged to jansson objects.
 * Owns: the parsed reader schemas and their generic value classes, the
 * schema ids in use, and a small cache of other writer schema versions
 * (looked up in the schema registry by id).
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

static const char *const event_names[EVENTS__COUNT] = {
	"SignupRequested", "OtpIssued", "SmsSent", "SmsDeadLetter"
};

const char *events_name(enum events_type type)
{
	return event_names[type];
}

int32_t events_schema_id(const struct events *ev, enum events_type type)
{
	return ev->codecs[type].id;
}

/* --- JSON -> Avro ------------------------------------------------------ */

static int to_avro(avro_value_t *v, const json_t *j, const char *path,
		   char *errstr, size_t errstr_size);

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

static int record_to_avro(avro_value_t *v, const json_t *j, const char *path,
			  char *errstr, size_t errstr_size)
{
	size_t n = 0, matched = 0;

	if (!json_is_object(j))
		goto type_error;
	avro_value_get_size(v, &n);
	for (size_t i = 0; i < n; i++) {
		avro_value_t child;
		const char *name;
		const json_t *jc;
		char sub[256];

		avro_value_get_by_index(v, i, &child, &name);
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
			 name);
		jc = json_object_get(j, name);
		if (jc) {
			matched++;
		} else if (avro_value_get_type(&child) == AVRO_UNION) {
			jc = json_null(); /* absent optional field */
		} else {
			snprintf(errstr, errstr_size, "missing field %s", sub);
			return -1;
		}
		if (to_avro(&child, jc, sub, errstr, errstr_size))
			return -1;
	}
	if (matched != json_object_size(j)) {
		const char *key;
		const json_t *val;

		json_object_foreach ((json_t *)j, key, val) {
			avro_value_t child;
			if (avro_value_get_by_name(v, key, &child, NULL)) {
				snprintf(errstr, errstr_size,
					 "unknown field %s%s%s", path,
					 *path ? "." : "", key);
				return -1;
			}
		}
	}
	return 0;
type_error:
	snprintf(errstr, errstr_size, "%s: expected an object", path);
	return -1;
}

static int to_avro(avro_value_t *v, const json_t *j, const char *path,
		   char *errstr, size_t errstr_size)
{
	avro_type_t t = avro_value_get_type(v);
	avro_schema_t schema = avro_value_get_schema(v);

	if (t != AVRO_UNION && t != AVRO_RECORD && !branch_accepts(t, j)) {
		snprintf(errstr, errstr_size, "%s: wrong JSON type", path);
		return -1;
	}
	switch (t) {
	case AVRO_NULL:
		return avro_value_set_null(v);
	case AVRO_STRING:
		return avro_value_set_string_len(v, json_string_value(j),
						 json_string_length(j) + 1);
	case AVRO_BYTES: {
		const char *b64 = json_string_value(j);
		size_t cap = json_string_length(j), len = 0;
		unsigned char *bin = malloc(cap + 1);
		int rc;

		if (!bin)
			return -1;
		if (sodium_base642bin(bin, cap + 1, b64, cap, NULL, &len, NULL,
				      sodium_base64_VARIANT_ORIGINAL)) {
			free(bin);
			snprintf(errstr, errstr_size, "%s: invalid base64",
				 path);
			return -1;
		}
		rc = avro_value_set_bytes(v, bin, len);
		free(bin);
		return rc;
	}
	case AVRO_INT32: {
		json_int_t n = json_integer_value(j);
		if (n < INT32_MIN || n > INT32_MAX) {
			snprintf(errstr, errstr_size, "%s: out of range", path);
			return -1;
		}
		return avro_value_set_int(v, (int32_t)n);
	}
	case AVRO_INT64:
		return avro_value_set_long(v, json_integer_value(j));
	case AVRO_FLOAT:
		return avro_value_set_float(v, (float)json_number_value(j));
	case AVRO_DOUBLE:
		return avro_value_set_double(v, json_number_value(j));
	case AVRO_BOOLEAN:
		return avro_value_set_boolean(v, json_is_true(j));
	case AVRO_ENUM: {
		int sym = avro_schema_enum_get_by_name(schema,
						       json_string_value(j));
		if (sym < 0) {
			snprintf(errstr, errstr_size, "%s: unknown symbol",
				 path);
			return -1;
		}
		return avro_value_set_enum(v, sym);
	}
	case AVRO_ARRAY:
		for (size_t i = 0; i < json_array_size(j); i++) {
			avro_value_t elem;
			if (avro_value_append(v, &elem, NULL) ||
			    to_avro(&elem, json_array_get(j, i), path, errstr,
				    errstr_size))
				return -1;
		}
		return 0;
	case AVRO_MAP: {
		const char *key;
		json_t *val;
		json_object_foreach ((json_t *)j, key, val) {
			avro_value_t elem;
			if (avro_value_add(v, key, &elem, NULL, NULL) ||
			    to_avro(&elem, val, path, errstr, errstr_size))
				return -1;
		}
		return 0;
	}
	case AVRO_RECORD:
		return record_to_avro(v, j, path, errstr, errstr_size);
	case AVRO_UNION: {
		size_t n = avro_schema_union_size(schema);
		for (size_t i = 0; i < n; i++) {
			avro_schema_t b = avro_schema_union_branch(schema, i);
			avro_value_t branch;

			if (!branch_accepts(avro_typeof(b), j))
				continue;
			if (avro_value_set_branch(v, (int)i, &branch))
				return -1;
			return to_avro(&branch, j, path, errstr, errstr_size);
		}
		snprintf(errstr, errstr_size, "%s: no union branch fits", path);
		return -1;
	}
	default:
		snprintf(errstr, errstr_size, "%s: unsupported Avro type",
			 path);
		return -1;
	}
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
	int32_t out = json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;

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
		  void **out, size_t *out_len, char *errstr,
		  size_t errstr_size)
{
	struct codec *c = &ev->codecs[type];
	avro_value_t v;
	avro_writer_t w = NULL;
	size_t size = 0;
	unsigned char *buf = NULL;
	int rc = -1;

	if (avro_generic_value_new(c->iface, &v)) {
		snprintf(errstr, errstr_size, "%s", avro_strerror());
		return -1;
	}
	if (to_avro(&v, obj, "", errstr, errstr_size))
		goto out;
	if (avro_value_sizeof(&v, &size)) {
		snprintf(errstr, errstr_size, "%s", avro_strerror());
		goto out;
	}
	buf = malloc(FRAME_HEADER + size);
	if (!buf) {
		snprintf(errstr, errstr_size, "out of memory");
		goto out;
	}
	buf[0] = 0;
	buf[1] = (unsigned char)(c->id >> 24);
	buf[2] = (unsigned char)(c->id >> 16);
	buf[3] = (unsigned char)(c->id >> 8);
	buf[4] = (unsigned char)c->id;
	w = avro_writer_memory((char *)buf + FRAME_HEADER, (int64_t)size);
	if (!w || avro_value_write(w, &v)) {
		snprintf(errstr, errstr_size, "avro write: %s",
			 avro_strerror());
		goto out;
	}
	*out = buf;
	*out_len = FRAME_HEADER + size;
	buf = NULL;
	rc = 0;
out:
	if (w)
		avro_writer_free(w);
	free(buf);
	avro_value_decref(&v);
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
				if (!bin_valid(avro_typeof(s) == AVRO_MAP ?
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

	json_array_foreach (json_object_get(type, "fields"), i, field) {
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

		json_array_foreach (type, i, branch) {
			const char *bk = json_is_string(branch) ?
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

		json_array_foreach (json_object_get(type, "symbols"), i, sym)
			if (json_equal(sym, value))
				return json_incref(value);
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

		json_array_foreach (value, i, item) {
			json_t *r = resolve(json_object_get(type, "items"), item,
					    path, errstr, errstr_size);
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

/* Finds or fetches the writer schema of a foreign id; NULL if none. */
static const struct codec *foreign_writer(struct events *ev,
					  enum events_type type, int32_t id,
					  char *errstr, size_t errstr_size)
{
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
		goto out;
	}
	if (registry_fetch(ev->registry_url, id, ev->timeout_ms, &text, errstr,
			   errstr_size) ||
	    codec_init(&writer, text, errstr, errstr_size)) {
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
	writer = foreign_writer(ev, type, id, errstr, errstr_size);
	if (!writer || read_value(writer, p + FRAME_HEADER, len - FRAME_HEADER,
				  &raw, errstr, errstr_size))
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
