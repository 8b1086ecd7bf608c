/*
 * Listen addresses: "host:port" as the configuration writes them (IPv6 as
 * "[addr]:port"; host may be a name), resolved once, and the listening
 * socket made from one. A busy address is an error that names it, never a
 * port silently shared with another process (no SO_REUSEPORT).
 */
#ifndef OTPFLOW_ADDR_H
#define OTPFLOW_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Resolves text into *ss (*len bytes used). -1 with a message naming text
 * in errstr when it is not host:port or does not resolve.
 */
int addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len,
	       char *errstr, size_t errstr_size);

/*
 * A non-blocking TCP socket bound to text and listening (backlog 1024), or
 * -1 with errstr (e.g. "127.0.0.1:4000: address already in use"). The caller
 * owns the descriptor.
 */
int addr_listen(const char *text, char *errstr, size_t errstr_size);

#endif
