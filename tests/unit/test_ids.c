/* ids: UUIDv4 shape and uniqueness; traceparent continuation. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ids.h"

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Many ids (several refills of the per-thread pool): all valid, distinct. */
static void test_many_unique(void)
{
	enum { N = 2000 };
	char(*ids)[IDS_UUID_SIZE] = calloc(N, IDS_UUID_SIZE);
	int dups = 0, bad = 0;

	for (int i = 0; i < N; i++) {
		ids_uuid_v4(ids[i]);
		bad += !ids_uuid_valid(ids[i]) || ids[i][14] != '4';
	}
	qsort(ids, N, IDS_UUID_SIZE, cmp_ids);
	for (int i = 1; i < N; i++)
		dups += strcmp(ids[i - 1], ids[i]) == 0;
	CHECK_INT(bad, 0);
	CHECK_INT(dups, 0);
	free(ids);
}

/* A forked child never hands out the bytes its parent will use next. */
static void test_fork(void)
{
	char mine[IDS_UUID_SIZE], theirs[IDS_UUID_SIZE] = "";
	int fds[2], status = 0;
	pid_t pid;

	ids_uuid_v4(mine); /* the pool is filled now */
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		ids_uuid_v4(mine);
		_exit(write(fds[1], mine, IDS_UUID_SIZE) == IDS_UUID_SIZE ? 0 :
									    1);
	}
	CHECK(pid > 0);
	CHECK(read(fds[0], theirs, IDS_UUID_SIZE) == IDS_UUID_SIZE);
	waitpid(pid, &status, 0);
	close(fds[0]);
	close(fds[1]);
	ids_uuid_v4(mine);
	CHECK(ids_uuid_valid(theirs));
	CHECK(strcmp(mine, theirs) != 0);
}

int main(void)
{
	char a[IDS_UUID_SIZE], b[IDS_UUID_SIZE];
	char tp[IDS_TRACEPARENT_SIZE], tp2[IDS_TRACEPARENT_SIZE];
	const char *parent =
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

	ids_uuid_v4(a);
	ids_uuid_v4(b);
	CHECK(ids_uuid_valid(a));
	CHECK(strcmp(a, b) != 0);
	CHECK(a[14] == '4');
	CHECK(strchr("89ab", a[19]) != NULL);
	CHECK(!ids_uuid_valid("1b4e28ba-2fa1-11d2-883f-0016d3cca42"));
	CHECK(!ids_uuid_valid("1b4e28ba-2fa1-11d2-883f_0016d3cca427"));
	CHECK(!ids_uuid_valid("1B4E28BA-2FA1-11D2-883F-0016D3CCA427"));
	CHECK(ids_uuid_valid("1b4e28ba-2fa1-11d2-883f-0016d3cca427"));

	ids_traceparent_child(parent, tp);
	CHECK_INT(strlen(tp), 55);
	CHECK(strncmp(tp, parent, 36) == 0); /* same trace id */
	CHECK(strncmp(tp + 36, parent + 36, 16)); /* new span id */
	CHECK_STR(tp + 52, "-01");

	ids_traceparent_child(NULL, tp);
	ids_traceparent_child("garbage", tp2);
	CHECK_INT(strlen(tp), 55);
	CHECK(strncmp(tp, "00-", 3) == 0);
	CHECK(strncmp(tp + 3, tp2 + 3, 32) != 0); /* independent traces */
	ids_traceparent_child(
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", tp);
	CHECK(strncmp(tp + 3, "0000000000", 10) != 0);

	/* Flags other than 01 carry over too. */
	ids_traceparent_child(
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", tp);
	CHECK(strncmp(tp, parent, 36) == 0);
	CHECK_STR(tp + 52, "-00");
	CHECK(tp[35] == '-');

	test_many_unique();
	test_fork();
	return check_done("ids");
}
