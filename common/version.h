/* Build identity shared by every binary. */
#ifndef OTPFLOW_VERSION_H
#define OTPFLOW_VERSION_H

/* The release version string, static storage. */
const char *otpflow_version(void);

#endif
