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

/* Finds or fetches the writer schema of a foreign id; NULL if none. */
static const struct events_codec *foreign_writer(struct events *ev,
						 enum events_type type,
						 int32_t id, char *errstr,
						 size_t errstr_size)
{
	const struct events_codec *found = NULL;
	struct events_codec writer = { 0 };
	char *text = NULL;

	pthread_mutex_lock(&ev->lock);
	for (int i = 0; i < ev->nwriters; i++) {
		if (ev->writers[i].id == id && ev->writers[i].type == type) {
			found = &ev->writers[i].codec;
			goto out;
		}
	}
	if (!ev->registry_url) {
		snprintf(errstr, errstr_size,
			 "unknown schema id %d (no schema registry configured)",
			 (int)id);
		goto out;
	}
	if (ev->nwriters == EVENTS_MAX_WRITERS) {
		snprintf(errstr, errstr_size, "too many schema versions");
		goto out;
	}
	if (registry_fetch(ev->registry_url, id, ev->timeout_ms, &text, errstr,
			   errstr_size) ||
	    events_codec_init(&writer, text, errstr, errstr_size)) {
		events_codec_free(&writer);
		goto out;
	}
	ev->writers[ev->nwriters] = (struct events_writer){ id, type, writer };
	found = &ev->writers[ev->nwriters++].codec;
out:
	pthread_mutex_unlock(&ev->lock);
	free(text);
	return found;
}

int events_decode_foreign(struct events *ev, enum events_type type, int32_t id,
			  const void *data, size_t len, json_t **out,
			  char *errstr, size_t errstr_size)
{
	const struct events_codec *writer;
	json_t *raw = NULL;

	writer = foreign_writer(ev, type, id, errstr, errstr_size);
	if (!writer ||
	    events_read(writer, data, len, &raw, errstr, errstr_size))
		return -1;
	*out = events_resolve(ev->reader_json[type], raw, events_name(type),
			      errstr, errstr_size);
	json_decref(raw);
	return *out ? 0 : -1;
}
