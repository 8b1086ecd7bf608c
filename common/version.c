/* Build identity shared by every binary. */
#include "version.h"

const char *otpflow_version(void)
{
	return OTPFLOW_VERSION;
}
