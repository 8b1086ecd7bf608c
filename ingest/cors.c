/* CORS headers and preflights (see cors.h). */
#include "cors.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int cors_init(struct cors *c, char *const *list)
{
	size_t n = 0;

	c->origins = NULL;
	while (list && list[n])
		n++;
	if (n == 0)
		return 0;
	c->origins = calloc(n + 1, sizeof(*c->origins));
	if (!c->origins)
		return -1;
	for (size_t i = 0; i < n; i++) {
		c->origins[i] = strdup(list[i]);
		if (!c->origins[i]) {
			cors_free(c);
			return -1;
		}
	}
	return 0;
}

void cors_free(struct cors *c)
{
	for (char **o = c->origins; o && *o; o++)
		free(*o);
	free(c->origins);
	c->origins = NULL;
}

/* Whether glob matches all of s ('*': any run without '/'). */
static bool glob_match(const char *glob, const char *s)
{
	if (!*glob)
		return !*s;
	if (*glob == '*') {
		/* Shortest run first; the recursion depth is the number of
		 * '*' in the glob (a handful, from the configuration). */
		for (const char *t = s;; t++) {
			if (glob_match(glob + 1, t))
				return true;
			if (!*t || *t == '/')
				return false;
		}
	}
	return *s &&
	       tolower((unsigned char)*glob) == tolower((unsigned char)*s) &&
	       glob_match(glob + 1, s + 1);
}

bool cors_origin_allowed(const struct cors *c, const char *origin)
{
	if (!c->origins)
		return true;
	for (char **o = c->origins; *o; o++)
		if (strcmp(*o, "*") == 0 || glob_match(*o, origin))
			return true;
	return false;
}

size_t cors_headers(const struct cors *c, struct MHD_Connection *conn,
		    const char **headers)
{
	const char *origin = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
	size_t n = 0;

	headers[2 * n] = MHD_HTTP_HEADER_VARY;
	headers[2 * n++ + 1] = "Origin";
	if (origin && cors_origin_allowed(c, origin)) {
		headers[2 * n] = MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN;
		headers[2 * n++ + 1] = origin;
		headers[2 * n] =
			MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_CREDENTIALS;
		headers[2 * n++ + 1] = "true";
	}
	headers[2 * n] = NULL;
	return n;
}

bool cors_is_preflight(struct MHD_Connection *conn, const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0 &&
	       MHD_lookup_connection_value(
		       conn, MHD_HEADER_KIND,
		       MHD_HTTP_HEADER_ACCESS_CONTROL_REQUEST_METHOD);
}
