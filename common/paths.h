/* Where the read-only data files (sql/, templates/) are found. */
#ifndef OTPFLOW_PATHS_H
#define OTPFLOW_PATHS_H

#include <stddef.h>

#include "config.h"

/*
 * Writes "<data dir>/<sub>" into out: OTPFLOW_DATA_DIR if set, else the
 * install prefix's share/otpflow if it has <sub>, else the source tree
 * (an uninstalled build). Returns out.
 */
const char *paths_data(const struct cfg *cfg, const char *sub, char *out,
		       size_t out_size);

#endif
