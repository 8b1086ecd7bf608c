/*
 * Identifiers from the OS CSPRNG: UUIDv4 strings for request/otp/user ids,
 * and W3C trace context (traceparent) continuation across the pipeline.
 */
#ifndef OTPFLOW_IDS_H
#define OTPFLOW_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_UUID_SIZE 37 /* 36 characters + NUL */
#define IDS_TRACEPARENT_SIZE 56 /* 55 characters + NUL */

/* Fills `random` bytes from getrandom(2); false only if the OS fails. */
bool ids_random(void *buf, size_t len);

/* Writes a random (version 4) UUID in canonical lowercase form. */
void ids_uuid_v4(char out[IDS_UUID_SIZE]);

/* True if s is a canonical UUID (any version), 36 characters. */
bool ids_uuid_valid(const char *s);

/*
 * Writes the traceparent of a new span: the same trace id and flags as
 * `parent` when that is a valid version-00 traceparent, otherwise a new
 * trace (sampled). parent may be NULL.
 */
void ids_traceparent_child(const char *parent, char out[IDS_TRACEPARENT_SIZE]);

#endif
