/*
 * Per-number queues and the ready list: at most one provider request in
 * flight per phone number, and numbers served in turn, so one slow or
 * failing number never delays the others (docs/api.md §4 "Concurrency").
 *
 * Items are links embedded in the caller's structures (struct job). A
 * number is "ready" when it has waiting items and none in progress; the
 * caller takes the head of the next ready number (which makes the number
 * busy), and later either finishes it (the number's next item becomes
 * ready) or puts it back in front. Pure data structure, not thread-safe.
 */
#ifndef OTPFLOW_SENDER_PHONEQ_H
#define OTPFLOW_SENDER_PHONEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PHONEQ_BUCKETS 16384
#define PHONEQ_KEY_SIZE 64

struct phoneq;

/* Embedded in an item; zeroed while the item is in no queue. */
struct phoneq_link {
	struct phoneq_link *next;
	struct phoneq *q;
};

struct phoneqs {
	struct phoneq *buckets[PHONEQ_BUCKETS];
	struct phoneq *ready_head, *ready_tail;
	size_t numbers; /* queues alive */
};

/* Zeroes q: no numbers, nothing ready. */
void phoneqs_init(struct phoneqs *qs);

/*
 * Appends l to the queue of phone (cut at PHONEQ_KEY_SIZE - 1 bytes);
 * the number becomes ready if it was idle. false when out of memory (l is
 * then in no queue).
 */
bool phoneq_push(struct phoneqs *qs, struct phoneq_link *l, const char *phone);

/* True while some number is ready. */
bool phoneq_any_ready(const struct phoneqs *qs);

/*
 * The head item of the next ready number, which is now busy (it is not
 * ready again before phoneq_done or phoneq_again); NULL when none is ready.
 */
struct phoneq_link *phoneq_take(struct phoneqs *qs);

/*
 * l, the busy head of its number, is over: it leaves the queue, and the
 * number's next item (if any) becomes ready at the back of the list. No-op
 * for a link in no queue.
 */
void phoneq_done(struct phoneqs *qs, struct phoneq_link *l);

/* l, the busy head of its number, goes back: the number is ready again, at
 * the front of the list, with l still its head. */
void phoneq_again(struct phoneqs *qs, struct phoneq_link *l);

/*
 * Empties every queue: each waiting item (not a busy head) is handed to
 * drop(link, arg) (which may free it); busy heads are unlinked and kept by
 * their owners. The structure is empty afterwards.
 */
void phoneqs_clear(struct phoneqs *qs,
		   void (*drop)(struct phoneq_link *l, void *arg), void *arg);

#endif
