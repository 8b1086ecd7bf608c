/*
 * ingest/redirect: redirectTo allow-list matching (docs/api.md §1.5).
 *
 * The first three groups are Nhost Auth's own table, TestValidateRedirectTo
 * in services/auth/go/controller/validator_test.go of nhost/nhost (every
 * allowed URL, redirectTo and expected answer carried over); the rest are
 * the examples of docs/api.md §1.5 and otpflow's stricter refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "redirect.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool allowed(const struct redirect_list *rl, const char *url)
{
	return redirect_allowed(rl, url, strlen(url));
}

/* Check every url against want, naming the ones that disagree. */
static void expect_all(const struct redirect_list *rl, const char *const *urls,
		       size_t n, bool want)
{
	size_t i;

	for (i = 0; i < n; i++) {
		bool got = allowed(rl, urls[i]);

		if (got != want)
			fprintf(stderr, "  %s: got %s, want %s\n", urls[i],
				got ? "allowed" : "refused",
				want ? "allowed" : "refused");
		CHECK(got == want);
	}
}

static void list_of(struct redirect_list *rl, const char *const *entries,
		    size_t n)
{
	char err[256] = "";

	if (redirect_list_init_entries(rl, entries, n, err, sizeof(err)) != 0)
		fprintf(stderr, "  init: %s\n", err);
	CHECK_INT(rl->count, n);
}

/* Nhost: name "allowed". */
static void test_nhost_allowed(void)
{
	static const char *const entries[] = {
		"http://localhost:3000",
		"https://acme.com/path",
		"https://*.acme.io",
		"https://*-sub.acme.io",
		"myapp://my.app",
		"https://mydomainwithslash.com/",
		"https://mydomainwithslashstar.com/*",
		"https://mydomainwithslashstarstar.com/**",
	};
	static const char *const urls[] = {
		"http://localhost:3000",
		"http://localhost:3000/",
		"http://localhost:3000/subpath",
		"https://acme.com/path",
		"https://acme.com:443/path", /* port is optional with http(s) */
		"https://acme.com/path/subpath",
		"https://acme.com/path/subpath?query=param#fragment",
		"https://acme.com/path?query=param#fragment",
		"https://acme.com/path/?query=param#fragment",
		"https://acme.com/path/?query=param#fragment",
		"https://subdomain.acme.io",
		"https://123subdomain.acme.io",
		"https://123-subdomain.acme.io",
		"https://asdasdsad-sub.acme.io",
		"https://asdasdsad-sub.acme.io",
		"myapp://my.app",
		"myapp://my.app/",
		"myapp://my.app/subpath",
		"https://mydomainwithslash.com",
		"https://mydomainwithslash.com/",
		"https://mydomainwithslash.com/a",
		"https://mydomainwithslash.com/a/",
		"https://mydomainwithslash.com/a/b",
		"https://mydomainwithslashstar.com",
		"https://mydomainwithslashstar.com/",
		"https://mydomainwithslashstar.com/a",
		"https://mydomainwithslashstar.com/a/",
		"https://mydomainwithslashstar.com/a/b",
		"https://mydomainwithslashstarstar.com",
		"https://mydomainwithslashstarstar.com/",
		"https://mydomainwithslashstarstar.com/a",
		"https://mydomainwithslashstarstar.com/a/",
		"https://mydomainwithslashstarstar.com/a/b",
	};
	struct redirect_list rl;

	list_of(&rl, entries, N(entries));
	expect_all(&rl, urls, N(urls), true);
	redirect_list_free(&rl);
}

/* Nhost: name "not allowed". */
static void test_nhost_not_allowed(void)
{
	static const char *const entries[] = {
		"http://localhost:3000",
		"https://acme.com/path",
		"https://*.acme.io",
		"http://simple.com",
	};
	static const char *const urls[] = {
		"https://localhost:3000", /* scheme mismatch */
		"http://localhost:4000", /* port mismatch */
		"http://localhost", /* no port */
		"http://prefixlocalhost:3000",
		"not-a-url",
		"https://",
		"https://acme.com/wrongpath",
		"https://subdomain.subdomain.acme.io", /* one label per '*' */
		"https://acme.io", /* bare: *.acme.io needs a label */
		"https://simple.com.hijack.com", /* anchored at the end */
		"https://simple.comhijack.com", /* anchored at the end */
	};
	struct redirect_list rl;

	list_of(&rl, entries, N(entries));
	expect_all(&rl, urls, N(urls), false);
	/*
	 * An older Nhost (regular expressions, with the "*-sub.acme.io" entry
	 * also listed) refused "https://-sub.acme.io"; its glob matcher and
	 * this one let '*' match "-sub", an ordinary label, and the case left
	 * Nhost's table.
	 */
	CHECK(allowed(&rl, "https://-sub.acme.io"));
	redirect_list_free(&rl);
}

/* Nhost: name "allow everything if empty". */
static void test_nhost_empty(void)
{
	struct redirect_list rl;

	list_of(&rl, NULL, 0);
	CHECK(allowed(&rl, "https://localhost:3000"));
	/* Even an empty list refuses what is not a well-formed URL. */
	CHECK(!allowed(&rl, "//evil.example.com/x"));
	CHECK(!allowed(&rl, "https://a.com/\r\nx"));
	redirect_list_free(&rl);
}

/* docs/api.md §1.5. */
static void test_spec(void)
{
	static const char *const entries[] = {
		"https://a.com/p",
		"https://simple.com",
		"http://localhost:3000",
		"myapp://my.app/path",
		"https://**.deep.io",
		"https://b.com/*/cb",
		"https://c.com/**/cb",
		"https://d.com:8443",
		"https://e.com:443",
		"http://localhost:*",
		"com.example.app:/oauth2redirect", /* RFC 8252 private-use */
	};
	static const char *const yes[] = {
		"https://a.com/p",
		"https://a.com/p/",
		"https://a.com/p/x",
		"https://a.com/p/x/y?q=1#f",
		"https://a.com:443/p/x",
		"https://simple.com",
		"https://simple.com:443/",
		"myapp://my.app/path",
		"myapp://my.app/path/deeper",
		"https://x.deep.io",
		"https://x.y.z.deep.io/any/path",
		"https://b.com/x/cb",
		"https://b.com/x/cb/more",
		"https://c.com/x/cb",
		"https://c.com/x/y/z/cb",
		"https://d.com:8443/",
		"https://e.com", /* explicit default port, omitted */
		"https://e.com:443", /* explicit default port, written */
		"http://localhost:5173/",
		"http://localhost:3000/a",
		"http://localhost", /* '*' accepts the default port too */
		"HTTPS://A.COM/p", /* scheme and host are case-insensitive */
		"https://Simple.Com/",
		"com.example.app:/oauth2redirect",
		"com.example.app:/oauth2redirect/done?code=1",
	};
	static const char *const no[] = {
		"https://a.com",
		"https://a.com/",
		"https://a.com/px",
		"https://a.com/P", /* paths are case-sensitive */
		"https://a.com:8443/p",
		"http://a.com/p",
		"https://simple.com.hijack.com",
		"https://simple.comhijack.com",
		"https://simple.com:8443",
		"http://prefixlocalhost:3000",
		"not-a-url",
		"https://",
		"myapp://my.app",
		"myapp://my.app/pathology",
		"myapp://my.app:443/path",
		"otherapp://my.app/path",
		"https://deep.io",
		"https://b.com/x/y/cb",
		"https://b.com/cb",
		"https://c.com/cb/x", /* "**" then "/cb" */
		"https://d.com",
		"https://d.com:443",
		"https://e.com:8443",
		"https://localhost:5173",
		"com.example.app:/other",
		"com.example.app://oauth2redirect", /* host, not path */
		"com.example.other:/oauth2redirect",
	};
	struct redirect_list rl;

	list_of(&rl, entries, N(entries));
	expect_all(&rl, yes, N(yes), true);
	expect_all(&rl, no, N(no), false);
	redirect_list_free(&rl);
}

/* Forms a browser would resolve elsewhere than a string match suggests. */
static void test_hostile(void)
{
	static const char *const entries[] = {
		"https://acme.com/path",
		"https://*.acme.io",
		"http://[::1]:3000",
	};
	static const char *const no[] = {
		"https://acme.com@evil.com/path", /* user info */
		"https://evil.com@acme.com/path",
		"https://x@sub.acme.io",
		"https://acme.com\\@evil.com/path", /* backslash */
		"https://16909060\\@x.acme.io", /* host 1.2.3.4 in browsers */
		"https://acme.com/path\\..\\..\\admin",
		"//evil.example.com/path", /* scheme-relative */
		"///evil.example.com/path",
		"https:acme.com/path", /* no "//" */
		"https:/acme.com/path",
		" https://acme.com/path", /* blanks and controls */
		"https://acme.com/path ",
		"https://acme.com/pa th",
		"https://acme.com/path\r\nSet-Cookie: a=b",
		"https://acme.com/path\t",
		"https://acme.com/path/../admin", /* dot segments */
		"https://acme.com/path/%2e%2E/admin",
		"https://acme.com/path/./x",
		"https://acme.com/path/..",
		"https://acme.com/pa%zzth", /* bad escapes */
		"https://acme.com/path%2",
		"https://acme.com:99999/path", /* bad ports */
		"https://acme.com:/path",
		"https://acme.com:44a/path",
		"https://acme.com.:443/path", /* empty labels */
		"https://x..acme.io",
		"https://.acme.io",
		"https://ac%6De.com/path", /* escapes in the host */
		"https://x.acme.io.evil.com",
		"https://sub.acme.io:8443",
		"https://ex\xc3\xa4mple.acme.io", /* non-ASCII host */
		"https://*.acme.io", /* stars are literal here */
		"http://[::2]:3000",
		"http://[::1]",
		"http://[::1:3000",
	};
	static const char *const yes[] = {
		"https://acme.com/path/@evil.com", /* '@' in a path is a path */
		"https://acme.com/path/x.y",
		"https://acme.com/path/..x",
		"https://acme.com/path/caf%C3%A9",
		"https://acme.com/path/caf\xc3\xa9",
		"https://under_score.acme.io",
		"http://[::1]:3000/",
	};
	struct redirect_list rl;
	char nul[] = "https://acme.com/path\0.evil.com";

	list_of(&rl, entries, N(entries));
	expect_all(&rl, no, N(no), false);
	expect_all(&rl, yes, N(yes), true);
	/* An embedded NUL is refused, not read as the end. */
	CHECK(!redirect_allowed(&rl, nul, sizeof(nul) - 1));
	CHECK(redirect_allowed(&rl, nul, strlen(nul)));
	CHECK(!redirect_allowed(&rl, NULL, 1));
	redirect_list_free(&rl);
}

/* AUTH_CLIENT_URL unset: Nhost's "" entry allows site-relative paths only. */
static void test_empty_client_url(void)
{
	static const char *const yes[] = {
		"/",
		"/app",
		"/app/x?y=1#z",
		"",
	};
	static const char *const no[] = {
		"https://evil.example.com",
		"http://localhost:3000",
		"//evil.example.com/x",
		"///evil.example.com/x",
		"/\\evil.example.com/x",
		"not-a-url",
		"app/x",
	};
	struct redirect_list rl;
	char err[256] = "";

	CHECK_INT(redirect_list_init(&rl, "", "", err, sizeof(err)), 0);
	CHECK_INT(rl.count, 1);
	expect_all(&rl, yes, N(yes), true);
	expect_all(&rl, no, N(no), false);
	redirect_list_free(&rl);

	CHECK_INT(redirect_list_init(&rl, NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(rl.count, 1);
	CHECK(!allowed(&rl, "https://evil.example.com"));
	CHECK(allowed(&rl, "/app"));
	redirect_list_free(&rl);
}

static void test_init_from_config(void)
{
	struct redirect_list rl;
	char err[256] = "";

	CHECK_INT(redirect_list_init(&rl, "http://localhost:3000",
				     " https://a.com/cb ,https://*.b.io,, ,",
				     err, sizeof(err)),
		  0);
	CHECK_INT(rl.count, 3);
	CHECK(allowed(&rl, "http://localhost:3000/welcome"));
	CHECK(allowed(&rl, "https://a.com/cb"));
	CHECK(allowed(&rl, "https://x.b.io/"));
	CHECK(!allowed(&rl, "https://a.com/"));
	CHECK(!allowed(&rl, "/app")); /* relative only without a client URL */
	redirect_list_free(&rl);
	redirect_list_free(&rl); /* a second free is harmless */
	CHECK(rl.entries == NULL && rl.count == 0);
	redirect_list_free(NULL);

	CHECK_INT(redirect_list_init(&rl, "https://my-app.com", NULL, err,
				     sizeof(err)),
		  0);
	CHECK(allowed(&rl, "https://my-app.com/catch"));
	CHECK(!allowed(&rl, "https://my-app.co"));
	redirect_list_free(&rl);
}

static void expect_init_error(const char *client, const char *csv,
			      const char *needle)
{
	struct redirect_list rl;
	char err[256] = "";

	CHECK_INT(redirect_list_init(&rl, client, csv, err, sizeof(err)), -1);
	CHECK(rl.entries == NULL && rl.count == 0);
	if (!strstr(err, needle))
		fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, needle);
	CHECK(strstr(err, needle) != NULL);
}

static void test_init_errors(void)
{
	char *long_entry;
	struct redirect_list rl;

	expect_init_error("localhost:3000", NULL, "AUTH_CLIENT_URL");
	expect_init_error("my-app.com", NULL, "no scheme");
	expect_init_error("https://", NULL, "without a host");
	expect_init_error("http://ok.com", "https://a.com,https://a.com/?x",
			  "query or fragment");
	expect_init_error("http://ok.com", "https://a.com#top",
			  "ALLOWED_REDIRECT_URLS");
	expect_init_error("http://ok.com", "https://a.com:abc", "port");
	expect_init_error("http://ok.com", "https://a.com:70000", "port");
	expect_init_error("http://ok.com", "https://user@a.com", "user info");
	expect_init_error("http://ok.com", "https://a b.com", "space");
	expect_init_error("http://ok.com", "https://a..com", "empty label");
	expect_init_error("http://ok.com", "//a.com", "scheme-relative");

	long_entry = malloc(REDIRECT_ENTRY_MAX + 16);
	CHECK(long_entry != NULL);
	if (!long_entry)
		return;
	memset(long_entry, 'a', REDIRECT_ENTRY_MAX + 15);
	memcpy(long_entry, "https://a.com/", 14);
	long_entry[REDIRECT_ENTRY_MAX + 15] = '\0';
	expect_init_error("http://ok.com", long_entry, "longer than");
	free(long_entry);

	/* No buffer for the message is fine too. */
	CHECK_INT(redirect_list_init(&rl, "nope", NULL, NULL, 0), -1);
}

/* Many stars against a long near-miss: must finish (no backtracking blow-up). */
static void test_hostile_patterns(void)
{
	size_t plen = 1 + 2 * 400 + 2, tlen = 6000, i;
	char *entry = malloc(8 + plen + 1 + 14);
	char *url = malloc(20 + tlen + 1);
	const char *entries[1];
	struct redirect_list rl;

	CHECK(entry && url);
	if (!entry || !url)
		goto out;
	strcpy(entry, "https://s.com/");
	for (i = 0; i < 400; i++)
		strcat(entry, i % 2 ? "**" : "*a");
	strcat(entry, "b");
	strcpy(url, "https://s.com/");
	for (i = 0; i < tlen; i++)
		url[14 + i] = i % 50 == 49 ? '/' : 'a';
	url[14 + tlen] = '\0';

	entries[0] = entry;
	list_of(&rl, entries, 1);
	CHECK(!allowed(&rl, url));
	url[14 + tlen - 1] = 'b';
	CHECK(allowed(&rl, url));
	redirect_list_free(&rl);

	/* Longer than REDIRECT_URL_MAX: refused whatever it says. */
	entries[0] = "https://s.com";
	list_of(&rl, entries, 1);
	free(url);
	url = malloc(REDIRECT_URL_MAX + 32);
	CHECK(url != NULL);
	if (!url)
		goto out_list;
	strcpy(url, "https://s.com/");
	memset(url + 14, 'a', REDIRECT_URL_MAX);
	url[14 + REDIRECT_URL_MAX] = '\0';
	CHECK(!allowed(&rl, url));
	url[REDIRECT_URL_MAX] = '\0';
	CHECK(allowed(&rl, url));
out_list:
	redirect_list_free(&rl);
out:
	free(entry);
	free(url);
}

int main(void)
{
	test_nhost_allowed();
	test_nhost_not_allowed();
	test_nhost_empty();
	test_spec();
	test_hostile();
	test_empty_client_url();
	test_init_from_config();
	test_init_errors();
	test_hostile_patterns();
	return check_done("test_redirect");
}
