/*
 * redirectTo allow-list: parsing of the entries (once, at startup), a strict
 * split of candidate URLs into scheme, host, port and path, and the glob
 * matcher that compares them. The rules are Nhost Auth's (its entries are
 * globs with '.' and '/' as separators, extended to every sub-path and to
 * the default port); see redirect.h for the exact contract.
 *
 * Matching is an NFA simulation over the pattern positions, so a pattern
 * with many stars costs O(pattern length x text length), never exponential
 * backtracking. Nothing is allocated per call.
 */
#include "redirect.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A run of bytes inside a string owned by someone else. */
struct span {
	const char *p;
	size_t n;
};

/* A URL or URL pattern split into the parts that are matched. */
struct url_parts {
	struct span scheme; /* n == 0: a relative reference */
	bool authority; /* "//" followed the scheme */
	struct span host; /* may be empty for non-http(s) schemes */
	bool has_port;
	struct span port;
	struct span path; /* up to '?' or '#' */
};

struct redirect_entry {
	char *text; /* owned: the entry with its path pattern extended */
	struct url_parts u;
};

/* Enough NFA states for the longest entry plus its sub-path extension. */
#define GLOB_STATES (REDIRECT_ENTRY_MAX + 4)

/* Longest host name a candidate may have (DNS limit). */
#define HOST_MAX 253

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool span_eq_ci(struct span s, const char *lit)
{
	size_t i;

	if (s.n != strlen(lit))
		return false;
	for (i = 0; i < s.n; i++)
		if (lower(s.p[i]) != lit[i])
			return false;
	return true;
}

/*
 * Default port of a scheme, 0 when it has none. Only http and https have one
 * here, as in Nhost.
 */
static unsigned default_port(struct span scheme)
{
	if (span_eq_ci(scheme, "http"))
		return 80;
	if (span_eq_ci(scheme, "https"))
		return 443;
	return 0;
}

/* Decimal value of an all-digit port span (already checked to fit). */
static unsigned port_value(struct span port)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < port.n; i++)
		v = v * 10 + (unsigned)(port.p[i] - '0');
	return v;
}

/* Length of the pattern token at pat[i]: 2 for "**", else 1. */
static size_t token_width(const char *pat, size_t plen, size_t i)
{
	return pat[i] == '*' && i + 1 < plen && pat[i + 1] == '*' ? 2 : 1;
}

/* Follow the empty-match edges of '*' and '**' (they only go forward). */
static void glob_closure(unsigned char *set, const char *pat, size_t plen)
{
	size_t i;

	for (i = 0; i < plen; i++)
		if (set[i] && pat[i] == '*')
			set[i + token_width(pat, plen, i)] = 1;
}

/*
 * Whether text (tlen bytes, then the byte extra unless it is 0) matches the
 * whole of pat. In pat, '*' matches any run of bytes other than sep and '**'
 * any run at all; every other byte matches itself, ASCII case-folded when
 * fold is set. sep 0 means there is no separator.
 */
static bool glob_match(const char *pat, size_t plen, const char *text,
		       size_t tlen, char extra, char sep, bool fold)
{
	unsigned char a[GLOB_STATES], b[GLOB_STATES];
	unsigned char *cur = a, *next = b, *tmp;
	size_t total = tlen + (extra ? 1 : 0);
	size_t t, i;

	if (plen >= GLOB_STATES)
		return false;
	memset(cur, 0, plen + 1);
	cur[0] = 1;
	glob_closure(cur, pat, plen);

	for (t = 0; t < total; t++) {
		char c = t < tlen ? text[t] : extra;
		bool alive = false;

		memset(next, 0, plen + 1);
		for (i = 0; i < plen; i++) {
			if (!cur[i])
				continue;
			if (pat[i] == '*') {
				if (token_width(pat, plen, i) == 2 || c != sep)
					next[i] = 1;
			} else if (pat[i] == c ||
				   (fold && lower(pat[i]) == lower(c))) {
				next[i + 1] = 1;
			}
		}
		glob_closure(next, pat, plen);
		for (i = 0; i <= plen && !alive; i++)
			alive = next[i];
		if (!alive)
			return false;
		tmp = cur;
		cur = next;
		next = tmp;
	}
	return cur[plen] != 0;
}

/* Host label characters; '*' too in a pattern. */
static bool host_char_ok(char c, bool pattern)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '_' ||
	       (pattern && c == '*');
}

/*
 * Check a host: ASCII labels separated by single dots, none empty, or an
 * IPv6 literal in brackets. Returns NULL or the reason it is refused.
 */
static const char *check_host(struct span h, bool pattern)
{
	size_t i, label = 0;

	if (h.n > 0 && h.p[0] == '[') {
		if (h.n < 3 || h.p[h.n - 1] != ']')
			return "malformed IPv6 literal";
		for (i = 1; i + 1 < h.n; i++)
			if (!is_hex(h.p[i]) && h.p[i] != ':' && h.p[i] != '.')
				return "malformed IPv6 literal";
		return NULL;
	}
	if (!pattern && h.n > HOST_MAX)
		return "host name too long";
	for (i = 0; i < h.n; i++) {
		if (h.p[i] == '.') {
			if (label == 0)
				return "empty label in host name";
			label = 0;
			continue;
		}
		if (!host_char_ok(h.p[i], pattern))
			return "invalid character in host name";
		label++;
	}
	if (h.n > 0 && label == 0)
		return "empty label in host name";
	return NULL;
}

/* Check a port: digits up to 65535, or in a pattern also '*'. */
static const char *check_port(struct span port, bool pattern)
{
	bool star = false;
	size_t i;

	if (port.n == 0)
		return "empty port";
	for (i = 0; i < port.n; i++) {
		if (pattern && port.p[i] == '*')
			star = true;
		else if (!is_digit(port.p[i]))
			return "invalid port";
	}
	if (!star && (port.n > 5 || port_value(port) > 65535))
		return "invalid port";
	return NULL;
}

/* Whether the path has a "." or ".." segment, literally or %-encoded. */
static bool has_dot_segment(struct span path)
{
	size_t i = 0;

	while (i < path.n) {
		size_t dots = 0, other = 0;

		if (path.p[i] == '/')
			i++;
		while (i < path.n && path.p[i] != '/') {
			if (path.p[i] == '.') {
				dots++;
				i++;
			} else if (path.p[i] == '%' && i + 2 < path.n &&
				   path.p[i + 1] == '2' &&
				   lower(path.p[i + 2]) == 'e') {
				dots++;
				i += 3;
			} else {
				other++;
				i++;
			}
		}
		if (other == 0 && (dots == 1 || dots == 2))
			return true;
	}
	return false;
}

/*
 * Split s (len bytes) into u. A pattern (an allow-list entry) may use '*'
 * in scheme, host, port and path and may not carry a query or fragment; a
 * candidate may not use '*' outside its path, query and fragment. Returns
 * NULL or the reason s is refused.
 */
static const char *url_split(const char *s, size_t len, bool pattern,
			     struct url_parts *u)
{
	size_t i, end, rest;
	const char *why;

	memset(u, 0, sizeof(*u));
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return "control character or space";
		if (c == '\\')
			return "backslash";
		if (c == '%' &&
		    (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
			return "malformed %-escape";
	}

	/* The part that is matched ends at the query or the fragment. */
	for (end = 0; end < len && s[end] != '?' && s[end] != '#'; end++)
		;
	if (pattern && end < len)
		return "has a query or fragment";

	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
	for (i = 0; i < end; i++) {
		char c = s[i];

		if (!(is_alpha(c) || (pattern && c == '*') ||
		      (i > 0 &&
		       (is_digit(c) || c == '+' || c == '-' || c == '.'))))
			break;
	}
	if (i > 0 && i < end && s[i] == ':') {
		u->scheme.p = s;
		u->scheme.n = i;
		rest = i + 1;
	} else {
		rest = 0;
	}

	if (end - rest >= 2 && s[rest] == '/' && s[rest + 1] == '/') {
		size_t a = rest + 2, b = a, colon = 0;
		bool bracket = a < end && s[a] == '[';

		if (u->scheme.n == 0)
			return "scheme-relative URL";
		while (b < end && s[b] != '/')
			b++;
		for (i = a; i < b; i++) {
			if (s[i] == '@')
				return "user info in URL";
			if (s[i] == ']')
				bracket = false;
			else if (s[i] == ':' && !bracket && !colon)
				colon = i;
		}
		u->authority = true;
		u->host.p = s + a;
		u->host.n = (colon ? colon : b) - a;
		if (colon) {
			u->has_port = true;
			u->port.p = s + colon + 1;
			u->port.n = b - colon - 1;
			why = check_port(u->port, pattern);
			if (why)
				return why;
		}
		why = check_host(u->host, pattern);
		if (why)
			return why;
		rest = b;
	}
	u->path.p = s + rest;
	u->path.n = end - rest;

	if (default_port(u->scheme) && u->host.n == 0)
		return "http(s) URL without a host";
	if (!pattern && has_dot_segment(u->path))
		return "dot segment in path";
	return NULL;
}

static void entry_free(struct redirect_entry *e)
{
	free(e->text);
	e->text = NULL;
}

/*
 * Parse one allow-list entry (len bytes at s, blanks already trimmed) into
 * e. label names the entry in error messages.
 */
static int entry_init(struct redirect_entry *e, const char *s, size_t len,
		      const char *label, char *errstr, size_t errstr_size)
{
	const char *why, *suffix;
	struct span path;
	char *host;
	size_t i;
	int ret = -1;

	memset(e, 0, sizeof(*e));
	if (len > REDIRECT_ENTRY_MAX) {
		snprintf(errstr, errstr_size, "%s: longer than %d bytes", label,
			 REDIRECT_ENTRY_MAX);
		goto out;
	}
	/* Room for the slash and stars that extend the path to sub-paths. */
	e->text = malloc(len + 4);
	if (!e->text) {
		snprintf(errstr, errstr_size, "%s: out of memory", label);
		goto out;
	}
	memcpy(e->text, s, len);
	e->text[len] = '\0';

	why = url_split(e->text, len, true, &e->u);
	if (!why && e->u.scheme.n == 0 && e->u.path.n > 0 &&
	    e->u.path.p[0] != '/')
		why = "not a URL (no scheme) nor an absolute path";
	if (!why && e->u.scheme.n > 0 && !e->u.authority &&
	    (e->u.path.n == 0 || e->u.path.p[0] != '/'))
		why = "no \"//\" after the scheme (a host without a scheme?)";
	if (why) {
		snprintf(errstr, errstr_size, "%s \"%.*s\": %s", label,
			 (int)(len > 100 ? 100 : len), s, why);
		goto out;
	}

	/* Scheme and host compare case-insensitively: store them lowered. */
	for (i = 0; i < e->u.scheme.n; i++)
		e->text[i] = lower(e->text[i]);
	if (e->u.host.n) {
		host = e->text + (e->u.host.p - e->text);
		for (i = 0; i < e->u.host.n; i++)
			host[i] = lower(host[i]);
	}

	/* Nhost's sub-path rule, applied to the path (always last here). */
	path = e->u.path;
	if (path.n >= 3 && memcmp(path.p + path.n - 3, "/**", 3) == 0)
		suffix = "";
	else if (path.n >= 2 && memcmp(path.p + path.n - 2, "/*", 2) == 0)
		suffix = "*";
	else if (path.n >= 1 && path.p[path.n - 1] == '/')
		suffix = "**";
	else
		suffix = "/**";
	memcpy(e->text + len, suffix, strlen(suffix) + 1);
	e->u.path.n = strlen(e->u.path.p);
	ret = 0;
out:
	if (ret != 0)
		entry_free(e);
	return ret;
}

void redirect_list_free(struct redirect_list *rl)
{
	size_t i;

	if (!rl)
		return;
	for (i = 0; i < rl->count; i++)
		entry_free(&rl->entries[i]);
	free(rl->entries);
	rl->entries = NULL;
	rl->count = 0;
}

static void trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

int redirect_list_init(struct redirect_list *rl, const char *client_url,
		       const char *allowed_csv, char *errstr,
		       size_t errstr_size)
{
	const char *p, *item;
	size_t cap = 1, len;
	int ret = -1;

	rl->entries = NULL;
	rl->count = 0;
	if (!client_url)
		client_url = "";
	if (!allowed_csv)
		allowed_csv = "";
	for (p = allowed_csv; *p; p++)
		cap += *p == ',';
	cap += 1;

	rl->entries = calloc(cap, sizeof(*rl->entries));
	if (!rl->entries) {
		snprintf(errstr, errstr_size,
			 "redirect allow list: out of memory");
		goto out;
	}

	item = client_url;
	len = strlen(client_url);
	trim(&item, &len);
	if (entry_init(&rl->entries[0], item, len, "AUTH_CLIENT_URL", errstr,
		       errstr_size) != 0)
		goto out;
	rl->count = 1;

	for (p = allowed_csv; *p;) {
		item = p;
		while (*p && *p != ',')
			p++;
		len = (size_t)(p - item);
		if (*p == ',')
			p++;
		trim(&item, &len);
		if (len == 0)
			continue;
		if (entry_init(&rl->entries[rl->count], item, len,
			       "AUTH_ACCESS_CONTROL_ALLOWED_REDIRECT_URLS entry",
			       errstr, errstr_size) != 0)
			goto out;
		rl->count++;
	}
	ret = 0;
out:
	if (ret != 0)
		redirect_list_free(rl);
	return ret;
}

int redirect_list_init_entries(struct redirect_list *rl,
			       const char *const *entries, size_t count,
			       char *errstr, size_t errstr_size)
{
	char label[32];
	size_t i;
	int ret = -1;

	rl->entries = NULL;
	rl->count = 0;
	if (count > 0) {
		rl->entries = calloc(count, sizeof(*rl->entries));
		if (!rl->entries) {
			snprintf(errstr, errstr_size,
				 "redirect allow list: out of memory");
			goto out;
		}
	}
	for (i = 0; i < count; i++) {
		const char *item = entries[i];
		size_t len = strlen(item);

		trim(&item, &len);
		snprintf(label, sizeof(label), "entry %zu", i);
		if (entry_init(&rl->entries[i], item, len, label, errstr,
			       errstr_size) != 0)
			goto out;
		rl->count++;
	}
	ret = 0;
out:
	if (ret != 0)
		redirect_list_free(rl);
	return ret;
}

static bool port_matches(const struct url_parts *e, const struct url_parts *c)
{
	unsigned dflt = default_port(c->scheme);
	char buf[12];

	if (!e->has_port)
		return !c->has_port || (dflt && port_value(c->port) == dflt);
	if (c->has_port)
		return glob_match(e->port.p, e->port.n, c->port.p, c->port.n, 0,
				  0, false);
	if (!dflt)
		return false;
	snprintf(buf, sizeof(buf), "%u", dflt);
	return glob_match(e->port.p, e->port.n, buf, strlen(buf), 0, 0, false);
}

static bool entry_matches(const struct redirect_entry *re,
			  const struct url_parts *c)
{
	const struct url_parts *e = &re->u;

	if ((e->scheme.n == 0) != (c->scheme.n == 0))
		return false;
	if (e->scheme.n > 0) {
		if (!glob_match(e->scheme.p, e->scheme.n, c->scheme.p,
				c->scheme.n, 0, 0, true))
			return false;
		if (e->authority != c->authority)
			return false;
		if (!glob_match(e->host.p, e->host.n, c->host.p, c->host.n, 0,
				'.', true))
			return false;
		if (!port_matches(e, c))
			return false;
	}
	return glob_match(e->path.p, e->path.n, c->path.p, c->path.n, 0, '/',
			  false) ||
	       glob_match(e->path.p, e->path.n, c->path.p, c->path.n, '/', '/',
			  false);
}

bool redirect_allowed(const struct redirect_list *rl, const char *url,
		      size_t len)
{
	struct url_parts c;
	size_t i;

	if (!url && len > 0)
		return false;
	if (len > REDIRECT_URL_MAX)
		return false;
	if (url_split(url ? url : "", len, false, &c))
		return false;
	if (rl->count == 0)
		return true;
	for (i = 0; i < rl->count; i++)
		if (entry_matches(&rl->entries[i], &c))
			return true;
	return false;
}
