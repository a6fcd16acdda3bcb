/*
 * Unit tests for rules, jsonpos and the offline CLI's `check` (what
 * class an event gets: check_classify.c).
 *
 * Golden files live in $SPILLWAY_TESTDATA/rules (default tests/data):
 *
 *   load-NAME.in      a rules file; NAME.out holds what `spillway check`
 *                     prints for it: the class table, or a line
 *                     "load-NAME.in:LINE:COL: message" for each error.
 *
 * On a mismatch the actual output is written to tests/out/.  With
 * SPILLWAY_GOLDEN_UPDATE=1 the .out files are rewritten instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "cli.h"
#include "jsonpos.h"
#include "rules.h"
#include "check_common.h"

static glob_t	 golden;

/* What `check` prints for the rules text, as the golden files hold it. */
static void
run_load(FILE *out, const char *name, const char *text, size_t len)
{
	struct rules_error	 err;
	struct ruleset		*rs;

	if ((rs = rules_load_buffer(text, len, &err)) == NULL) {
		rules_error_print(out, &err, name);
		return;
	}
	ck_assert_int_eq(cli_print_table(out, rs), 0);
	rules_free(rs);
}

START_TEST(test_golden)
{
	unit_golden_file(golden.gl_pathv[_i], run_load);
}
END_TEST

START_TEST(test_golden_present)
{
	/* A missing data directory must not pass as "no cases". */
	ck_assert_msg(golden.gl_pathc >= 50, "only %zu golden files in %s",
	    golden.gl_pathc, unit_testdata());
}
END_TEST

/* jsonpos */

static void
pos(const char *text, const struct jsonpos_seg *path, size_t depth,
    int want_key, int rv, int line, int col)
{
	int	l = -1, c = -1;

	ck_assert_int_eq(jsonpos_find(text, strlen(text), path, depth,
	    want_key, &l, &c), rv);
	ck_assert_int_eq(l, line);
	ck_assert_int_eq(c, col);
}

START_TEST(test_jsonpos)
{
	const char	*t =
	    "  {\"a\": [1, {\"b\\u00e9\": true}, \"x\\\"]\"],\n"
	    "\t\"c\": {\"d\": null, \"é\": [ ], \"f\": 2}}";
	struct jsonpos_seg p1[] = { { "a", 0 }, { NULL, 1 }, { "b\xc3\xa9", 0 } };
	struct jsonpos_seg p2[] = { { "a", 0 }, { NULL, 2 } };
	struct jsonpos_seg p3[] = { { "c", 0 }, { "f", 0 } };
	struct jsonpos_seg p4[] = { { "c", 0 }, { "zz", 0 } };
	struct jsonpos_seg p5[] = { { "a", 0 }, { NULL, 3 } };
	struct jsonpos_seg p6[] = { { "c", 0 }, { "\xc3\xa9", 0 } };

	pos(t, NULL, 0, 0, 0, 1, 3);
	pos(t, p1, 1, 0, 0, 1, 9);
	pos(t, p1, 1, 1, 0, 1, 4);
	pos(t, p1, 2, 0, 0, 1, 13);
	pos(t, p1, 3, 0, 0, 1, 25);
	pos(t, p1, 3, 1, 0, 1, 14);
	pos(t, p2, 2, 0, 0, 1, 32);
	pos(t, p3, 2, 1, 0, 2, 29);
	pos(t, p3, 2, 0, 0, 2, 34);
	pos(t, p4, 2, 1, -1, 2, 7);
	pos(t, p5, 2, 0, -1, 1, 9);
	pos(t, p6, 2, 0, 0, 2, 24);
}
END_TEST

START_TEST(test_builtin)
{
	struct ruleset	*rs = rules_builtin();

	ck_assert_ptr_nonnull(rs);
	ck_assert_uint_eq(rs->nrules, 0);
	ck_assert_uint_eq(rs->nclasses, 2);
	ck_assert_str_eq(rs->classes[RULES_DEFAULT(rs)].name, "default");
	ck_assert_str_eq(rs->classes[RULES_INVALID(rs)].name, "_invalid");
	ck_assert_int_eq(rs->classes[0].rate, 0);
	ck_assert_int_eq(rules_find(rs, "default"), 0);
	ck_assert_int_eq(rules_find(rs, "_invalid"), 1);
	ck_assert_int_eq(rules_find(rs, "_spillway"), -1);
	ck_assert_ptr_nonnull(rs->text);
	ck_assert_uint_eq(strlen(rs->text), rs->textlen);
	rules_free(rs);
	rules_free(NULL);
}
END_TEST

START_TEST(test_files)
{
	struct rules_error	 err;
	struct ruleset		*rs;
	char			 buf[256];
	size_t			 len;
	char			*text;

	rs = rules_load_file("rules/example.json", &err);
	ck_assert_msg(rs != NULL, "%s", rules_error_format(&err,
	    "rules/example.json", buf, sizeof(buf)));
	ck_assert_uint_ge(rs->nrules, 6);
	text = unit_slurp("rules/example.json", &len);
	ck_assert_uint_eq(rs->textlen, len);
	ck_assert_mem_eq(rs->text, text, len);
	free(text);
	rules_free(rs);

	rs = rules_load_file("rules/default.json", &err);
	ck_assert_ptr_nonnull(rs);
	ck_assert_uint_eq(rs->nclasses, 2);
	ck_assert_str_eq(rs->classes[0].name, "default");
	rules_free(rs);

	rs = rules_load_file("/nonexistent/rules.json", &err);
	ck_assert_ptr_null(rs);
	ck_assert_int_eq(err.line, 0);
	ck_assert_str_eq(rules_error_format(&err, "/nonexistent/rules.json",
	    buf, sizeof(buf)), "/nonexistent/rules.json: cannot read: "
	    "No such file or directory");
}
END_TEST

/* max_age_ms: whole milliseconds, 1 to a day; 0 (never) when absent. */

static int
max_age_of(const struct ruleset *rs, const char *name)
{
	int	 i = rules_find(rs, name);

	ck_assert_msg(i >= 0, "no class %s", name);
	return (int)rs->classes[i].max_age_ms;
}

/* A class "a" with max_age_ms set to the JSON text v: refused. */
static void
max_age_bad(const char *v)
{
	struct rules_error	 err;
	struct ruleset		*rs;
	char			 text[256], buf[512];

	snprintf(text, sizeof(text), "{\"classes\":[{\"name\":\"a\","
	    "\"max_age_ms\":%s,\"match\":[]}]}", v);
	rs = rules_load_buffer(text, strlen(text), &err);
	ck_assert_msg(rs == NULL, "max_age_ms %s accepted", v);
	/* The position is the value's: column 38 of line 1. */
	ck_assert_str_eq(rules_error_format(&err, "r.json", buf, sizeof(buf)),
	    "r.json:1:38: class \"a\": \"max_age_ms\" must be an integer "
	    "from 1 to 86400000");
}

START_TEST(test_max_age)
{
	static const char	 text[] =
	    "{\"classes\":["
	    "{\"name\":\"a\",\"max_age_ms\":100,\"match\":[]},"
	    "{\"name\":\"b\",\"match\":[]},"
	    "{\"name\":\"c\",\"max_age_ms\":1,\"match\":[]},"
	    "{\"name\":\"d\",\"max_age_ms\":86400000,\"match\":[]}],"
	    "\"default\":{\"name\":\"other\",\"max_age_ms\":5000},"
	    "\"invalid\":{\"max_age_ms\":250}}";
	struct rules_error	 err;
	struct ruleset		*rs;

	rs = rules_load_buffer(text, sizeof(text) - 1, &err);
	ck_assert_msg(rs != NULL, "%d:%d: %s", err.line, err.col, err.msg);
	ck_assert_int_eq(max_age_of(rs, "a"), 100);
	ck_assert_int_eq(max_age_of(rs, "b"), 0);
	ck_assert_int_eq(max_age_of(rs, "c"), 1);
	ck_assert_int_eq(max_age_of(rs, "d"), 86400000);
	ck_assert_int_eq(rs->classes[RULES_DEFAULT(rs)].max_age_ms, 5000);
	ck_assert_int_eq(rs->classes[RULES_INVALID(rs)].max_age_ms, 250);
	rules_free(rs);

	/* Not set anywhere: nothing expires. */
	rs = rules_builtin();
	ck_assert_ptr_nonnull(rs);
	ck_assert_int_eq(rs->classes[RULES_DEFAULT(rs)].max_age_ms, 0);
	ck_assert_int_eq(rs->classes[RULES_INVALID(rs)].max_age_ms, 0);
	rules_free(rs);

	max_age_bad("0");
	max_age_bad("-1");
	max_age_bad("86400001");
	max_age_bad("9223372036854775807");
	max_age_bad("1.5");
	max_age_bad("100.0");
	max_age_bad("\"100\"");
	max_age_bad("true");
	max_age_bad("null");
	max_age_bad("[100]");
}
END_TEST

/* Run a command with stdout and stderr sent to /dev/null. */
static int
quietly(int (*fn)(int, char **), int argc, char **argv)
{
	int	 so, se, null, rv;

	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	null = open("/dev/null", O_WRONLY);
	ck_assert(so != -1 && se != -1 && null != -1);
	dup2(null, 1);
	dup2(null, 2);
	rv = fn(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(null);
	return rv;
}

START_TEST(test_cli_exit)
{
	char	 bad[4096];
	char	*a1[] = { "check", "rules/example.json", NULL };
	char	*a2[] = { "check", "-r", "rules/default.json", NULL };
	char	*a3[] = { "check", bad, NULL };
	char	*a4[] = { "check", NULL };
	char	*a5[] = { "check", "-x", "rules/default.json", NULL };
	char	*a6[] = { "check", "-h", NULL };
	char	*a7[] = { "classify", "/dev/null", NULL };
	char	*a8[] = { "classify", "-r", bad, "/dev/null", NULL };
	char	*a9[] = { "classify", "--each", "/nonexistent", NULL };
	char	*a10[] = { "classify", "--rules=rules/example.json", "--each",
	    "/dev/null", NULL };
	char	*a11[] = { "check", "/nonexistent", NULL };

	snprintf(bad, sizeof(bad), "%s/rules/load-bad-regex.in",
	    unit_testdata());
	ck_assert_int_eq(quietly(cli_check, 2, a1), 0);
	ck_assert_int_eq(quietly(cli_check, 3, a2), 0);
	ck_assert_int_eq(quietly(cli_check, 2, a3), 1);
	ck_assert_int_eq(quietly(cli_check, 1, a4), 1);
	ck_assert_int_eq(quietly(cli_check, 3, a5), 1);
	ck_assert_int_eq(quietly(cli_check, 2, a6), 0);
	ck_assert_int_eq(quietly(cli_classify, 2, a7), 0);
	ck_assert_int_eq(quietly(cli_classify, 4, a8), 1);
	ck_assert_int_eq(quietly(cli_classify, 3, a9), 2);	/* runtime */
	ck_assert_int_eq(quietly(cli_classify, 4, a10), 0);
	ck_assert_int_eq(quietly(cli_check, 2, a11), 1);
}
END_TEST

START_TEST(test_summary_format)
{
	struct ruleset	*rs = rules_builtin();
	uint64_t	 counts[2] = { 2, 1 };
	char		*got = NULL;
	size_t		 len = 0;
	FILE		*out;

	ck_assert_ptr_nonnull(rs);
	out = open_memstream(&got, &len);
	cli_print_summary(out, rs, counts);
	fclose(out);
	ck_assert_str_eq(got, "class priority events share\n"
	    "default 0 2 66.7%\n_invalid 0 1 33.3%\n");
	free(got);
	rules_free(rs);
}
END_TEST

static Suite *
rules_suite(void)
{
	Suite	*s = suite_create("rules");
	TCase	*tc;

	tc = tcase_create("units");
	tcase_add_test(tc, test_jsonpos);
	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_max_age);
	tcase_add_test(tc, test_cli_exit);
	tcase_add_test(tc, test_summary_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_golden_present);
	tcase_add_loop_test(tc, test_golden, 0, (int)golden.gl_pathc);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	rc;

	unit_glob("rules/load-*.in", &golden);
	rc = unit_run(rules_suite());
	globfree(&golden);
	return rc;
}
