/*
 * Minimal Confluent-compatible schema registry client (REST over libcurl):
 * register a schema under a subject, fetch a schema by id. Every call is
 * bounded by a timeout; nothing is retried here (callers decide, told by
 * the result whether trying again can help).
 */
#ifndef OTPFLOW_REGISTRY_H
#define OTPFLOW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/* Results of the registry calls. */
enum {
	REGISTRY_OK = 0,
	/* A definite answer: not found, refused, or not a schema. */
	REGISTRY_FAILED = -1,
	/* Unreachable, timed out, 5xx, 408 or 429: the same call may work
	 * later (== EVENTS_RETRY_LATER). */
	REGISTRY_RETRY_LATER = -2,
};

/* POST {url}/subjects/{subject}/versions; sets *id to the registry's id.
 * Returns a REGISTRY_* result. */
int registry_register(const char *url, const char *subject,
		      const char *schema_json, long timeout_ms, int32_t *id,
		      char *errstr, size_t errstr_size);

/*
 * GET {url}/schemas/ids/{id}; on success (REGISTRY_OK) *schema_json is a
 * malloc'd string the caller frees. Returns a REGISTRY_* result.
 */
int registry_fetch(const char *url, int32_t id, long timeout_ms,
		   char **schema_json, char *errstr, size_t errstr_size);

#endif
