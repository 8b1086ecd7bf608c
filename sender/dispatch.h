/*
 * The curl loop: ready numbers are claimed in Postgres (one statement per
 * turn) and sent, as many at once as OTPFLOW_SMS_MAX_IN_FLIGHT allows
 * (counting the SMS answered 2xx whose 'sent' is not recorded yet, so a
 * crash can send again at most that many); a claim another sender holds
 * makes the record wait and claim again. Answers are reaped, classified
 * and turned into outcomes; SmsSent records once delivered are marked
 * 'sent' (one statement per turn), retried until the mark is stored: only
 * then are their numbers free and their offsets stored. A provider
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

/* Marks the delivered SmsSent 'sent', then releases their numbers and
 * finishes them (offsets); when Postgres fails they stay for the next
 * turn, however long it takes. */
void dispatch_flush_sent(struct sender *s);

#endif
