/*
 * Records of other writer versions: the cache of writer schemas fetched
 * from the schema registry by id, and schema resolution onto our reader
 * schemas. Resolution is done on the JSON form, not by avro-c: avro-c
 * 1.11's resolver does not support reader defaults ("Reader field X
 * doesn't appear in writer"), which BACKWARD evolution needs. A foreign
 * record is decoded with its own writer schema, then mapped onto the
 * reader schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_codec.h"
#include "registry.h"

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
			r = events_resolve(json_object_get(field, "type"),
					   given, name, errstr, errstr_size);
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

json_t *events_resolve(const json_t *type, json_t *value, const char *path,
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
				return events_resolve(branch, value, path,
						      errstr, errstr_size);
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
			json_t *r =
				events_resolve(json_object_get(type, "items"),
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

/* A counted reference to a cached codec (released with events_codec_free). */
static void codec_ref(struct events_codec *out, const struct events_codec *c)
{
	*out = *c;
	avro_schema_incref(out->schema);
	avro_value_iface_incref(out->iface);
}

/* Caches writer (taken over) for (id, type), evicting the least recently
 * used entry when full; *out gets a reference. Called locked. */
static void cache_put(struct events *ev, enum events_type type, int32_t id,
		      struct events_codec *writer, struct events_codec *out)
{
	struct events_writer *slot = NULL;

	for (int i = 0; i < ev->nwriters && !slot; i++)
		if (ev->writers[i].id == id && ev->writers[i].type == type)
			slot = &ev->writers[i]; /* another thread was first */
	if (slot) {
		events_codec_free(writer);
	} else {
		if (ev->nwriters < EVENTS_MAX_WRITERS) {
			slot = &ev->writers[ev->nwriters++];
		} else {
			slot = &ev->writers[0];
			for (int i = 1; i < ev->nwriters; i++)
				if (ev->writers[i].used < slot->used)
					slot = &ev->writers[i];
			/* Readers of the evicted codec hold references. */
			events_codec_free(&slot->codec);
		}
		*slot = (struct events_writer){ id, type, *writer, 0 };
	}
	memset(writer, 0, sizeof(*writer));
	slot->used = ++ev->clock;
	codec_ref(out, &slot->codec);
}

/*
 * The writer schema of a foreign id: from the cache, an earlier version of
 * schemas/previous/, or fetched from the registry (outside the lock: a slow registry does not stall the decoding
 * of cached versions). 0 with *out a reference the caller frees with
 * events_codec_free; -1 when the id cannot be decoded at all (no registry,
 * unknown to it, not a schema); EVENTS_RETRY_LATER when the registry
 * cannot answer now.
 */
static int writer_get(struct events *ev, enum events_type type, int32_t id,
		      struct events_codec *out, char *errstr,
		      size_t errstr_size)
{
	struct events_codec writer = { 0 };
	char *text = NULL;
	int rc;

	pthread_mutex_lock(&ev->lock);
	for (int i = 0; i < ev->nwriters; i++) {
		if (ev->writers[i].id == id && ev->writers[i].type == type) {
			ev->writers[i].used = ++ev->clock;
			codec_ref(out, &ev->writers[i].codec);
			pthread_mutex_unlock(&ev->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&ev->lock);
	for (int i = 0; i < ev->nprevious; i++) {
		if (ev->previous[i].id == id && ev->previous[i].type == type) {
			codec_ref(out, &ev->previous[i].codec);
			return 0;
		}
	}
	if (!ev->registry_url) {
		snprintf(errstr, errstr_size,
			 "unknown schema id %d (no schema registry configured)",
			 (int)id);
		return -1;
	}
	rc = registry_fetch(ev->registry_url, id, ev->timeout_ms, &text, errstr,
			    errstr_size);
	if (rc == REGISTRY_RETRY_LATER)
		return EVENTS_RETRY_LATER;
	if (rc != REGISTRY_OK ||
	    events_codec_init(&writer, text, errstr, errstr_size)) {
		events_codec_free(&writer);
		free(text);
		return -1;
	}
	free(text);
	pthread_mutex_lock(&ev->lock);
	cache_put(ev, type, id, &writer, out);
	pthread_mutex_unlock(&ev->lock);
	return 0;
}

int events_decode_foreign(struct events *ev, enum events_type type, int32_t id,
			  const void *data, size_t len, json_t **out,
			  char *errstr, size_t errstr_size)
{
	struct events_codec writer = { 0 };
	json_t *raw = NULL;
	int rc = writer_get(ev, type, id, &writer, errstr, errstr_size);

	if (rc)
		return rc;
	rc = -1;
	if (events_read(&writer, data, len, &raw, errstr, errstr_size))
		goto out;
	*out = events_resolve(ev->reader_json[type], raw, events_name(type),
			      errstr, errstr_size);
	rc = *out ? 0 : -1;
out:
	json_decref(raw);
	events_codec_free(&writer);
	return rc;
}
