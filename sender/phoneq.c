/*
 * Per-number queues (see phoneq.h): a hash table of numbers (FNV-1a,
 * chained) and a FIFO of ready numbers. A number's queue is freed as soon
 * as it holds nothing, so memory follows the records held, not the numbers
 * ever seen.
 */
#include "phoneq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct phoneq {
	struct phoneq *hnext; /* hash bucket chain */
	struct phoneq *rnext; /* ready list */
	struct phoneq_link *head, *tail;
	bool busy, ready;
	char phone[PHONEQ_KEY_SIZE];
};

void phoneqs_init(struct phoneqs *qs)
{
	memset(qs, 0, sizeof(*qs));
}

static uint32_t bucket_of(const char *p)
{
	uint32_t h = 2166136261u;

	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % PHONEQ_BUCKETS;
}

static struct phoneq *queue_get(struct phoneqs *qs, const char *phone)
{
	char key[PHONEQ_KEY_SIZE];
	uint32_t b;
	struct phoneq *q;

	snprintf(key, sizeof(key), "%s", phone);
	b = bucket_of(key);
	for (q = qs->buckets[b]; q; q = q->hnext)
		if (strcmp(q->phone, key) == 0)
			return q;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	memcpy(q->phone, key, sizeof(key));
	q->hnext = qs->buckets[b];
	qs->buckets[b] = q;
	qs->numbers++;
	return q;
}

static void queue_remove(struct phoneqs *qs, struct phoneq *q)
{
	uint32_t b = bucket_of(q->phone);

	for (struct phoneq **pp = &qs->buckets[b]; *pp; pp = &(*pp)->hnext)
		if (*pp == q) {
			*pp = q->hnext;
			break;
		}
	qs->numbers--;
	free(q);
}

static void ready_push(struct phoneqs *qs, struct phoneq *q, bool front)
{
	if (q->ready || q->busy || !q->head)
		return;
	q->ready = true;
	q->rnext = NULL;
	if (front) {
		q->rnext = qs->ready_head;
		qs->ready_head = q;
		if (!qs->ready_tail)
			qs->ready_tail = q;
	} else {
		if (qs->ready_tail)
			qs->ready_tail->rnext = q;
		else
			qs->ready_head = q;
		qs->ready_tail = q;
	}
}

bool phoneq_push(struct phoneqs *qs, struct phoneq_link *l, const char *phone)
{
	struct phoneq *q = queue_get(qs, phone);

	l->next = NULL;
	l->q = NULL;
	if (!q)
		return false;
	l->q = q;
	if (q->tail)
		q->tail->next = l;
	else
		q->head = l;
	q->tail = l;
	ready_push(qs, q, false);
	return true;
}

bool phoneq_any_ready(const struct phoneqs *qs)
{
	return qs->ready_head != NULL;
}

struct phoneq_link *phoneq_take(struct phoneqs *qs)
{
	struct phoneq *q = qs->ready_head;

	if (!q)
		return NULL;
	qs->ready_head = q->rnext;
	if (!qs->ready_head)
		qs->ready_tail = NULL;
	q->ready = false;
	q->rnext = NULL;
	q->busy = true;
	return q->head;
}

void phoneq_done(struct phoneqs *qs, struct phoneq_link *l)
{
	struct phoneq *q = l->q;

	if (!q)
		return;
	q->head = l->next;
	if (!q->head)
		q->tail = NULL;
	q->busy = false;
	l->q = NULL;
	l->next = NULL;
	if (q->head)
		ready_push(qs, q, false);
	else if (!q->ready)
		queue_remove(qs, q);
}

void phoneq_again(struct phoneqs *qs, struct phoneq_link *l)
{
	l->q->busy = false;
	ready_push(qs, l->q, true);
}

void phoneqs_clear(struct phoneqs *qs,
		   void (*drop)(struct phoneq_link *l, void *arg), void *arg)
{
	for (size_t b = 0; b < PHONEQ_BUCKETS; b++) {
		while (qs->buckets[b]) {
			struct phoneq *q = qs->buckets[b];
			struct phoneq_link *l = q->head;

			qs->buckets[b] = q->hnext;
			while (l) {
				struct phoneq_link *next = l->next;
				bool busy_head = q->busy && l == q->head;

				l->q = NULL;
				l->next = NULL;
				if (!busy_head)
					drop(l, arg);
				l = next;
			}
			free(q);
		}
	}
	qs->ready_head = qs->ready_tail = NULL;
	qs->numbers = 0;
}
