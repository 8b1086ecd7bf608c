/* Replies and /metrics shared by otpflow's HTTP servers (see httpd.h). */
#include "httpd.h"

#include <stdlib.h>

#include "metrics.h"

void httpd_add_headers(struct MHD_Response *resp, const char *const *headers)
{
	for (const char *const *h = headers; h && h[0]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
}

enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned status,
			    const char *ctype, const char *body, size_t len,
			    const char *const *headers)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	httpd_add_headers(resp, headers);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

size_t httpd_metrics_text(char **text)
{
	size_t cap = metrics_render_bound();
	size_t len;

	*text = malloc(cap ? cap : 1);
	if (!*text)
		return 0;
	len = metrics_render(*text, cap ? cap : 1);
	return len;
}
