/* The consumer side of the sender (see consume.h). */
#include "consume.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "emit.h"
#include "log.h"
#include "sender.h"

void consume_record(struct sender *s, const rd_kafka_message_t *rkm)
{
	struct job *j = job_new(s, rkm);
	char why[JOB_ERROR_SIZE];
	json_t *otp = NULL;

	if (!j) {
		daemon_fatal("taking a consumed record", "out of memory");
		return;
	}
	if (events_decode(s->ev, EVENTS_OTP_ISSUED, rkm->payload, rkm->len,
			  &otp, why, sizeof(why)) < 0 ||
	    job_parse(&j->rec, otp, why, sizeof(why)) < 0) {
		json_decref(otp);
		emit_dead(s, j, DEAD_UNDECODABLE, why);
		return;
	}
	json_decref(otp);
	j->rec.decodable = true;
	if (j->rec.due_ms > clock_wall_ms()) {
		if (!delay_push(&s->delayed, j->rec.due_ms, j))
			daemon_fatal("delaying a retry record",
				     "out of memory");
		return;
	}
	if (!phoneq_push(s->queues, &j->ql, j->rec.phone))
		daemon_fatal("queueing a record", "out of memory");
}

static void log_partitions(const char *what,
			   const rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		char pn[16];

		snprintf(pn, sizeof(pn), "%d", parts->elems[i].partition);
		LOG(LOG_INFO, what, "topic", parts->elems[i].topic, "partition",
		    pn);
	}
}

void consume_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		       rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct sender *s = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	/* Assigned or revoked, a partition starts afresh: records before
	 * the committed offset are somebody else's now, and jobs of a
	 * revoked partition never store offsets again. */
	for (int i = 0; i < parts->cnt; i++)
		offsets_revoke(s->offsets, parts->elems[i].topic,
			       parts->elems[i].partition);
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		log_partitions("partition assigned", parts);
		if (coop)
			rd_kafka_error_destroy(
				rd_kafka_incremental_assign(rk, parts));
		else
			rd_kafka_assign(rk, parts);
		if (s->consume_paused)
			rd_kafka_pause_partitions(rk, parts);
	} else {
		log_partitions("partition revoked", parts);
		if (coop)
			rd_kafka_error_destroy(
				rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
	}
}

void consume_pause(struct sender *s, bool paused)
{
	rd_kafka_topic_partition_list_t *l = NULL;

	if (s->consume_paused == paused)
		return;
	if (rd_kafka_assignment(s->consumer, &l) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR &&
	    l) {
		if (paused)
			rd_kafka_pause_partitions(s->consumer, l);
		else
			rd_kafka_resume_partitions(s->consumer, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	s->consume_paused = paused;
}

void consume_backpressure(struct sender *s)
{
	bool want = s->draining || atomic_load(&s->paused_config) ||
		    s->pending >= s->max_pending;

	if (!want && s->consume_paused && s->pending > s->max_pending / 2)
		want = true; /* hysteresis */
	consume_pause(s, want);
}
