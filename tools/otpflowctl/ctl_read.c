/*
 * Reading a topic once through: every record from the start of each
 * partition up to the end offsets it has when the read starts (records
 * produced meanwhile are left for the next run). Used by replay (the dead
 * letters) and stats (dead letters by reason).
 */
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"
#include "signals.h"

#define TIMEOUT_MS 30000

/* The partitions of topic with their end offsets now (what to read). */
static rd_kafka_topic_partition_list_t *
snapshot(rd_kafka_t *rk, const char *topic, char *errstr, size_t size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err =
		rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);

	rd_kafka_topic_destroy(rkt);
	if (err || md->topics[0].err) {
		err = err ? err : md->topics[0].err;
		if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			parts = rd_kafka_topic_partition_list_new(0);
		else
			snprintf(errstr, size, "%s: %s", topic,
				 rd_kafka_err2str(err));
		goto out;
	}
	parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int p = 0; p < md->topics[0].partition_cnt; p++) {
		int64_t low = 0, high = 0;
		rd_kafka_topic_partition_t *tp;

		err = rd_kafka_query_watermark_offsets(
			rk, topic, md->topics[0].partitions[p].id, &low, &high,
			TIMEOUT_MS);
		if (err) {
			snprintf(errstr, size, "%s: %s", topic,
				 rd_kafka_err2str(err));
			rd_kafka_topic_partition_list_destroy(parts);
			parts = NULL;
			goto out;
		}
		if (high <= low)
			continue; /* nothing to read there */
		tp = rd_kafka_topic_partition_list_add(
			parts, topic, md->topics[0].partitions[p].id);
		tp->offset = low;
		/* The end offset travels in the opaque. */
		tp->opaque = (void *)(intptr_t)high;
	}
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	return parts;
}

int ctl_read_topic(rd_kafka_t *consumer, const char *topic, ctl_record_fn fn,
		   void *arg, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *parts =
		snapshot(consumer, topic, errstr, errstr_size);
	int left;

	if (!parts)
		return -1;
	left = parts->cnt;
	if (left)
		rd_kafka_assign(consumer, parts);
	while (left > 0 && !signals_stop_requested()) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(consumer, 500);

		if (!rkm) {
			fn(arg, NULL);
			continue;
		}
		if (!rkm->err) {
			rd_kafka_topic_partition_t *tp =
				rd_kafka_topic_partition_list_find(
					parts, topic, rkm->partition);
			int64_t end = tp ? (intptr_t)tp->opaque : 0;

			if (tp && rkm->offset < end)
				fn(arg, rkm);
			if (tp && rkm->offset + 1 >= end && tp->offset != -1) {
				tp->offset = -1; /* done with this partition */
				left--;
			}
		} else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			fprintf(stderr, "otpflowctl: %s\n",
				rd_kafka_message_errstr(rkm));
		}
		rd_kafka_message_destroy(rkm);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	return 0;
}
