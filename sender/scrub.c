/* Scrubbing outside text (see scrub.h). */
#include "scrub.h"

#include <string.h>

void scrub_code(char *s, const char *code)
{
	char *p;

	if (!code || !code[0])
		return;
	while ((p = strstr(s, code)) != NULL)
		memset(p, '*', strlen(code));
}
