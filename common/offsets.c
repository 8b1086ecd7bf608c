/*
 * In-order offset tracking (see offsets.h). A partition owns the list of
 * its entries in consumption order; it lives on the assigned list until it
 * is revoked, then on the revoked list until its last entry is let go.
 */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

struct partition;

struct offsets_entry {
	struct offsets_entry *next;
	int64_t offset;
	bool done;
	struct partition *p;
};

struct partition {
	struct partition *next;
	char *topic;
	int32_t partition;
	struct offsets_entry *head, *tail;
	int refs; /* entries alive */
	bool revoked;
};

struct offsets {
	struct partition *assigned;
	struct partition *revoked; /* kept until their last entry is gone */
};

struct offsets *offsets_new(void)
{
	return calloc(1, sizeof(struct offsets));
}

static void partition_free(struct partition *p)
{
	while (p->head) {
		struct offsets_entry *e = p->head;

		p->head = e->next;
		free(e);
	}
	free(p->topic);
	free(p);
}

static void list_free(struct partition *p)
{
	while (p) {
		struct partition *next = p->next;

		partition_free(p);
		p = next;
	}
}

void offsets_free(struct offsets *o)
{
	if (!o)
		return;
	list_free(o->assigned);
	list_free(o->revoked);
	free(o);
}

static struct partition *partition_get(struct offsets *o, const char *topic,
				       int32_t partition)
{
	struct partition *p;

	for (p = o->assigned; p; p = p->next)
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->topic = strdup(topic);
	if (!p->topic) {
		free(p);
		return NULL;
	}
	p->partition = partition;
	p->next = o->assigned;
	o->assigned = p;
	return p;
}

/* A revoked partition goes once nothing refers to it any more. */
static void maybe_free(struct offsets *o, struct partition *p)
{
	if (!p->revoked || p->refs > 0)
		return;
	for (struct partition **pp = &o->revoked; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	partition_free(p);
}

struct offsets_entry *offsets_append(struct offsets *o, const char *topic,
				     int32_t partition, int64_t offset)
{
	struct partition *p = partition_get(o, topic, partition);
	struct offsets_entry *e;

	if (!p)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->offset = offset;
	e->p = p;
	if (p->tail)
		p->tail->next = e;
	else
		p->head = e;
	p->tail = e;
	p->refs++;
	return e;
}

bool offsets_done(struct offsets *o, struct offsets_entry *e,
		  struct offsets_commit *commit)
{
	struct partition *p = e->p;
	int64_t store = -1;

	e->done = true;
	while (p->head && p->head->done) {
		struct offsets_entry *h = p->head;

		store = h->offset + 1;
		p->head = h->next;
		if (!p->head)
			p->tail = NULL;
		free(h);
		p->refs--;
	}
	if (store >= 0 && !p->revoked) {
		commit->topic = p->topic;
		commit->partition = p->partition;
		commit->offset = store;
		return true;
	}
	maybe_free(o, p);
	return false;
}

void offsets_release(struct offsets *o, struct offsets_entry *e)
{
	struct offsets_commit ignored;

	/* On a revoked partition the entry only kept it alive. */
	if (e->p->revoked)
		offsets_done(o, e, &ignored);
}

void offsets_revoke(struct offsets *o, const char *topic, int32_t partition)
{
	for (struct partition **pp = &o->assigned; *pp; pp = &(*pp)->next) {
		struct partition *p = *pp;

		if (p->partition == partition && strcmp(p->topic, topic) == 0) {
			*pp = p->next;
			p->revoked = true;
			p->next = o->revoked;
			o->revoked = p;
			maybe_free(o, p);
			return;
		}
	}
}

const char *offsets_topic(const struct offsets_entry *e)
{
	return e->p->topic;
}

int32_t offsets_partition(const struct offsets_entry *e)
{
	return e->p->partition;
}

int64_t offsets_offset(const struct offsets_entry *e)
{
	return e->offset;
}

bool offsets_revoked(const struct offsets_entry *e)
{
	return e->p->revoked;
}
