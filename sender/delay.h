/*
 * The delay heap: items that must not be handled before a time (retry
 * records whose backoff has not passed), earliest first. A binary min-heap
 * of (due, pointer) pairs that grows by doubling. Pure data structure, not
 * thread-safe; the caller owns the items.
 */
#ifndef OTPFLOW_SENDER_DELAY_H
#define OTPFLOW_SENDER_DELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct delay_item {
	int64_t due;
	void *item;
};

struct delay_heap {
	struct delay_item *v;
	size_t len, cap;
};

/* An empty heap (a zeroed struct is one too). */
void delay_init(struct delay_heap *h);

/* Frees the heap's array (not the items). */
void delay_free(struct delay_heap *h);

/* Adds item, due at `due`; false when out of memory (nothing added). */
bool delay_push(struct delay_heap *h, int64_t due, void *item);

/* The earliest due time; false when the heap is empty. */
bool delay_next(const struct delay_heap *h, int64_t *due);

/* Removes and returns the earliest item if it is due at now (due <= now);
 * NULL otherwise. */
void *delay_pop_due(struct delay_heap *h, int64_t now);

/* Removes and returns the earliest item, due or not; NULL when empty. */
void *delay_pop(struct delay_heap *h);

#endif
