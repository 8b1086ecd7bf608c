/*
 * redirectTo allow-list matching, as Nhost Auth does it (docs/api.md §1.5). The list
 * is AUTH_CLIENT_URL followed by AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS;
 * it is parsed once at startup and then only read, so one list may be shared
 * by every request thread.
 *
 * An entry allows a candidate URL when, with the candidate's ?query and
 * #fragment removed:
 *   - the schemes are equal and the hosts are equal (both ASCII
 *     case-insensitive), except that in the entry '*' stands for any run of
 *     characters inside one host label and '**' for any run across labels;
 *   - the ports are equal, where an entry without a port also accepts the
 *     scheme's default port written out (":80" for http, ":443" for https)
 *     and a port of '*' accepts any port;
 *   - the candidate's path, or that path plus '/', matches the entry's path
 *     pattern extended to every sub-path, as Nhost extends it (a trailing
 *     single star becomes a double star, anything else gets a slash and a
 *     double star appended): entry path "/p" allows "/p", "/p/" and
 *     "/p/x/y"; in a path '*' stays inside one segment and '**' crosses
 *     segments.
 * Candidates must be well formed: no control characters, spaces or
 * backslashes, valid %-escapes, no user-info ('@' before the host), no
 * "//host" scheme-relative form, no "." or ".." path segments, and http(s)
 * needs a host. These refusals are stricter than Nhost; every URL they
 * refuse is one a browser would resolve somewhere other than it reads.
 */
#ifndef OTPFLOW_REDIRECT_H
#define OTPFLOW_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest allow-list entry, in bytes. */
#define REDIRECT_ENTRY_MAX 1024
/* Longest redirectTo that is considered at all; longer ones are refused. */
#define REDIRECT_URL_MAX 8192

struct redirect_entry; /* one parsed allow-list entry, private */

struct redirect_list {
	struct redirect_entry *entries; /* owned, count of them */
	size_t count;
};

/*
 * Build the allow list from client_url (AUTH_CLIENT_URL) and allowed_csv
 * (AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS, comma-separated; blanks around
 * items and empty items are ignored). Either may be NULL, which reads as "".
 *
 * As in Nhost, client_url is always an entry, even when empty: an empty
 * AUTH_CLIENT_URL allows only same-site relative paths ("/x", never "//x"),
 * so with no client URL and no allowed URLs every absolute redirectTo is
 * refused.
 *
 * Returns 0 on success; the list owns its memory until redirect_list_free.
 * Returns -1 with a message in errstr (the caller's buffer, may be NULL when
 * errstr_size is 0) if an entry is not a usable URL pattern (no scheme,
 * a query or fragment, a bad host or port, or longer than
 * REDIRECT_ENTRY_MAX) or memory runs out; rl is then empty and needs no free.
 */
int redirect_list_init(struct redirect_list *rl, const char *client_url,
		       const char *allowed_csv, char *errstr,
		       size_t errstr_size);

/*
 * Build a list from count entries (none may be NULL; an empty string is the
 * relative-paths entry described above). With count == 0 every well-formed
 * URL is allowed: that is Nhost's ValidateRedirectTo on an empty list, which
 * the daemon never uses (redirect_list_init always adds the client URL).
 * Ownership and errors as redirect_list_init.
 */
int redirect_list_init_entries(struct redirect_list *rl,
			       const char *const *entries, size_t count,
			       char *errstr, size_t errstr_size);

/* Release what the list owns; rl may be NULL or already freed. */
void redirect_list_free(struct redirect_list *rl);

/*
 * Whether the len bytes at url are an allowed redirectTo. url need not be
 * NUL-terminated; a NUL byte inside it, like any control character, makes
 * it refused. Reads rl only, so it is safe to call from many threads.
 * rl must not be NULL; url may be NULL only when len is 0.
 */
bool redirect_allowed(const struct redirect_list *rl, const char *url,
		      size_t len);

#endif
