/*
 * Sharded, bounded per-client rate limiter. Clients are spread over a power
 * of two of shards by a keyed SipHash of the client text (keyed so a flood of
 * chosen addresses cannot pile into one chain). Each shard has its own mutex,
 * a slab of fixed-size entries allocated at creation, a chained hash table
 * of 32-bit slab indices, and an LRU list through the same entries; when the
 * slab is full the shard's least recently seen entry is reused, so a lookup,
 * an insert and an eviction are all O(1) and nothing is allocated after
 * ratelimit_new().
 *
 * An entry holds, per rule, the index of the current fixed window and the
 * counts of the current and previous windows: exactly the two keys Nhost's
 * sliding window reads from its store, without the store.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RL_NIL UINT32_MAX
#define RL_MAX_SHARDS 64
/* Fewer, larger shards below this many clients each, so that small tables
 * evict in true LRU order rather than per tiny shard. */
#define RL_MIN_PER_SHARD 256

struct rl_window {
	long long index; /* now_ms / interval of the current window */
	unsigned cur; /* requests counted in window index */
	unsigned prev; /* requests counted in window index - 1 */
};

struct rl_entry {
	uint32_t hash; /* low bits of the key's hash */
	uint32_t chain; /* next entry in the same bucket, or RL_NIL */
	uint32_t newer; /* LRU neighbours, RL_NIL at the ends */
	uint32_t older;
	char key[RATELIMIT_KEY_MAX + 1];
	struct rl_window win[]; /* one per rule */
};

struct rl_shard {
	_Alignas(64) pthread_mutex_t lock; /* shards do not share cache lines */
	unsigned char *slab; /* cap entries of rl->stride bytes */
	uint32_t *buckets; /* mask + 1 heads */
	uint32_t mask;
	uint32_t cap;
	uint32_t used; /* entries of slab in use: slab[0..used) */
	uint32_t newest;
	uint32_t oldest;
};

struct ratelimit {
	struct rl_shard *shards;
	size_t nshards; /* power of two */
	size_t nshards_init; /* shards whose mutex exists (for cleanup) */
	size_t stride; /* bytes per entry */
	size_t nrules;
	size_t max_clients;
	size_t memory;
	struct ratelimit_rule rules[RATELIMIT_MAX_RULES];
	unsigned char hashkey[crypto_shorthash_KEYBYTES];
};

static inline struct rl_entry *
rl_entry_at(const struct ratelimit *rl, const struct rl_shard *sh, uint32_t i)
{
	return (struct rl_entry *)(sh->slab + (size_t)i * rl->stride);
}

static void rl_lru_unlink(const struct ratelimit *rl, struct rl_shard *sh,
			  uint32_t i)
{
	struct rl_entry *e = rl_entry_at(rl, sh, i);

	if (e->newer != RL_NIL)
		rl_entry_at(rl, sh, e->newer)->older = e->older;
	else
		sh->newest = e->older;
	if (e->older != RL_NIL)
		rl_entry_at(rl, sh, e->older)->newer = e->newer;
	else
		sh->oldest = e->newer;
}

static void rl_lru_push(const struct ratelimit *rl, struct rl_shard *sh,
			uint32_t i)
{
	struct rl_entry *e = rl_entry_at(rl, sh, i);

	e->newer = RL_NIL;
	e->older = sh->newest;
	if (sh->newest != RL_NIL)
		rl_entry_at(rl, sh, sh->newest)->newer = i;
	else
		sh->oldest = i;
	sh->newest = i;
}

static void rl_chain_unlink(const struct ratelimit *rl, struct rl_shard *sh,
			    uint32_t i)
{
	struct rl_entry *e = rl_entry_at(rl, sh, i);
	uint32_t *p = &sh->buckets[e->hash & sh->mask];

	while (*p != i)
		p = &rl_entry_at(rl, sh, *p)->chain;
	*p = e->chain;
}

/* The entry for key in sh, created (evicting the oldest if full) if absent,
 * and marked most recently seen. Called with sh->lock held. */
static struct rl_entry *rl_lookup(const struct ratelimit *rl,
				  struct rl_shard *sh, const char *key,
				  size_t klen, uint32_t hash)
{
	uint32_t *head = &sh->buckets[hash & sh->mask];
	struct rl_entry *e;
	uint32_t i;

	for (i = *head; i != RL_NIL; i = e->chain) {
		e = rl_entry_at(rl, sh, i);
		if (e->hash == hash && memcmp(e->key, key, klen) == 0 &&
		    e->key[klen] == '\0') {
			if (sh->newest != i) {
				rl_lru_unlink(rl, sh, i);
				rl_lru_push(rl, sh, i);
			}
			return e;
		}
	}

	if (sh->used < sh->cap) {
		i = sh->used++;
	} else {
		i = sh->oldest;
		rl_chain_unlink(rl, sh, i);
		rl_lru_unlink(rl, sh, i);
	}
	e = rl_entry_at(rl, sh, i);
	e->hash = hash;
	memcpy(e->key, key, klen);
	e->key[klen] = '\0';
	/* Zero counts need no window index: rolling them forward is a no-op. */
	memset(e->win, 0, rl->nrules * sizeof(e->win[0]));
	e->chain = *head;
	*head = i;
	rl_lru_push(rl, sh, i);
	return e;
}

/* Moves w to the window containing now; returns the ms elapsed in it. */
static long long rl_roll(struct rl_window *w, long long interval, long long now)
{
	long long index = now / interval;

	if (index < w->index)
		return 0; /* another thread moved on: count as its start */
	if (index != w->index) {
		w->prev = index == w->index + 1 ? w->cur : 0;
		w->cur = 0;
		w->index = index;
	}
	return now % interval;
}

/*
 * Milliseconds until w allows a request, 0 if it allows one now, e being the
 * elapsed time in the current window. With L = burst, I = interval, c = cur
 * and p = min(prev, L), a request is allowed iff c < L and
 * floor(p * (I - e) / I) + c < L, i.e. p * (I - e) < (L - c) * I: exact in
 * integers, where Nhost rounds through float64.
 */
static long long rl_wait(const struct rl_window *w, unsigned burst,
			 long long interval, long long e)
{
	unsigned long long L = burst, I = (unsigned long long)interval;
	unsigned long long c = w->cur, p = w->prev < burst ? w->prev : burst;
	unsigned long long emin;

	if (c >= L) {
		/* Next window: prev becomes L, allowed from 1 ms into it. */
		return interval - e + 1;
	}
	if (p * (I - (unsigned long long)e) < (L - c) * I)
		return 0;
	/* Smallest e with p * e > (p - (L - c)) * I; p >= L - c >= 1 here. */
	emin = (p - (L - c)) * I / p + 1;
	if (emin > I)
		emin = I; /* next window starts with prev = c < L: allowed */
	return (long long)emin - e;
}

bool ratelimit_check(struct ratelimit *rl, const char *client, long long now_ms,
		     unsigned *retry_after_s)
{
	return ratelimit_check_rules(rl, client, ~0u, now_ms, retry_after_s);
}

bool ratelimit_check_rules(struct ratelimit *rl, const char *client,
			   unsigned rules, long long now_ms,
			   unsigned *retry_after_s)
{
	unsigned char digest[crypto_shorthash_BYTES];
	long long wait_ms = 0;
	struct rl_shard *sh;
	struct rl_entry *e;
	bool allowed = true;
	uint64_t h;
	size_t klen;

	if (!client)
		client = "";
	if (now_ms < 0)
		now_ms = 0;
	klen = strnlen(client, RATELIMIT_KEY_MAX);
	crypto_shorthash(digest, (const unsigned char *)client, klen,
			 rl->hashkey);
	memcpy(&h, digest, sizeof(h));
	sh = &rl->shards[(h >> 32) & (rl->nshards - 1)];

	pthread_mutex_lock(&sh->lock);
	e = rl_lookup(rl, sh, client, klen, (uint32_t)h);
	for (size_t r = 0; r < rl->nrules; r++) {
		const struct ratelimit_rule *rule = &rl->rules[r];
		struct rl_window *w = &e->win[r];
		long long elapsed, need;

		if (!(rules & (1u << r)))
			continue;
		elapsed = rl_roll(w, rule->interval_ms, now_ms);
		need = rl_wait(w, rule->burst, rule->interval_ms, elapsed);

		if (need == 0) {
			if (allowed)
				w->cur++;
		} else {
			allowed = false;
			if (need > wait_ms)
				wait_ms = need;
		}
	}
	pthread_mutex_unlock(&sh->lock);

	if (retry_after_s) {
		/* wait_ms <= 2^32 + 1, so the seconds fit in unsigned. */
		long long s = (wait_ms + 999) / 1000;

		*retry_after_s = allowed ? 0 : s < 1 ? 1 : (unsigned)s;
	}
	return allowed;
}

size_t ratelimit_clients(const struct ratelimit *rl)
{
	size_t n = 0;

	for (size_t i = 0; i < rl->nshards; i++) {
		struct rl_shard *sh = &rl->shards[i];

		pthread_mutex_lock(&sh->lock);
		n += sh->used;
		pthread_mutex_unlock(&sh->lock);
	}
	return n;
}

size_t ratelimit_memory(const struct ratelimit *rl)
{
	return rl->memory;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < rl->nshards_init; i++) {
		pthread_mutex_destroy(&rl->shards[i].lock);
		free(rl->shards[i].slab);
		free(rl->shards[i].buckets);
	}
	free(rl->shards);
	free(rl);
}

static int rl_shard_init(struct ratelimit *rl, struct rl_shard *sh,
			 uint32_t cap)
{
	size_t nbuckets = 1;

	while (nbuckets < cap)
		nbuckets <<= 1;
	memset(sh, 0, sizeof(*sh));
	if (pthread_mutex_init(&sh->lock, NULL) != 0)
		return -1;
	rl->nshards_init++;
	sh->cap = cap;
	sh->mask = (uint32_t)(nbuckets - 1);
	sh->newest = sh->oldest = RL_NIL;
	sh->slab = calloc(cap, rl->stride);
	sh->buckets = malloc(nbuckets * sizeof(*sh->buckets));
	if (!sh->slab || !sh->buckets)
		return -1;
	memset(sh->buckets, 0xff, nbuckets * sizeof(*sh->buckets));
	rl->memory +=
		(size_t)cap * rl->stride + nbuckets * sizeof(*sh->buckets);
	return 0;
}

static bool rl_args_valid(const struct ratelimit_rule *rules, size_t nrules,
			  size_t max_clients)
{
	if (!rules || nrules < 1 || nrules > RATELIMIT_MAX_RULES ||
	    max_clients < 1 || max_clients > RATELIMIT_MAX_CLIENTS)
		return false;
	for (size_t r = 0; r < nrules; r++)
		if (rules[r].burst > RATELIMIT_MAX_BURST ||
		    rules[r].interval_ms < 1 ||
		    rules[r].interval_ms > RATELIMIT_MAX_INTERVAL_MS)
			return false;
	return true;
}

struct ratelimit *ratelimit_new(const struct ratelimit_rule *rules,
				size_t nrules, size_t max_clients)
{
	struct ratelimit *rl = NULL;
	void *shards = NULL;
	size_t nshards = 1;
	bool ok = false;

	if (!rl_args_valid(rules, nrules, max_clients) || sodium_init() < 0)
		goto out;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		goto out;
	while (nshards < RL_MAX_SHARDS &&
	       nshards * 2 * RL_MIN_PER_SHARD <= max_clients)
		nshards <<= 1;
	if (posix_memalign(&shards, 64, nshards * sizeof(struct rl_shard)))
		goto out;
	rl->shards = shards;
	rl->nshards = nshards;
	rl->nrules = nrules;
	rl->max_clients = max_clients;
	memcpy(rl->rules, rules, nrules * sizeof(*rules));
	rl->stride =
		sizeof(struct rl_entry) + nrules * sizeof(struct rl_window);
	rl->memory = sizeof(*rl) + nshards * sizeof(struct rl_shard);
	crypto_shorthash_keygen(rl->hashkey);
	for (size_t i = 0; i < nshards; i++) {
		/* Caps add up to exactly max_clients. */
		uint32_t cap = (uint32_t)(max_clients / nshards +
					  (i < max_clients % nshards));

		if (rl_shard_init(rl, &rl->shards[i], cap) != 0)
			goto out;
	}
	ok = true;

out:
	if (!ok) {
		ratelimit_free(rl);
		rl = NULL;
	}
	return rl;
}
