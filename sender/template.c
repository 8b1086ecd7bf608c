/*
 * Template loading and ${name} substitution. Templates are small files read
 * once; substitution works on caller buffers with explicit caps so the
 * plaintext code never lands in a heap buffer that outlives the send.
 */
#include "template.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tpl {
	char locale[16];
	char *text;
};

struct templates {
	struct tpl *v;
	size_t n;
	size_t def; /* index of the default locale */
};

static int locale_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n >= sizeof(((struct tpl *)0)->locale))
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
	return 1;
}

/* Reads a whole small file; NULL if missing, unreadable or too large. */
static char *read_small(const char *path, char *errstr, size_t errstr_size)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len;

	if (!f)
		return NULL;
	buf = malloc(TEMPLATE_MAX_BYTES + 2);
	if (!buf)
		goto fail;
	len = fread(buf, 1, TEMPLATE_MAX_BYTES + 1, f);
	if (ferror(f) || len > TEMPLATE_MAX_BYTES) {
		snprintf(errstr, errstr_size,
			 "%s: unreadable or larger than %d "
			 "bytes",
			 path, TEMPLATE_MAX_BYTES);
		goto fail;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		snprintf(errstr, errstr_size, "%s: contains a NUL byte", path);
		goto fail;
	}
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	fclose(f);
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

void templates_free(struct templates *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].text);
	free(t->v);
	free(t);
}

size_t templates_count(const struct templates *t)
{
	return t->n;
}

struct templates *templates_load(const char *dir, const char *default_locale,
				 char *errstr, size_t errstr_size)
{
	struct templates *t = calloc(1, sizeof(*t));
	DIR *d = NULL;
	struct dirent *de;
	int found_def = 0;

	errstr[0] = '\0';
	if (!t)
		goto oom;
	t->v = calloc(TEMPLATE_MAX_LOCALES, sizeof(*t->v));
	if (!t->v)
		goto oom;
	d = opendir(dir);
	if (!d) {
		snprintf(errstr, errstr_size,
			 "templates folder %s: cannot open", dir);
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		char *text;

		if (de->d_name[0] == '.' || !locale_valid(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", dir, de->d_name,
			 TEMPLATE_FILE);
		text = read_small(path, errstr, errstr_size);
		if (!text) {
			if (errstr[0])
				goto fail;
			continue; /* a folder without the template */
		}
		if (!strstr(text, "${code}")) {
			snprintf(errstr, errstr_size,
				 "%s: no ${code} placeholder", path);
			free(text);
			goto fail;
		}
		if (t->n == TEMPLATE_MAX_LOCALES) {
			free(text);
			snprintf(errstr, errstr_size,
				 "%s: more than %d locales", dir,
				 TEMPLATE_MAX_LOCALES);
			goto fail;
		}
		snprintf(t->v[t->n].locale, sizeof(t->v[t->n].locale), "%s",
			 de->d_name);
		t->v[t->n].text = text;
		if (strcmp(de->d_name, default_locale) == 0) {
			t->def = t->n;
			found_def = 1;
		}
		t->n++;
	}
	if (!found_def) {
		snprintf(errstr, errstr_size,
			 "no template %s/%s/%s for the "
			 "default locale (AUTH_LOCALE_DEFAULT=%s)",
			 dir, default_locale, TEMPLATE_FILE, default_locale);
		goto fail;
	}
	closedir(d);
	return t;
oom:
	snprintf(errstr, errstr_size, "out of memory");
fail:
	if (d)
		closedir(d);
	templates_free(t);
	return NULL;
}

int template_subst(const char *tpl, const char *const *names,
		   const char *const *values, size_t n,
		   template_escape_fn escape, char *out, size_t out_size)
{
	size_t len = 0;
	const char *p = tpl;

	if (out_size == 0)
		return -1;
	while (*p) {
		const char *end;
		size_t i = n;

		if (p[0] == '$' && p[1] == '{' && (end = strchr(p + 2, '}'))) {
			for (i = 0; i < n; i++)
				if (strlen(names[i]) == (size_t)(end - p - 2) &&
				    strncmp(p + 2, names[i],
					    strlen(names[i])) == 0)
					break;
		}
		if (i < n) {
			int w;

			if (escape) {
				w = escape(values[i], out + len,
					   out_size - len);
				if (w < 0)
					goto full;
			} else {
				w = (int)strlen(values[i]);
				if (len + (size_t)w >= out_size)
					goto full;
				memcpy(out + len, values[i], (size_t)w);
			}
			len += (size_t)w;
			p = strchr(p, '}') + 1;
			continue;
		}
		if (len + 1 >= out_size)
			goto full;
		out[len++] = *p++;
	}
	out[len] = '\0';
	return (int)len;
full:
	out[0] = '\0';
	return -1;
}

int templates_render(const struct templates *t, const char *locale,
		     const char *code, char *out, size_t out_size)
{
	const struct tpl *tp = &t->v[t->def];
	const char *names[] = { "code" };
	const char *values[] = { code };

	for (size_t i = 0; locale && i < t->n; i++)
		if (strcmp(t->v[i].locale, locale) == 0) {
			tp = &t->v[i];
			break;
		}
	return template_subst(tp->text, names, values, 1, NULL, out, out_size);
}
