/*
 * Clocks, in one place: wall time for what is stored or sent (timestamps in
 * events and rows), monotonic time for deadlines and durations (immune to
 * the wall clock being set).
 */
#ifndef OTPFLOW_CLOCK_H
#define OTPFLOW_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* Milliseconds on the monotonic clock (arbitrary origin). */
int64_t clock_mono_ms(void);

/* Nanoseconds on the monotonic clock, for short durations. */
int64_t clock_mono_ns(void);

/* Seconds elapsed since a clock_mono_ns() reading. */
double clock_seconds_since(int64_t mono_ns);

/* Sleeps ms milliseconds (nothing for ms <= 0); a signal may cut it short. */
void clock_sleep_ms(int64_t ms);

#endif
