/* phoneq: one item per number at a time, numbers in turn, a finished
 * number hands over to its next item, a retried one goes first. */
#include <stdlib.h>

#include "check.h"
#include "phoneq.h"

struct item {
	struct phoneq_link l;
	int id;
};

static int id_of(struct phoneq_link *l)
{
	return l ? ((struct item *)l)->id : -1;
}

static int dropped;

static void drop(struct phoneq_link *l, void *arg)
{
	(void)arg;
	dropped += ((struct item *)l)->id;
}

int main(void)
{
	struct phoneqs *qs = malloc(sizeof(*qs));
	struct item it[6];
	struct phoneq_link *a, *b;

	phoneqs_init(qs);
	for (int i = 0; i < 6; i++)
		it[i].id = i;
	CHECK(!phoneq_any_ready(qs));
	CHECK(phoneq_take(qs) == NULL);
	/* Two items for A, one for B, one for C. */
	CHECK(phoneq_push(qs, &it[0].l, "+A"));
	CHECK(phoneq_push(qs, &it[1].l, "+A"));
	CHECK(phoneq_push(qs, &it[2].l, "+B"));
	CHECK(phoneq_push(qs, &it[3].l, "+C"));
	CHECK_INT(qs->numbers, 3);
	/* Numbers in turn: A's head, then B, then C; A's second waits. */
	a = phoneq_take(qs);
	CHECK_INT(id_of(a), 0);
	CHECK_INT(id_of(phoneq_take(qs)), 2);
	CHECK_INT(id_of(phoneq_take(qs)), 3);
	CHECK(phoneq_take(qs) == NULL); /* A is busy */
	/* A's first item is over: its second becomes ready. */
	phoneq_done(qs, a);
	CHECK(a->q == NULL);
	b = phoneq_take(qs);
	CHECK_INT(id_of(b), 1);
	/* Put back: A goes in front of a newly ready number. */
	CHECK(phoneq_push(qs, &it[4].l, "+D"));
	phoneq_again(qs, b);
	CHECK_INT(id_of(phoneq_take(qs)), 1);
	CHECK_INT(id_of(phoneq_take(qs)), 4);
	/* Finished numbers are forgotten. */
	phoneq_done(qs, &it[1].l);
	phoneq_done(qs, &it[2].l);
	phoneq_done(qs, &it[3].l);
	phoneq_done(qs, &it[4].l);
	phoneq_done(qs, &it[4].l); /* no longer queued: no-op */
	CHECK_INT(qs->numbers, 0);
	CHECK(!phoneq_any_ready(qs));
	/* Clear: waiting items are dropped, a busy head is kept. */
	CHECK(phoneq_push(qs, &it[0].l, "+A"));
	CHECK(phoneq_push(qs, &it[5].l, "+A"));
	CHECK(phoneq_push(qs, &it[3].l, "+C"));
	CHECK_INT(id_of(phoneq_take(qs)), 0);
	dropped = 0;
	phoneqs_clear(qs, drop, NULL);
	CHECK_INT(dropped, 5 + 3);
	CHECK(it[0].l.q == NULL);
	CHECK_INT(qs->numbers, 0);
	CHECK(!phoneq_any_ready(qs));
	/* A key longer than the table's is cut, consistently. */
	{
		char longkey[200];

		for (int i = 0; i < 199; i++)
			longkey[i] = '1';
		longkey[199] = '\0';
		CHECK(phoneq_push(qs, &it[1].l, longkey));
		CHECK(phoneq_push(qs, &it[2].l, longkey));
		CHECK_INT(qs->numbers, 1);
		phoneqs_clear(qs, drop, NULL);
	}
	free(qs);
	return check_done("phoneq");
}
