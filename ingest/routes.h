/*
 * Ingest's routes (docs/api.md §1.1, §1.6, §1.8): a CORS preflight on any
 * route is answered first; the signup and sign-in routes (under
 * AUTH_API_PREFIX) go to request.c; /healthz, /readyz, /metrics and
 * /version, with or without the prefix, are answered here; anything else
 * is 404. These are MHD's callbacks, cls = the struct ingest_http.
 */
#ifndef OTPFLOW_INGEST_ROUTES_H
#define OTPFLOW_INGEST_ROUTES_H

#include <microhttpd.h>

/* MHD_AccessHandlerCallback: every call of every request. */
enum MHD_Result routes_on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls);

/* MHD_OPTION_NOTIFY_COMPLETED: frees the request, re-arms the deadline. */
void routes_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe);

#endif
