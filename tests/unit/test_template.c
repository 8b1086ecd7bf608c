/* template: loading per-locale templates, fallback to the default locale,
 * startup errors, ${name} substitution with escaping and caps. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "provider.h"
#include "template.h"

static char root[64];

static void put(const char *locale, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, locale);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/sms-otp.txt", root, locale);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

int main(void)
{
	char err[512], out[256], big[8];
	struct templates *t;
	char src[512];
	const char *names[] = { "to", "body" };
	const char *values[] = { "+33612345678", "a \"quoted\" & 100%" };

	snprintf(root, sizeof(root), "/tmp/otpflow-test-template-XXXXXX");
	CHECK(mkdtemp(root) != NULL);

	/* the shipped templates */
	snprintf(src, sizeof(src), "%s/templates",
		 getenv("OTPFLOW_SOURCE_DIR") ? getenv("OTPFLOW_SOURCE_DIR") :
						OTPFLOW_SOURCE_DIR);
	t = templates_load(src, "en", err, sizeof(err));
	CHECK(t != NULL);
	if (t) {
		CHECK(templates_count(t) >= 3);
		CHECK_INT(templates_render(t, "en", "042917", out, sizeof(out)),
			  strlen("Your code is 042917."));
		CHECK_STR(out, "Your code is 042917.");
		templates_render(t, "fr", "042917", out, sizeof(out));
		CHECK_STR(out, "Votre code est 042917.");
		templates_render(t, "es", "042917", out, sizeof(out));
		CHECK_STR(out, "Tu código es 042917.");
		templates_render(t, "xx", "042917", out, sizeof(out));
		CHECK_STR(out, "Your code is 042917.");
		templates_render(t, NULL, "042917", out, sizeof(out));
		CHECK_STR(out, "Your code is 042917.");
		templates_free(t);
	}

	/* missing default locale: a startup error naming the file */
	put("fr", "Code ${code}\n");
	CHECK(templates_load(root, "en", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/en/sms-otp.txt") != NULL);
	CHECK(strstr(err, "AUTH_LOCALE_DEFAULT") != NULL);
	/* fallback to a non-English default */
	t = templates_load(root, "fr", err, sizeof(err));
	CHECK(t != NULL);
	if (t) {
		templates_render(t, "en", "111111", out, sizeof(out));
		CHECK_STR(out, "Code 111111"); /* trailing newline dropped */
		/* too small a buffer: -1 and empty */
		CHECK_INT(templates_render(t, "fr", "111111", big, sizeof(big)),
			  -1);
		CHECK_STR(big, "");
		templates_free(t);
	}
	/* a template without the placeholder is refused */
	put("de", "Ihr Code\n");
	CHECK(templates_load(root, "fr", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "${code}") != NULL);
	put("de", "Ihr Code: ${code}, noch einmal: ${code} ${other}\r\n");
	t = templates_load(root, "fr", err, sizeof(err));
	CHECK(t != NULL);
	if (t) {
		templates_render(t, "de", "222222", out, sizeof(out));
		CHECK_STR(out,
			  "Ihr Code: 222222, noch einmal: 222222 ${other}");
		templates_free(t);
	}
	CHECK(templates_load("/nonexistent/dir", "en", err, sizeof(err)) ==
	      NULL);

	/* substitution with escaping (the webhook body) */
	CHECK(template_subst("{\"to\":\"${to}\",\"body\":\"${body}\"}", names,
			     values, 2, provider_escape_json, out,
			     sizeof(out)) > 0);
	CHECK_STR(out, "{\"to\":\"+33612345678\",\"body\":\"a \\\"quoted\\\" & "
		       "100%\"}");
	CHECK(template_subst("to=${to}&body=${body}", names, values, 2,
			     provider_escape_form, out, sizeof(out)) > 0);
	CHECK_STR(out,
		  "to=%2B33612345678&body=a%20%22quoted%22%20%26%20100%25");
	CHECK_INT(template_subst("${to}", names, values, 2, NULL, big,
				 sizeof(big)),
		  -1);
	CHECK_INT(template_subst("${to", names, values, 2, NULL, out,
				 sizeof(out)),
		  4);
	CHECK_STR(out, "${to");
	CHECK_INT(provider_escape_json("\n\x01", out, sizeof(out)), 8);
	CHECK_STR(out, "\\n\\u0001");

	snprintf(src, sizeof(src), "rm -rf '%s'", root);
	CHECK_INT(system(src), 0);
	return check_done("template");
}
