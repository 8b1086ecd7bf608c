/*
 * CORS as Nhost answers it (docs/api.md §1.8): browsers call ingest from
 * apps on other origins, so a request carrying an Origin gets it echoed in
 * Access-Control-Allow-Origin with Access-Control-Allow-Credentials: true
 * on every answer, errors included; every answer says Vary: Origin. An
 * OPTIONS with Access-Control-Request-Method on any route is a preflight
 * (204, methods POST and GET, the requested headers, cached a day).
 * OTPFLOW_CORS_ALLOWED_ORIGINS (globs) narrows the origins; an origin
 * outside it gets no Access-Control-* header, so the browser refuses the
 * answer.
 */
#ifndef OTPFLOW_INGEST_CORS_H
#define OTPFLOW_INGEST_CORS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#define CORS_MAX_AGE "86400"
#define CORS_METHODS "POST, GET"
/* Header pairs cors_headers adds at most. */
#define CORS_MAX_PAIRS 3

struct cors {
	char **origins; /* owned globs, NULL-terminated; NULL: every origin */
};

/* Copies the globs of list (NULL-terminated; NULL or empty: all). 0 or
 * -1 out of memory. */
int cors_init(struct cors *c, char *const *list);

void cors_free(struct cors *c);

/*
 * True when origin may call ingest: no list, or a glob of the list matches
 * it ('*' stands for any run of characters except '/', ASCII case ignored;
 * a lone "*" allows everything).
 */
bool cors_origin_allowed(const struct cors *c, const char *origin);

/*
 * Appends to headers (name, value pairs; room for CORS_MAX_PAIRS pairs and
 * the NULL that ends the list) what an answer to conn carries. Returns the
 * number of pairs added. The values point into MHD's copy of the request,
 * valid while the request is.
 */
size_t cors_headers(const struct cors *c, struct MHD_Connection *conn,
		    const char **headers);

/* True when the request on conn (method) is a CORS preflight. */
bool cors_is_preflight(struct MHD_Connection *conn, const char *method);

#endif
