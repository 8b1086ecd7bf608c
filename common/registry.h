/*
 * Minimal Confluent-compatible schema registry client (REST over libcurl):
 * register a schema under a subject, fetch a schema by id. Every call is
 * bounded by a timeout; nothing is retried here (callers decide).
 */
#ifndef OTPFLOW_REGISTRY_H
#define OTPFLOW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/* POST {url}/subjects/{subject}/versions; sets *id to the registry's id. */
int registry_register(const char *url, const char *subject,
		      const char *schema_json, long timeout_ms, int32_t *id,
		      char *errstr, size_t errstr_size);

/*
 * GET {url}/schemas/ids/{id}; on success *schema_json is a malloc'd string
 * the caller frees.
 */
int registry_fetch(const char *url, int32_t id, long timeout_ms,
		   char **schema_json, char *errstr, size_t errstr_size);

#endif
