/* Data-file lookup: configuration first, then install prefix, then source. */
#include "paths.h"

#include <stdio.h>
#include <sys/stat.h>

const char *paths_data(const struct cfg *cfg, const char *sub, char *out,
		       size_t out_size)
{
	const char *dir = cfg_str(cfg, CFG_OTPFLOW_DATA_DIR);
	struct stat st;

	if (dir && *dir) {
		snprintf(out, out_size, "%s/%s", dir, sub);
		return out;
	}
	snprintf(out, out_size, "%s/%s", OTPFLOW_DATADIR, sub);
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return out;
	snprintf(out, out_size, "%s/%s", OTPFLOW_SOURCE_DIR, sub);
	return out;
}
