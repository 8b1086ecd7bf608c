/* The consumer side of the sender (see consume.h). */
#include "consume.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "emit.h"
#include "log.h"
#include "outcome.h"
#include "sender.h"

#define DECODE_WAIT_FIRST_MS 250
#define DECODE_WAIT_MAX_MS 10000

/* Queued behind its number, or delayed while its retry time has not come. */
static void schedule(struct sender *s, struct job *j)
{
	if (j->rec.due_ms > clock_wall_ms()) {
		if (!delay_push(&s->delayed, j->rec.due_ms, j))
			daemon_fatal("delaying a retry record",
				     "out of memory");
		return;
	}
	if (!phoneq_push(s->queues, &j->ql, j->rec.phone))
		daemon_fatal("queueing a record", "out of memory");
}

/* Cannot decode now: back into the delay heap, waiting longer each time. */
static void wait_for_schema(struct sender *s, struct job *j, const char *why)
{
	int64_t wait = DECODE_WAIT_FIRST_MS
		       << (j->rec.decode_waits < 10 ? j->rec.decode_waits : 10);

	if (wait > DECODE_WAIT_MAX_MS)
		wait = DECODE_WAIT_MAX_MS;
	if (!j->rec.undecoded) {
		j->rec.undecoded = true;
		s->undecoded++;
		metrics_set(s->m_undecoded, s->undecoded);
		job_log(LOG_WARN, j,
			"cannot decode the record now: waiting for the schema "
			"registry",
			"error", why, NULL, NULL);
	}
	j->rec.decode_waits++;
	if (!delay_push(&s->delayed, clock_wall_ms() + wait, j))
		daemon_fatal("delaying a record", "out of memory");
}

/* Decodes and checks the job's record, then schedules it. */
static void take(struct sender *s, struct job *j)
{
	char why[JOB_ERROR_SIZE];
	json_t *otp = NULL;
	int rc = events_decode(s->ev, EVENTS_OTP_ISSUED, j->rec.raw,
			       j->rec.raw_len, &otp, why, sizeof(why));

	if (rc == EVENTS_RETRY_LATER) {
		wait_for_schema(s, j, why);
		return;
	}
	if (j->rec.undecoded) {
		j->rec.undecoded = false;
		s->undecoded--;
		metrics_set(s->m_undecoded, s->undecoded);
		if (rc == 0)
			job_log(LOG_INFO, j, "record decoded after waiting",
				NULL, NULL, NULL, NULL);
	}
	if (rc < 0 || job_parse(&j->rec, otp, why, sizeof(why)) < 0) {
		json_decref(otp);
		if (j->rec.raw_len > OUTCOME_RAW_MAX) {
			size_t n = strlen(why);

			snprintf(why + n, sizeof(why) - n,
				 " (value of %zu bytes: the first %u kept in "
				 "raw_value)",
				 j->rec.raw_len, OUTCOME_RAW_MAX);
		}
		emit_dead(s, j, DEAD_UNDECODABLE, why);
		return;
	}
	json_decref(otp);
	j->rec.decodable = true;
	schedule(s, j);
}

void consume_record(struct sender *s, const rd_kafka_message_t *rkm)
{
	struct job *j = job_new(s, rkm);

	if (!j) {
		daemon_fatal("taking a consumed record", "out of memory");
		return;
	}
	take(s, j);
}

void consume_due(struct sender *s, struct job *j)
{
	if (offsets_revoked(j->oe)) {
		/* Its new owner redelivers it. */
		job_abandon(j);
		return;
	}
	if (j->rec.undecoded) {
		take(s, j);
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

/* Newly assigned partitions of a paused source start paused. */
static void pause_new(struct sender *s, rd_kafka_t *rk,
		      const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(parts->cnt);

	for (int i = 0; i < parts->cnt; i++)
		if (s->paused[consume_source(s, parts->elems[i].topic)])
			rd_kafka_topic_partition_list_add(
				l, parts->elems[i].topic,
				parts->elems[i].partition);
	if (l->cnt)
		rd_kafka_pause_partitions(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
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
		pause_new(s, rk, parts);
	} else {
		log_partitions("partition revoked", parts);
		if (coop)
			rd_kafka_error_destroy(
				rd_kafka_incremental_unassign(rk, parts));
		else
			rd_kafka_assign(rk, NULL);
	}
}

enum source consume_source(const struct sender *s, const char *topic)
{
	return strcmp(topic, s->topic_retry) == 0 ? SOURCE_RETRY : SOURCE_FRESH;
}

/* The assigned partitions of one source's topic. */
static rd_kafka_topic_partition_list_t *assigned(struct sender *s,
						 enum source src)
{
	rd_kafka_topic_partition_list_t *all = NULL, *mine;

	if (rd_kafka_assignment(s->consumer, &all) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR ||
	    !all)
		return NULL;
	mine = rd_kafka_topic_partition_list_new(all->cnt);
	for (int i = 0; i < all->cnt; i++)
		if (consume_source(s, all->elems[i].topic) == src)
			rd_kafka_topic_partition_list_add(
				mine, all->elems[i].topic,
				all->elems[i].partition);
	rd_kafka_topic_partition_list_destroy(all);
	return mine;
}

static void pause_source(struct sender *s, enum source src, bool paused)
{
	rd_kafka_topic_partition_list_t *l;

	if (s->paused[src] == paused)
		return;
	l = assigned(s, src);
	if (l) {
		if (paused)
			rd_kafka_pause_partitions(s->consumer, l);
		else
			rd_kafka_resume_partitions(s->consumer, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	s->paused[src] = paused;
}

void consume_pause(struct sender *s, bool paused)
{
	for (int src = 0; src < SOURCE__COUNT; src++)
		pause_source(s, src, paused);
}

void consume_backpressure(struct sender *s)
{
	bool all = s->draining || atomic_load(&s->paused_config);

	/* Each source against its own budget: retries waiting out their
	 * backoff never hold fresh codes back. */
	for (int src = 0; src < SOURCE__COUNT; src++) {
		bool want = all || s->held[src] >= s->max_held[src];

		if (!want && s->paused[src] &&
		    s->held[src] > s->max_held[src] / 2)
			want = true; /* hysteresis */
		pause_source(s, src, want);
	}
}
