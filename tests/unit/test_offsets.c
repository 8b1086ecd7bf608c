/* offsets: the stored offset follows the last contiguous finished record;
 * revoked partitions store nothing and go once their entries are let go. */
#include <stdint.h>

#include "check.h"
#include "offsets.h"

static void in_order_and_out_of_order(void)
{
	struct offsets *o = offsets_new();
	struct offsets_entry *e[4];
	struct offsets_commit c;

	for (int i = 0; i < 4; i++)
		e[i] = offsets_append(o, "t", 0, 10 + i);
	CHECK_STR(offsets_topic(e[2]), "t");
	CHECK_INT(offsets_partition(e[2]), 0);
	CHECK_INT(offsets_offset(e[2]), 12);
	/* Out of order: nothing to store until the first is done. */
	CHECK(!offsets_done(o, e[2], &c));
	CHECK(!offsets_done(o, e[1], &c));
	CHECK(offsets_done(o, e[0], &c));
	CHECK_STR(c.topic, "t");
	CHECK_INT(c.partition, 0);
	CHECK_INT(c.offset, 13); /* 10, 11, 12 done */
	CHECK(offsets_done(o, e[3], &c));
	CHECK_INT(c.offset, 14);
	offsets_free(o);
}

static void partitions_are_independent(void)
{
	struct offsets *o = offsets_new();
	struct offsets_entry *a = offsets_append(o, "t", 0, 5);
	struct offsets_entry *b = offsets_append(o, "t", 1, 7);
	struct offsets_entry *r = offsets_append(o, "retry", 0, 3);
	struct offsets_commit c;

	CHECK(offsets_done(o, b, &c));
	CHECK_INT(c.partition, 1);
	CHECK_INT(c.offset, 8);
	CHECK(offsets_done(o, r, &c));
	CHECK_STR(c.topic, "retry");
	CHECK_INT(c.offset, 4);
	CHECK(offsets_done(o, a, &c));
	CHECK_INT(c.offset, 6);
	offsets_free(o);
}

static void released_entry_blocks_later_offsets(void)
{
	struct offsets *o = offsets_new();
	struct offsets_entry *a = offsets_append(o, "t", 0, 1);
	struct offsets_entry *b = offsets_append(o, "t", 0, 2);
	struct offsets_commit c;

	/* a will be redelivered: nothing past it may be stored. */
	offsets_release(o, a);
	CHECK(!offsets_done(o, b, &c));
	offsets_free(o); /* frees a's entry, still held */
}

static void revoked_partition_stores_nothing(void)
{
	struct offsets *o = offsets_new();
	struct offsets_entry *a = offsets_append(o, "t", 0, 1);
	struct offsets_entry *b = offsets_append(o, "t", 0, 2);
	struct offsets_entry *fresh;
	struct offsets_commit c;

	offsets_revoke(o, "t", 0);
	offsets_revoke(o, "t", 9); /* unknown: ignored */
	CHECK(offsets_revoked(a) && offsets_revoked(b));
	/* The same partition assigned again starts afresh. */
	fresh = offsets_append(o, "t", 0, 1);
	CHECK(!offsets_revoked(fresh));
	CHECK(!offsets_done(o, a, &c));
	offsets_release(o, b); /* the last entry: the old partition goes */
	CHECK(offsets_done(o, fresh, &c));
	CHECK_INT(c.offset, 2);
	offsets_free(o);
}

static void many_entries(void)
{
	struct offsets *o = offsets_new();
	struct offsets_entry *e[1000];
	struct offsets_commit c;
	int stored = 0;

	for (int i = 0; i < 1000; i++)
		e[i] = offsets_append(o, "t", 3, i);
	/* Finish the odd ones first, then the even ones backwards. */
	for (int i = 1; i < 1000; i += 2)
		CHECK(!offsets_done(o, e[i], &c));
	for (int i = 998; i >= 0; i -= 2)
		if (offsets_done(o, e[i], &c))
			stored++;
	CHECK_INT(stored, 1);
	CHECK_INT(c.offset, 1000);
	offsets_free(o);
}

int main(void)
{
	in_order_and_out_of_order();
	partitions_are_independent();
	released_entry_blocks_later_offsets();
	revoked_partition_stores_nothing();
	many_entries();
	offsets_free(NULL);
	return check_done("offsets");
}
