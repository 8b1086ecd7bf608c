/*
 * In-order offset tracking for a consumer that finishes its records out of
 * order (the sender: one record's SMS may take seconds while the next one's
 * takes milliseconds). Records are appended per partition as they are
 * consumed and marked done in any order; the offset to store is the one
 * after the last record of an unbroken run of done records from the start,
 * so a crash never skips a record whose effects are not durable yet.
 *
 * A revoked partition is detached: its entries stay valid until their
 * owners let go of them, but no offset is ever stored for it again (the
 * partition's new owner redelivers what was not stored). Pure data
 * structure: the caller stores the offsets it is given (rd_kafka_offsets_
 * store). Not thread-safe.
 */
#ifndef OTPFLOW_OFFSETS_H
#define OTPFLOW_OFFSETS_H

#include <stdbool.h>
#include <stdint.h>

struct offsets;
struct offsets_entry;

/* What to store after offsets_done: the next offset to consume. */
struct offsets_commit {
	const char *topic; /* valid until the next call on the tracker */
	int32_t partition;
	int64_t offset;
};

/* A new, empty tracker (NULL when out of memory); offsets_free frees it. */
struct offsets *offsets_new(void);

/* Frees every partition and entry still held (NULL-safe). */
void offsets_free(struct offsets *o);

/*
 * Appends the record at (topic, partition, offset), consumed in this
 * order. Returns the entry, owned by the tracker and valid until
 * offsets_done or offsets_release; NULL when out of memory.
 */
struct offsets_entry *offsets_append(struct offsets *o, const char *topic,
				     int32_t partition, int64_t offset);

/*
 * The entry's record is finished. Returns true with *commit filled when
 * an offset can be stored now (the partition is still assigned and the
 * records before it are done too). e is invalid afterwards.
 */
bool offsets_done(struct offsets *o, struct offsets_entry *e,
		  struct offsets_commit *commit);

/*
 * The entry's record will be redelivered (drain, revocation). On a revoked
 * partition the entry is simply forgotten; on an assigned one it stays
 * unfinished, so no later offset of the partition is stored past it. e is
 * invalid afterwards either way.
 */
void offsets_release(struct offsets *o, struct offsets_entry *e);

/*
 * Detaches (topic, partition): its entries stay valid, no offset is stored
 * for them any more, and the next offsets_append for it starts a fresh
 * partition. Unknown partitions are ignored.
 */
void offsets_revoke(struct offsets *o, const char *topic, int32_t partition);

/* Where the entry's record came from (the topic lives as long as e). */
const char *offsets_topic(const struct offsets_entry *e);
int32_t offsets_partition(const struct offsets_entry *e);
int64_t offsets_offset(const struct offsets_entry *e);

/* True once the entry's partition was revoked. */
bool offsets_revoked(const struct offsets_entry *e);

#endif
