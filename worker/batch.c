/* Batch items: outcome names (as stored in processed_requests) and cleanup. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

const char *batch_outcome_name(enum outcome o)
{
	static const char *const names[] = {
		[OUTCOME_NONE] = "none",
		[OUTCOME_SKIP] = "skip",
		[OUTCOME_CREATED] = "created",
		[OUTCOME_EXISTING] = "existing",
		[OUTCOME_DROPPED] = "dropped",
		[OUTCOME_REISSUED] = "reissued",
		[OUTCOME_SIGNIN_CODE] = "signin_code",
		[OUTCOME_SIGNIN_THROTTLED] = "signin_throttled",
		[OUTCOME_SIGNIN_REFUSED] = "signin_refused",
		[OUTCOME_SIGNIN_NO_USER] = "signin_no_user",
	};
	return names[o];
}

void batch_item_clear(struct batch_item *it)
{
	json_decref(it->rec);
	free(it->value);
	explicit_bzero(&it->job, sizeof(it->job));
	memset(it, 0, sizeof(*it));
}
