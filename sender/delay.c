/* The delay heap (see delay.h). */
#include "delay.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CAP 256

void delay_init(struct delay_heap *h)
{
	memset(h, 0, sizeof(*h));
}

void delay_free(struct delay_heap *h)
{
	free(h->v);
	delay_init(h);
}

bool delay_push(struct delay_heap *h, int64_t due, void *item)
{
	size_t i;

	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : FIRST_CAP;
		struct delay_item *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return false;
		h->v = v;
		h->cap = cap;
	}
	i = h->len++;
	while (i > 0 && h->v[(i - 1) / 2].due > due) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = (struct delay_item){ due, item };
	return true;
}

bool delay_next(const struct delay_heap *h, int64_t *due)
{
	if (!h->len)
		return false;
	*due = h->v[0].due;
	return true;
}

void *delay_pop(struct delay_heap *h)
{
	struct delay_item last;
	void *top;
	size_t i = 0;

	if (!h->len)
		return NULL;
	top = h->v[0].item;
	last = h->v[--h->len];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->len)
			break;
		if (c + 1 < h->len && h->v[c + 1].due < h->v[c].due)
			c++;
		if (h->v[c].due >= last.due)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->len)
		h->v[i] = last;
	return top;
}

void *delay_pop_due(struct delay_heap *h, int64_t now)
{
	if (!h->len || h->v[0].due > now)
		return NULL;
	return delay_pop(h);
}
