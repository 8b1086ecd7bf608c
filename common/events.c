/*
 * The events module: the schemas compiled in from schemas/ (parsed,
 * checked and given their ids at start, registered with the schema
 * registry when one is configured) and the public encode/decode calls,
 * which frame records and hand them to the writer, the reader or schema
 * resolution (events_codec.h lists the parts).
 */
#include "events.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_codec.h"
#include "registry.h"

static const char *const event_names[EVENTS__COUNT] = {
	"SignupRequested", "OtpIssued",	       "SmsSent",
	"SmsDeadLetter",   "SignupDeadLetter",
};

const char *events_name(enum events_type type)
{
	return event_names[type];
}

int32_t events_schema_id(const struct events *ev, enum events_type type)
{
	return ev->codecs[type].id;
}

static int32_t declared_id(const char *avsc)
{
	json_t *root = json_loads(avsc, 0, NULL);
	json_t *id = json_object_get(root, "otpflow.schema_id");
	int32_t out = json_is_integer(id) ? (int32_t)json_integer_value(id) :
					    -1;

	json_decref(root);
	return out;
}

int events_codec_init(struct events_codec *c, const char *json, char *errstr,
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

void events_codec_free(struct events_codec *c)
{
	if (c->iface)
		avro_value_iface_decref(c->iface);
	if (c->schema)
		avro_schema_decref(c->schema);
}

/* The event type whose record is named name, or EVENTS__COUNT. */
static enum events_type type_named(const char *name)
{
	for (int t = 0; t < EVENTS__COUNT; t++)
		if (strcmp(event_names[t], name) == 0)
			return (enum events_type)t;
	return EVENTS__COUNT;
}

/* True when id is already taken by a current or an earlier schema. */
static bool id_taken(const struct events *ev, int32_t id, int ncurrent)
{
	for (int t = 0; t < ncurrent; t++)
		if (ev->codecs[t].id == id)
			return true;
	for (int i = 0; i < ev->nprevious; i++)
		if (ev->previous[i].id == id)
			return true;
	return false;
}

/*
 * Loads schemas/previous/ as known writers of their fixed ids. Every id,
 * current or earlier, must be unique: an id names one schema for ever.
 */
static int load_previous(struct events *ev, char *errstr, size_t errstr_size)
{
	for (int i = 0; events_avsc_previous[i]; i++) {
		struct events_writer *f = &ev->previous[ev->nprevious];
		char why[256];

		if (ev->nprevious == EVENTS_MAX_PREVIOUS) {
			snprintf(errstr, errstr_size,
				 "too many schemas in schemas/previous/");
			return -1;
		}
		if (events_codec_init(&f->codec, events_avsc_previous[i], why,
				      sizeof(why))) {
			events_codec_free(&f->codec);
			snprintf(errstr, errstr_size,
				 "a schema of schemas/previous/ does not "
				 "parse: %s",
				 why);
			return -1;
		}
		f->type = type_named(avro_schema_name(f->codec.schema));
		f->id = declared_id(events_avsc_previous[i]);
		if (f->type == EVENTS__COUNT || f->id <= 0 ||
		    id_taken(ev, f->id, EVENTS__COUNT)) {
			snprintf(errstr, errstr_size,
				 "schemas/previous/: record %s with id %d is "
				 "unknown, lacks an id or reuses one",
				 avro_schema_name(f->codec.schema), (int)f->id);
			events_codec_free(&f->codec);
			return -1;
		}
		f->codec.id = f->id;
		ev->nprevious++;
	}
	return 0;
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
		struct events_codec *c = &ev->codecs[t];

		if (events_codec_init(c, events_avsc[t], why, sizeof(why))) {
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
		if (c->id <= 0 || id_taken(ev, c->id, t)) {
			snprintf(errstr, errstr_size,
				 "schemas/%s.avsc lacks a positive "
				 "\"otpflow.schema_id\" of its own",
				 event_names[t]);
			goto fail;
		}
	}
	/* With a registry, ids are the registry's: a fixed id of an earlier
	 * version would name another schema there. */
	if ((!registry_url || !*registry_url) &&
	    load_previous(ev, errstr, errstr_size))
		goto fail;
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
		[EVENTS_SIGNUP_DEAD_LETTER] =
			cfg_str(cfg, CFG_OTPFLOW_TOPIC_SIGNUP_DEAD_LETTER),
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
		events_codec_free(&ev->codecs[t]);
	for (int t = 0; t < EVENTS__COUNT; t++)
		json_decref(ev->reader_json[t]);
	for (int i = 0; i < ev->nwriters; i++)
		events_codec_free(&ev->writers[i].codec);
	for (int i = 0; i < ev->nprevious; i++)
		events_codec_free(&ev->previous[i].codec);
	pthread_mutex_destroy(&ev->lock);
	free(ev->registry_url);
	free(ev);
}

int events_encode(struct events *ev, enum events_type type, const json_t *obj,
		  void **out, size_t *out_len, char *errstr, size_t errstr_size)
{
	const struct events_codec *c = &ev->codecs[type];
	unsigned char *buf;
	size_t len;

	if (events_write(c->schema, EVENTS_FRAME_HEADER, obj, &buf, &len,
			 errstr, errstr_size))
		return -1;
	events_frame_put(buf, c->id);
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
	rc = events_write(schema, 0, obj, &buf, out_len, errstr, errstr_size);
	if (!rc)
		*out = buf;
	avro_schema_decref(schema);
	return rc;
}

int events_decode(struct events *ev, enum events_type type, const void *data,
		  size_t len, json_t **out, char *errstr, size_t errstr_size)
{
	const unsigned char *p = data;
	int32_t id;

	if (!events_frame_get(data, len, &id, errstr, errstr_size))
		return -1;
	if (id == ev->codecs[type].id)
		return events_read(&ev->codecs[type], p + EVENTS_FRAME_HEADER,
				   len - EVENTS_FRAME_HEADER, out, errstr,
				   errstr_size);
	return events_decode_foreign(ev, type, id, p + EVENTS_FRAME_HEADER,
				     len - EVENTS_FRAME_HEADER, out, errstr,
				     errstr_size);
}

int events_decode_resolved(const char *writer_json, const char *reader_json,
			   const void *data, size_t len, json_t **out,
			   char *errstr, size_t errstr_size)
{
	struct events_codec writer = { 0 };
	json_t *reader = json_loads(reader_json, 0, NULL);
	json_t *raw = NULL;
	int rc = -1;

	if (!reader) {
		snprintf(errstr, errstr_size, "reader schema is not JSON");
		goto out;
	}
	if (events_codec_init(&writer, writer_json, errstr, errstr_size) ||
	    events_read(&writer, data, len, &raw, errstr, errstr_size))
		goto out;
	*out = events_resolve(reader, raw, "record", errstr, errstr_size);
	rc = *out ? 0 : -1;
out:
	json_decref(raw);
	json_decref(reader);
	events_codec_free(&writer);
	return rc;
}
