/*
 * Minimal Confluent-compatible schema registry client (REST over libcurl):
 * register a schema under a subject, fetch a schema by id. Every call is
 * bounded by a timeout; nothing is retried here (callers decide).
 */
#ifndef OTPFLOW_REGISTRY_H
#define OTPFLOW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Both calls return 0 on success; REGISTRY_RETRY_LATER when the registry
 * could not answer now (unreachable, timeout, 5xx, 408, 429, an answer
 * that is not JSON): asking again later may work; -1 for an answer that
 * will not change (404: no such id, say).
 */
#define REGISTRY_RETRY_LATER (-2)

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
