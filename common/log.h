/*
 * JSON-lines logging shared by every binary: one line per event on stderr,
 * with timestamp, level, daemon name, event text and key/value context.
 * Levels are checked before any formatting happens (use the LOG macro).
 * Never pass an OTP or an unmasked phone number (see phone_mask()).
 */
#ifndef OTPFLOW_LOG_H
#define OTPFLOW_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the daemon name (static storage, not copied) and minimum level. */
void log_init(const char *daemon, enum log_level min_level);

/* Parses "debug", "info", "warn" or "error"; false if unknown. */
bool log_level_parse(const char *s, enum log_level *out);

/* True when events at this level are written. */
bool log_enabled(enum log_level level);

/*
 * Writes one event. The variadic part is key, value pairs of strings ending
 * with NULL; a NULL value is written as JSON null. Thread-safe: each line is
 * a single write(2).
 */
void log_event(enum log_level level, const char *event, ...)
	__attribute__((sentinel));

#define LOG(level, ...)                                                    \
	do {                                                               \
		if (log_enabled(level))                                    \
			log_event(level, __VA_ARGS__, (const char *)NULL); \
	} while (0)

#endif
