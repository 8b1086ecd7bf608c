/*
 * JSON-lines logger. Each event is formatted into a stack buffer and written
 * with one write(2) so concurrent threads never interleave lines; an event
 * too long for the buffer is truncated and marked so, never split.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "jsonbuf.h"

static const char *log_daemon = "otpflow";
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *daemon, enum log_level min_level)
{
	log_daemon = daemon;
	log_min = min_level;
}

bool log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(*level_names);
	     i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

void log_event(enum log_level level, const char *event, ...)
{
	char line[4096];
	struct jsonbuf jb;
	struct timeval tv;
	struct tm tm;
	char ts[64];
	size_t mark = 0;
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000) % 1000);

	/* Leave room for the truncation marker and the closing "}\n". */
	jsonbuf_init(&jb, line, sizeof(line) - 32);
	jsonbuf_raw(&jb, "{\"ts\":");
	jsonbuf_str(&jb, ts);
	jsonbuf_raw(&jb, ",\"level\":");
	jsonbuf_str(&jb, level_names[level]);
	jsonbuf_raw(&jb, ",\"daemon\":");
	jsonbuf_str(&jb, log_daemon);
	mark = jb.len;
	jsonbuf_raw(&jb, ",\"event\":");
	jsonbuf_str(&jb, event);

	va_start(ap, event);
	for (;;) {
		const char *key = va_arg(ap, const char *);
		const char *val;

		if (!key || jb.overflow)
			break;
		val = va_arg(ap, const char *);
		mark = jb.len;
		jsonbuf_raw(&jb, ",");
		jsonbuf_str(&jb, key);
		jsonbuf_raw(&jb, ":");
		if (val)
			jsonbuf_str(&jb, val);
		else
			jsonbuf_raw(&jb, "null");
	}
	va_end(ap);

	/* Cut at the last complete field so the line stays valid JSON. */
	jb.cap = sizeof(line);
	if (jb.overflow) {
		jb.len = mark;
		jb.overflow = false;
		jsonbuf_raw(&jb, ",\"truncated\":true");
	}
	jsonbuf_raw(&jb, "}\n");
	(void)!write(STDERR_FILENO, line, jb.len);
}
