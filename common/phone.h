/*
 * Phone numbers (docs/api.md §1.3): the normalised E.164 form that keys
 * Kafka records, the per-number limits and the SMS (auth.users keeps the
 * number as the client sent it); the country-prefix allow list that
 * guards against SMS pumping; and the masked form, the only one logs may show.
 * Pure functions over caller buffers: no allocation, no global state.
 */
#ifndef OTPFLOW_PHONE_H
#define OTPFLOW_PHONE_H

#include <stdbool.h>
#include <stddef.h>

/* Fewest and most digits after the '+' (E.164 allows at most 15). */
#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15

/* Buffer size that always holds a normalised number or its mask, with NUL. */
#define PHONE_MAX (1 + PHONE_MAX_DIGITS + 1)

/*
 * Normalise the in_len bytes at in (need not be NUL-terminated; a NUL byte
 * inside them is invalid): spaces, '-', '.', '(' and ')' are dropped, a
 * leading "00" becomes '+', and what remains must be '+' followed by 8 to 15
 * ASCII digits, the first of them 1-9. Anything else is rejected.
 *
 * On success writes the NUL-terminated result to out (the caller's buffer;
 * PHONE_MAX bytes always suffice) and returns true. Returns false, leaving
 * out an empty string when out_size > 0, if the input is invalid or out is
 * too small. in may be NULL only when in_len is 0; out must not be NULL.
 */
bool phone_normalise(const char *in, size_t in_len, char *out, size_t out_size);

/*
 * Whether the normalised number e164 starts with one of the prefixes in
 * prefix_list, a comma-separated list such as "+1,+44,+33" (spaces around
 * items are ignored, and so is a missing '+' on an item). A NULL, empty or
 * all-blank list allows every number. e164 must not be NULL.
 */
bool phone_has_allowed_prefix(const char *e164, const char *prefix_list);

/*
 * Write the log-safe form of a number to out (the caller's buffer, truncated
 * to out_size - 1 characters and always NUL-terminated when out_size > 0):
 * a valid normalised number keeps its first 5 characters ('+' and 4 digits)
 * and its last 2 digits, every character between becomes '*'
 * ("+14155550123" -> "+1415*****23"). Anything that is not a valid
 * normalised number is masked completely, one '*' per byte. A NULL e164
 * gives "".
 */
void phone_mask(const char *e164, char *out, size_t out_size);

#endif
