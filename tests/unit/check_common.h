/*
 * check_common: what the unit suites share: where the test data lives,
 * reading a whole file, golden files, and the main() that runs one suite.
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static inline void
unit_spew(const char *path, const char *buf, size_t len)
{
	FILE	*fp;

	if ((fp = fopen(path, "wb")) == NULL)
		return;
	fwrite(buf, 1, len, fp);
	fclose(fp);
}

/*
 * Hold got (len bytes) to the golden file of the input at path: the same
 * path with ".out" for its ".in".  On a mismatch the test fails and got
 * is written to tests/out/NAME.out.  With SPILLWAY_GOLDEN_UPDATE set the
 * golden file is rewritten instead.
 */
static inline void
unit_golden(const char *path, const char *got, size_t len)
{
	const char	*name;
	char		*want, outpath[4096], actual[4096];
	size_t		 wantlen = 0;

	name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	snprintf(outpath, sizeof(outpath), "%.*s.out",
	    (int)(strlen(path) - 3), path);
	if (getenv("SPILLWAY_GOLDEN_UPDATE") != NULL)
		unit_spew(outpath, got, len);
	want = unit_slurp(outpath, &wantlen);
	if (want == NULL || wantlen != len || memcmp(want, got, len) != 0) {
		mkdir("tests/out", 0777);
		snprintf(actual, sizeof(actual), "tests/out/%.*s.out",
		    (int)(strlen(name) - 3), name);
		unit_spew(actual, got, len);
		ck_abort_msg("%s: output differs from %s (actual in %s)",
		    name, outpath, actual);
	}
	free(want);
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
