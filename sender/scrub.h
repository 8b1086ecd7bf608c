/*
 * Text from outside (a provider's answer, curl's error text) made safe to
 * log and to publish: the plaintext code removed wherever a provider
 * echoes it.
 */
#ifndef OTPFLOW_SENDER_SCRUB_H
#define OTPFLOW_SENDER_SCRUB_H

/* Replaces every occurrence of code ("" or NULL: none) in s with '*'. */
void scrub_code(char *s, const char *code);

#endif
