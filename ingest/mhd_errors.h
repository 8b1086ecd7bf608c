/*
 * The answers libmicrohttpd composes by itself, before ingest sees the
 * request: 431 for headers over its memory limit, 400 for a malformed
 * request or a missing Host, 413/414, 505 and the like. The library sends
 * them as small HTML pages and has no option to change them; a client such
 * as Nhost's SDK then fails to parse the body. Ingest therefore defines
 * MHD_queue_response itself: the library queues those pages through its
 * exported MHD_queue_response, so the call lands here, and a response that
 * has no Content-Type (every otpflow answer has one; the library's pages
 * do not) is replaced by the standard JSON error body of the same status
 * before the library's own MHD_queue_response (found with dlsym RTLD_NEXT)
 * queues it. tests/system/test_ingest_v2.py checks the 431 and the 400.
 *
 * The request's headers are not read on that path (the library may have
 * released their buffer already), so those answers carry Vary: Origin but
 * no Access-Control-Allow-Origin.
 */
#ifndef OTPFLOW_INGEST_MHD_ERRORS_H
#define OTPFLOW_INGEST_MHD_ERRORS_H

#include <stdbool.h>

/* True when the library's own MHD_queue_response was found (checked at
 * start: without it no answer could be queued). */
bool mhd_errors_ready(void);

#endif
