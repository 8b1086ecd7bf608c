/*
 * Confluent framing (byte 0x00, a 4-byte big-endian schema id, then Avro
 * binary) and the structural check of Avro binary against a schema before
 * avro-c reads it: every length and count must fit in what is left of the
 * buffer. avro-c 1.11 leaks the buffer of a string or bytes value whose
 * read fails part-way, so malformed input must never reach it; this walk
 * (no allocation, bounded depth) makes sure avro_value_read cannot fail.
 */
#include <stdio.h>

#include "events_codec.h"

void events_frame_put(unsigned char *buf, int32_t id)
{
	buf[0] = 0;
	buf[1] = (unsigned char)(id >> 24);
	buf[2] = (unsigned char)(id >> 16);
	buf[3] = (unsigned char)(id >> 8);
	buf[4] = (unsigned char)id;
}

bool events_frame_get(const void *data, size_t len, int32_t *id, char *errstr,
		      size_t errstr_size)
{
	const unsigned char *p = data;

	if (!p || len < EVENTS_FRAME_HEADER || p[0] != 0) {
		snprintf(errstr, errstr_size,
			 "not Confluent-framed Avro (%zu bytes)", len);
		return false;
	}
	*id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
			(uint32_t)p[3] << 8 | p[4]);
	return true;
}

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

bool events_avro_valid(avro_schema_t s, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;

	return bin_valid(s, &p, end, 0) && p == end;
}
