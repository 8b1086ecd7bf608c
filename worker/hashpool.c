/*
 * Hash pool: threads sleep on a condition variable; hashpool_start
 * publishes a batch and returns, every pool thread claims jobs by an atomic
 * index, and hashpool_wait joins in (the caller claims jobs too) until the
 * last job is counted done.
 */
#include "hashpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct hashpool {
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	pthread_t *threads;
	unsigned nthreads;
	int cost;
	unsigned long generation; /* bumped per batch */
	bool stop;
	struct hash_job *jobs;
	size_t njobs;
	atomic_size_t next;
	size_t finished; /* under lock */
	unsigned active; /* pool threads inside work(), under lock */
};

static void work(struct hashpool *hp, struct hash_job *jobs, size_t n)
{
	size_t mine = 0;

	for (;;) {
		size_t i = atomic_fetch_add(&hp->next, 1);
		if (i >= n)
			break;
		jobs[i].ok = otp_hash(jobs[i].code, hp->cost, jobs[i].hash);
		mine++;
	}
	pthread_mutex_lock(&hp->lock);
	hp->finished += mine;
	pthread_cond_broadcast(&hp->done);
	pthread_mutex_unlock(&hp->lock);
}

static void *thread_main(void *arg)
{
	struct hashpool *hp = arg;
	unsigned long seen = 0;

	pthread_mutex_lock(&hp->lock);
	for (;;) {
		while (!hp->stop && hp->generation == seen)
			pthread_cond_wait(&hp->wake, &hp->lock);
		if (hp->stop)
			break;
		seen = hp->generation;
		{
			struct hash_job *jobs = hp->jobs;
			size_t n = hp->njobs;

			/* Counted so that the batch is not freed under a
			 * thread that woke late (see hashpool_wait). */
			hp->active++;
			pthread_mutex_unlock(&hp->lock);
			work(hp, jobs, n);
			pthread_mutex_lock(&hp->lock);
			hp->active--;
			pthread_cond_broadcast(&hp->done);
		}
	}
	pthread_mutex_unlock(&hp->lock);
	return NULL;
}

struct hashpool *hashpool_new(unsigned threads, int cost)
{
	struct hashpool *hp = calloc(1, sizeof(*hp));

	if (!hp)
		return NULL;
	pthread_mutex_init(&hp->lock, NULL);
	pthread_cond_init(&hp->wake, NULL);
	pthread_cond_init(&hp->done, NULL);
	hp->cost = cost;
	hp->nthreads = threads ? threads : 1;
	hp->threads = calloc(hp->nthreads, sizeof(pthread_t));
	if (!hp->threads)
		goto fail;
	for (unsigned i = 0; i < hp->nthreads; i++) {
		if (pthread_create(&hp->threads[i], NULL, thread_main, hp)) {
			hp->nthreads = i;
			goto fail;
		}
	}
	return hp;
fail:
	hashpool_free(hp);
	return NULL;
}

void hashpool_start(struct hashpool *hp, struct hash_job *jobs, size_t n)
{
	pthread_mutex_lock(&hp->lock);
	hp->jobs = jobs;
	hp->njobs = n;
	hp->finished = 0;
	atomic_store(&hp->next, 0);
	hp->generation++;
	if (n)
		pthread_cond_broadcast(&hp->wake);
	pthread_mutex_unlock(&hp->lock);
}

void hashpool_wait(struct hashpool *hp)
{
	struct hash_job *jobs = hp->jobs;
	size_t n = hp->njobs;

	if (n == 0)
		return;
	work(hp, jobs, n);
	pthread_mutex_lock(&hp->lock);
	/* Every job done, and no thread still holding this batch's index:
	 * a late one would claim jobs of the next batch with this one's
	 * pointer. */
	while (hp->finished < n || hp->active > 0)
		pthread_cond_wait(&hp->done, &hp->lock);
	hp->jobs = NULL;
	hp->njobs = 0;
	pthread_mutex_unlock(&hp->lock);
}

void hashpool_run(struct hashpool *hp, struct hash_job *jobs, size_t n)
{
	hashpool_start(hp, jobs, n);
	hashpool_wait(hp);
}

void hashpool_free(struct hashpool *hp)
{
	if (!hp)
		return;
	pthread_mutex_lock(&hp->lock);
	hp->stop = true;
	pthread_cond_broadcast(&hp->wake);
	pthread_mutex_unlock(&hp->lock);
	for (unsigned i = 0; i < hp->nthreads; i++)
		pthread_join(hp->threads[i], NULL);
	free(hp->threads);
	pthread_mutex_destroy(&hp->lock);
	pthread_cond_destroy(&hp->wake);
	pthread_cond_destroy(&hp->done);
	free(hp);
}
