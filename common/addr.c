/* host:port parsing and listening sockets (see addr.h). */
#include "addr.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len,
	       char *errstr, size_t errstr_size)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV | AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	const char *colon = text ? strrchr(text, ':') : NULL;
	char host[256];
	size_t hl;
	int gai;

	if (!colon || colon == text || !colon[1]) {
		snprintf(errstr, errstr_size, "\"%s\": expected host:port",
			 text ? text : "");
		return -1;
	}
	hl = (size_t)(colon - text);
	if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']') {
		text++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(errstr, errstr_size, "\"%.64s...\": host too long",
			 text);
		return -1;
	}
	memcpy(host, text, hl);
	host[hl] = '\0';
	gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0 || !res) {
		snprintf(errstr, errstr_size, "\"%s\": %s", text,
			 gai ? gai_strerror(gai) : "no address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int addr_listen(const char *text, char *errstr, size_t errstr_size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	if (addr_parse(text, &ss, &len, errstr, errstr_size) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		snprintf(errstr, errstr_size, "%s: socket: %s", text,
			 strerror(errno));
		return -1;
	}
	/* SO_REUSEADDR only lets a restarted daemon bind past TIME_WAIT; it
	 * never lets two listeners share the port (SO_REUSEPORT would). */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
		snprintf(errstr, errstr_size, "%s: %s", text,
			 errno == EADDRINUSE ? "address already in use" :
					       strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
