/*
 * The curl loop: ready numbers are claimed in Postgres (one statement per
 * turn) and sent, as many at once as OTPFLOW_SMS_MAX_IN_FLIGHT allows;
 * answers are reaped, classified and turned into outcomes; SmsSent records
 * once delivered are marked 'sent' (one statement per turn). A provider
 * that refuses our configuration (401/403) pauses consumption; one probe
 * per OTPFLOW_SMS_PAUSE_PROBE detects the fix.
 */
#ifndef OTPFLOW_SENDER_DISPATCH_H
#define OTPFLOW_SENDER_DISPATCH_H

struct sender;

/* Starts as many ready numbers as the in-flight budget allows. */
void dispatch_ready(struct sender *s);

/* Takes every finished provider request from curl and handles its answer. */
void dispatch_reap(struct sender *s);

/* Marks the SmsSent delivered since the last call 'sent', then releases
 * their numbers and finishes them (offsets). */
void dispatch_flush_sent(struct sender *s);

#endif
