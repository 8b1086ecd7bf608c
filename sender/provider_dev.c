/*
 * dev (docs/api.md §4): no HTTP; each SMS is appended as one JSON line
 * {"to","body","otp_id","sent_at"} to OTPFLOW_SMS_DEV_OUTPUT (a file, or
 * stdout for "-"). The default for local runs.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider_impl.h"

static int dev_init(struct provider *p, const struct cfg *cfg, char *errstr,
		    size_t errstr_size)
{
	const char *out = cfg_str(cfg, CFG_OTPFLOW_SMS_DEV_OUTPUT);

	if (!out || !*out || strcmp(out, "-") == 0) {
		p->dev_out = stdout;
		return 0;
	}
	p->dev_out = fopen(out, "a");
	p->dev_close = true;
	if (!p->dev_out) {
		snprintf(errstr, errstr_size,
			 "OTPFLOW_SMS_DEV_OUTPUT: cannot open %s", out);
		return -1;
	}
	return 0;
}

static void dev_fini(struct provider *p)
{
	if (p->dev_out && p->dev_close)
		fclose(p->dev_out);
}

const struct provider_ops provider_dev_ops = {
	.name = "dev",
	.kind = PROVIDER_DEV,
	.init = dev_init,
	.fini = dev_fini,
};

int provider_dev_send(struct provider *p, const char *to, const char *body,
		      const char *otp_id, int64_t sent_at_ms, char *errstr,
		      size_t errstr_size)
{
	json_t *line = json_pack("{s:s, s:s, s:s, s:I}", "to", to, "body", body,
				 "otp_id", otp_id, "sent_at",
				 (json_int_t)sent_at_ms);
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(line);
	if (!text) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	if (fprintf(p->dev_out, "%s\n", text) < 0 || fflush(p->dev_out) != 0)
		snprintf(errstr, errstr_size, "dev output: write failed");
	else
		rc = 0;
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}
