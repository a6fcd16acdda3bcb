/*
 * check_common: what the unit suites share: where the test data lives,
 * reading a whole file, and the main() that runs one suite.
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <check.h>

/* The test data directory: $SPILLWAY_TESTDATA, else tests/data. */
static inline const char *
unit_testdata(void)
{
	const char	*d = getenv("SPILLWAY_TESTDATA");

	return d != NULL && *d != '\0' ? d : "tests/data";
}

/*
 * The whole file at path, NUL-terminated, malloc'ed; its length in
 * *lenp unless lenp is NULL.  NULL when it cannot be read.
 */
static inline char *
unit_slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*p = NULL, *np;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((np = realloc(p, cap + 1)) == NULL)
				goto fail;
			p = np;
		}
		n = fread(p + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	p[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return p;
fail:
	fclose(f);
	free(p);
	return NULL;
}

/* Runs suite s with check's defaults; main()'s exit status. */
static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
