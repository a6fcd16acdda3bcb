/*
 * check_common: what the unit suites share: where the test data lives,
 * reading a whole file, golden cases (NAME.in against NAME.out), and the
 * main() that runs one suite.
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#include <sys/types.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static inline int
unit_cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Sorted case names (file names without ".in") in the test data
 * directory sub, whose path goes into dir.
 */
static inline char **
unit_cases(const char *sub, size_t *np, char *dir, size_t dirlen)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL;
	size_t		 n = 0, l;

	snprintf(dir, dirlen, "%s/%s", unit_testdata(), sub);
	d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (l < 4 || strcmp(de->d_name + l - 3, ".in") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		ck_assert_ptr_nonnull(names);
		names[n] = strndup(de->d_name, l - 3);
		ck_assert_ptr_nonnull(names[n]);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), unit_cmpstr);
	*np = n;
	return names;
}

static inline void
unit_cases_free(char **names, size_t n)
{
	while (n > 0)
		free(names[--n]);
	free(names);
}

/*
 * Compares got with dir/name.out.  With SPILLWAY_REGEN set, writes the
 * file instead (review the diff before committing it).
 */
static inline int
unit_golden(const char *dir, const char *name, const char *got, size_t len)
{
	char	 path[1024];
	char	*want;
	size_t	 wlen;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s.out", dir, name);
	if (getenv("SPILLWAY_REGEN") != NULL) {
		f = fopen(path, "wb");
		ck_assert_ptr_nonnull(f);
		fwrite(got, 1, len, f);
		fclose(f);
		return 0;
	}
	want = unit_slurp(path, &wlen);
	if (want == NULL) {
		fprintf(stderr, "%s: missing\n", path);
		return 1;
	}
	if (wlen != len || memcmp(want, got, len) != 0) {
		fprintf(stderr, "%s: mismatch\n--- want\n%s--- got\n%.*s---\n",
		    path, want, (int)len, got);
		free(want);
		return 1;
	}
	free(want);
	return 0;
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
