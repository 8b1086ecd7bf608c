/*
 * Slow-client deadlines (see reaper.h): a clock per connection in a list,
 * and a thread that shuts down every connection past its deadline.
 */
#include "reaper.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"

#define REAPER_INTERVAL_MS 100

/* The slow-client deadline of one connection (its MHD socket context). */
struct conn_clock {
	struct conn_clock *prev, *next; /* in reaper.clocks */
	MHD_socket fd;
	atomic_llong deadline_ms; /* monotonic; 0: disarmed */
};

/* The connection's clock, or NULL if it could not get one. */
static struct conn_clock *clock_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* now + the timeout, or 0 (never) when the timeout is 0. */
static long long deadline_from_now(const struct reaper *r)
{
	return r->timeout_ms > 0 ? clock_mono_ms() + r->timeout_ms : 0;
}

void reaper_arm(const struct reaper *r, struct MHD_Connection *conn)
{
	struct conn_clock *c = clock_of(conn);

	if (c)
		atomic_store(&c->deadline_ms, deadline_from_now(r));
}

void reaper_disarm(struct MHD_Connection *conn)
{
	struct conn_clock *c = clock_of(conn);

	if (c)
		atomic_store(&c->deadline_ms, 0);
}

void reaper_on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct reaper *r = cls;
	struct conn_clock *c = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		c = ci ? calloc(1, sizeof(*c)) : NULL;
		if (!c)
			return;
		c->fd = ci->connect_fd;
		atomic_init(&c->deadline_ms, deadline_from_now(r));
		pthread_mutex_lock(&r->lock);
		c->next = r->clocks;
		if (r->clocks)
			r->clocks->prev = c;
		r->clocks = c;
		pthread_mutex_unlock(&r->lock);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	pthread_mutex_lock(&r->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->clocks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&r->lock);
	free(c);
	*socket_context = NULL;
}

/* Shuts down every connection past its deadline, every 100 ms. */
static void *reaper_main(void *arg)
{
	struct reaper *r = arg;
	struct conn_clock *c;
	long long now, deadline;

	while (!atomic_load(&r->stop)) {
		clock_sleep_ms(REAPER_INTERVAL_MS);
		now = clock_mono_ms();
		pthread_mutex_lock(&r->lock);
		for (c = r->clocks; c; c = c->next) {
			deadline = atomic_load(&c->deadline_ms);
			if (deadline && now >= deadline) {
				atomic_store(&c->deadline_ms, 0);
				shutdown(c->fd, SHUT_RDWR);
			}
		}
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

void reaper_init(struct reaper *r, long long timeout_ms)
{
	r->timeout_ms = timeout_ms;
	pthread_mutex_init(&r->lock, NULL);
	r->clocks = NULL;
	r->started = false;
	atomic_init(&r->stop, false);
}

int reaper_start(struct reaper *r, char *errstr, size_t errstr_size)
{
	if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
		snprintf(errstr, errstr_size, "cannot start the reaper thread");
		return -1;
	}
	r->started = true;
	return 0;
}

void reaper_stop(struct reaper *r)
{
	if (!r->started)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	r->started = false;
}

void reaper_destroy(struct reaper *r)
{
	reaper_stop(r);
	pthread_mutex_destroy(&r->lock);
}
