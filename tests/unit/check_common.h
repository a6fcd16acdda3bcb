/*
 * check_common: what the unit suites share: where the test data lives,
 * reading a whole file, golden cases (NAME.in against NAME.out), and the
 * main() that runs one suite.
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <glob.h>
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
 * Hold got (len bytes) to the golden file dir/name.out: 0 when they are
 * the same, else 1, with got written to tests/out/name.out and both
 * printed.  With SPILLWAY_GOLDEN_UPDATE set the golden file is rewritten
 * instead (review the diff before committing it).
 */
static inline int
unit_golden_case(const char *dir, const char *name, const char *got,
    size_t len)
{
	char	*want, outpath[8192], actual[8192];
	size_t	 wantlen = 0;

	snprintf(outpath, sizeof(outpath), "%s/%s.out", dir, name);
	if (getenv("SPILLWAY_GOLDEN_UPDATE") != NULL)
		unit_spew(outpath, got, len);
	want = unit_slurp(outpath, &wantlen);
	if (want != NULL && wantlen == len && memcmp(want, got, len) == 0) {
		free(want);
		return 0;
	}
	mkdir("tests/out", 0777);
	snprintf(actual, sizeof(actual), "tests/out/%s.out", name);
	unit_spew(actual, got, len);
	fprintf(stderr, "%s: output differs (actual in %s)\n--- want\n%s"
	    "--- got\n%.*s---\n", outpath, actual, want != NULL ? want :
	    "(missing)\n", (int)len, got);
	free(want);
	return 1;
}

/*
 * The same for the input file at path (DIR/NAME.in), failing the test
 * on a mismatch.
 */
static inline void
unit_golden(const char *path, const char *got, size_t len)
{
	const char	*slash = strrchr(path, '/');
	char		 dir[4096], name[1024];
	size_t		 dl = slash != NULL ? (size_t)(slash - path) : 1;
	const char	*base = slash != NULL ? slash + 1 : path;

	snprintf(dir, sizeof(dir), "%.*s", (int)dl, slash != NULL ? path :
	    ".");
	snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - 3), base);
	if (unit_golden_case(dir, name, got, len) != 0)
		ck_abort_msg("%s: output differs from %s/%s.out", path, dir,
		    name);
}

/*
 * Hold what run(out, name, text, len) prints for the text of the input
 * file at path (DIR/NAME.in; name is its base name) to the golden file
 * DIR/NAME.out, as unit_golden() does.
 */
static inline void
unit_golden_file(const char *path, void (*run)(FILE *, const char *,
    const char *, size_t))
{
	const char	*name = strrchr(path, '/') != NULL ?
			    strrchr(path, '/') + 1 : path;
	char		*text, *got = NULL;
	size_t		 len, gotlen = 0;
	FILE		*out;

	text = unit_slurp(path, &len);
	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	out = open_memstream(&got, &gotlen);
	ck_assert_ptr_nonnull(out);
	run(out, name, text, len);
	fclose(out);
	unit_golden(path, got, gotlen);
	free(got);
	free(text);
}

/* The files of the test data matching pattern ("rules/load-*.in"). */
static inline void
unit_glob(const char *pattern, glob_t *g)
{
	char	 path[4096];

	snprintf(path, sizeof(path), "%s/%s", unit_testdata(), pattern);
	if (glob(path, 0, NULL, g) != 0)
		g->gl_pathc = 0;
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
