/* delay: earliest first, nothing before its time, grows past its first
 * capacity. */
#include <stdint.h>

#include "check.h"
#include "delay.h"

int main(void)
{
	struct delay_heap h;
	int v[1000];
	int64_t due, last = -1;
	int order_ok = 1, n = 0;

	delay_init(&h);
	CHECK(!delay_next(&h, &due));
	CHECK(delay_pop(&h) == NULL);
	CHECK(delay_push(&h, 30, &v[0]));
	CHECK(delay_push(&h, 10, &v[1]));
	CHECK(delay_push(&h, 20, &v[2]));
	CHECK(delay_next(&h, &due));
	CHECK_INT(due, 10);
	CHECK(delay_pop_due(&h, 9) == NULL);
	CHECK(delay_pop_due(&h, 10) == &v[1]);
	CHECK(delay_pop_due(&h, 25) == &v[2]);
	CHECK(delay_pop_due(&h, 25) == NULL);
	CHECK(delay_pop(&h) == &v[0]); /* not due, taken anyway */
	CHECK_INT(h.len, 0);
	/* 1000 pseudo-random times come out sorted. */
	for (int i = 0; i < 1000; i++) {
		v[i] = (int)((i * 7919u) % 1000);
		CHECK(delay_push(&h, v[i], &v[i]));
	}
	while (delay_next(&h, &due)) {
		int *p = delay_pop(&h);

		if (*p != due || due < last)
			order_ok = 0;
		last = due;
		n++;
	}
	CHECK(order_ok);
	CHECK_INT(n, 1000);
	delay_free(&h);
	return check_done("delay");
}
