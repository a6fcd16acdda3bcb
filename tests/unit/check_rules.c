/*
 * Unit tests for rules, classify, jsonpos and the offline CLI.
 *
 * Golden files live in $SPILLWAY_TESTDATA/rules (default tests/data):
 *
 *   load-NAME.in      a rules file; NAME.out holds what `spillway check`
 *                     prints for it: the class table, or a line
 *                     "load-NAME.in:LINE:COL: message" for each error.
 *   classify-NAME.in  a rules file (blank: the built-in rules), a line
 *                     "---- events ----", then NDJSON events; the .out
 *                     holds the `classify --each` output, the summary
 *                     table, and "limit CLASS N" for every class whose
 *                     regexes hit the match limit.
 *
 * On a mismatch the actual output is written to tests/out/.  With
 * SPILLWAY_GOLDEN_UPDATE=1 the .out files are rewritten instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "classify.h"
#include "cli.h"
#include "jsonpos.h"
#include "rules.h"
#include "check_common.h"

#define EVENTS_MARKER	"---- events ----\n"

static glob_t	 golden;

static void
spew(const char *path, const char *buf, size_t len)
{
	FILE	*fp;

	if ((fp = fopen(path, "wb")) == NULL)
		return;
	fwrite(buf, 1, len, fp);
	fclose(fp);
}

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

static void
run_classify(FILE *out, const char *name, const char *text, size_t len)
{
	struct rules_error	 err;
	struct ruleset		*rs;
	const char		*mark, *ev;
	uint64_t		*counts, *hits;
	FILE			*in;
	size_t			 rlen, i;
	char			 buf[1024];

	mark = strstr(text, EVENTS_MARKER);
	ck_assert_msg(mark != NULL, "%s: no events marker", name);
	rlen = (size_t)(mark - text);
	ev = mark + strlen(EVENTS_MARKER);
	for (i = 0; i < rlen && strchr(" \t\r\n", text[i]) != NULL; i++)
		;
	if (i == rlen)
		rs = rules_builtin();
	else if ((rs = rules_load_buffer(text, rlen, &err)) == NULL) {
		fprintf(out, "%s\n", rules_error_format(&err, name, buf,
		    sizeof(buf)));
		return;
	}
	ck_assert_ptr_nonnull(rs);
	counts = calloc(rs->nclasses, sizeof(*counts));
	hits = calloc(rs->nclasses, sizeof(*hits));
	ck_assert(counts != NULL && hits != NULL);
	if (len > (size_t)(ev - text))
		in = fmemopen((void *)(uintptr_t)ev, len - (size_t)(ev - text),
		    "r");
	else
		in = fopen("/dev/null", "r");
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(cli_classify_stream(rs, in, out, counts, hits), 0);
	fclose(in);
	cli_print_summary(out, rs, counts);
	for (i = 0; i < rs->nclasses; i++)
		if (hits[i] > 0)
			fprintf(out, "limit %s %" PRIu64 "\n",
			    rs->classes[i].name, hits[i]);
	free(counts);
	free(hits);
	rules_free(rs);
}

START_TEST(test_golden)
{
	const char	*path = golden.gl_pathv[_i], *name;
	char		*text, *want, *got = NULL, outpath[4096];
	size_t		 len, wantlen = 0, gotlen = 0;
	FILE		*out;

	name = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	text = unit_slurp(path, &len);
	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	out = open_memstream(&got, &gotlen);
	ck_assert_ptr_nonnull(out);
	if (strncmp(name, "load-", 5) == 0)
		run_load(out, name, text, len);
	else if (strncmp(name, "classify-", 9) == 0)
		run_classify(out, name, text, len);
	else
		ck_abort_msg("%s: unknown kind of golden file", name);
	fclose(out);

	snprintf(outpath, sizeof(outpath), "%.*s.out",
	    (int)(strlen(path) - 3), path);
	if (getenv("SPILLWAY_GOLDEN_UPDATE") != NULL)
		spew(outpath, got, gotlen);
	want = unit_slurp(outpath, &wantlen);
	if (want == NULL || wantlen != gotlen ||
	    memcmp(want, got, gotlen) != 0) {
		char	actual[4096];

		mkdir("tests/out", 0777);
		snprintf(actual, sizeof(actual), "tests/out/%.*s.out",
		    (int)(strlen(name) - 3), name);
		spew(actual, got, gotlen);
		ck_abort_msg("%s: output differs from %s (actual in %s)",
		    name, outpath, actual);
	}
	free(want);
	free(got);
	free(text);
}
END_TEST

START_TEST(test_golden_present)
{
	/* A missing data directory must not pass as "no cases". */
	ck_assert_msg(golden.gl_pathc >= 20, "only %zu golden files in %s",
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

/* jpath_scalar_text */

static void
text_is(json_t *v, const char *want)
{
	char		 buf[32];
	const char	*txt;
	size_t		 len;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(jpath_scalar_text(v, buf, sizeof(buf), &txt,
	    &len), 0);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(txt, want, len);
	json_decref(v);
}

START_TEST(test_scalar_text)
{
	char		 buf[32];
	const char	*txt;
	size_t		 len;
	json_t		*v;

	text_is(json_integer(200), "200");
	text_is(json_integer(0), "0");
	text_is(json_integer(-7), "-7");
	text_is(json_integer(9223372036854775807LL), "9223372036854775807");
	text_is(json_integer(-9223372036854775807LL - 1),
	    "-9223372036854775808");
	text_is(json_true(), "true");
	text_is(json_false(), "false");
	text_is(json_string("x"), "x");
	v = json_stringn("a\0b", 3);
	ck_assert_int_eq(jpath_scalar_text(v, buf, sizeof(buf), &txt,
	    &len), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(txt, "a\0b", 3);
	json_decref(v);
	/* As Python's repr(). */
	text_is(json_real(1.5), "1.5");
	text_is(json_real(1000.0), "1000.0");
	text_is(json_real(0.0), "0.0");
	text_is(json_real(-0.0), "-0.0");
	text_is(json_real(0.1), "0.1");
	text_is(json_real(1.0 / 3), "0.3333333333333333");
	text_is(json_real(2.0 / 3), "0.6666666666666666");
	text_is(json_real(1e15), "1000000000000000.0");
	text_is(json_real(9999999999999998.0), "9999999999999998.0");
	text_is(json_real(1e16), "1e+16");
	text_is(json_real(1.2345e16), "1.2345e+16");
	text_is(json_real(1e22), "1e+22");
	text_is(json_real(1e100), "1e+100");
	text_is(json_real(0.0001), "0.0001");
	text_is(json_real(0.00001), "1e-05");
	text_is(json_real(1.5e-7), "1.5e-07");
	text_is(json_real(-123.456), "-123.456");
	text_is(json_real(5e-324), "5e-324");
	text_is(json_real(1.7976931348623157e308), "1.7976931348623157e+308");
	text_is(json_real(-2.2250738585072014e-308),
	    "-2.2250738585072014e-308");
	text_is(json_real(123456789.125), "123456789.125");

	v = json_null();
	ck_assert_int_eq(jpath_scalar_text(v, buf, sizeof(buf), &txt,
	    &len), -1);
	v = json_object();
	ck_assert_int_eq(jpath_scalar_text(v, buf, sizeof(buf), &txt,
	    &len), -1);
	json_decref(v);
	v = json_array();
	ck_assert_int_eq(jpath_scalar_text(v, buf, sizeof(buf), &txt,
	    &len), -1);
	json_decref(v);
}
END_TEST

START_TEST(test_lookup)
{
	struct jpath	 p;
	char			*segs[] = { "a", "b" };
	size_t			 seglen[] = { 1, 1 };
	json_t			*root, *v;

	p.full = "a.b";
	p.len = 3;
	p.segs = segs;
	p.seglen = seglen;
	p.nsegs = 2;

	root = json_loads("{\"a\": {\"b\": 1}}", 0, NULL);
	v = jpath_lookup(root, &p);
	ck_assert(json_is_integer(v) && json_integer_value(v) == 1);
	json_decref(root);

	root = json_loads("{\"a\": {\"b\": 1}, \"a.b\": 2}", 0, NULL);
	v = jpath_lookup(root, &p);
	ck_assert(json_is_integer(v) && json_integer_value(v) == 2);
	json_decref(root);

	/* A null literal key still wins: no fall-back to the nested path. */
	root = json_loads("{\"a.b\": null, \"a\": {\"b\": 1}}", 0, NULL);
	v = jpath_lookup(root, &p);
	ck_assert(json_is_null(v));
	json_decref(root);

	root = json_loads("{\"a\": [{\"b\": 1}]}", 0, NULL);
	ck_assert_ptr_null(jpath_lookup(root, &p));
	json_decref(root);

	root = json_loads("{\"a\": \"b\"}", 0, NULL);
	ck_assert_ptr_null(jpath_lookup(root, &p));
	json_decref(root);
}
END_TEST

START_TEST(test_builtin)
{
	struct ruleset	*rs = rules_builtin();
	json_t		*obj;

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

	ck_assert_uint_eq(classify(rs, "{}", 2, &obj, NULL), 0);
	ck_assert(json_is_object(obj));
	json_decref(obj);
	ck_assert_uint_eq(classify(rs, "{", 1, &obj, NULL), 1);
	ck_assert_ptr_null(obj);
	ck_assert_uint_eq(classify(rs, "", 0, NULL, NULL), 1);
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

/* The rule set is shared by worker threads: classify concurrently. */
struct worker {
	const struct ruleset	*rs;
	uint64_t		 hits[16];
	int			 bad;
};

static void *
worker_run(void *arg)
{
	static const char *const ev[] = {
		"{\"level\":\"ERROR\"}", "{\"level\":\"debug\"}",
		"{\"svc\":\"x\"}", "nope",
		"{\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"}"
	};
	static const size_t want[] = { 0, 1, 3, 4, 3 };
	struct worker	*w = arg;
	size_t		 i;

	for (i = 0; i < 2000; i++)
		if (classify(w->rs, ev[i % 5], strlen(ev[i % 5]), NULL,
		    w->hits) != want[i % 5])
			w->bad++;
	return NULL;
}

START_TEST(test_threads)
{
	static const char rules[] =
	    "{\"classes\": ["
	    "{\"name\":\"crit\",\"match\":[{\"field\":\"level\","
	    "\"regex\":\"^error$\",\"flags\":\"i\"}]},"
	    "{\"name\":\"dbg\",\"match\":[{\"field\":\"level\","
	    "\"regex\":\"debug\"}]},"
	    "{\"name\":\"slow\",\"match\":[{\"field\":\"s\","
	    "\"regex\":\"^(a|aa)+$\"}]}]}";
	struct rules_error	 err;
	struct worker		 w[4];
	pthread_t		 t[4];
	struct ruleset		*rs;
	int			 i;

	rs = rules_load_buffer(rules, sizeof(rules) - 1, &err);
	ck_assert_msg(rs != NULL, "%s", err.msg);
	for (i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].rs = rs;
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run,
		    &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
		ck_assert_uint_eq(w[i].hits[2], 400);
	}
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
	tcase_add_test(tc, test_scalar_text);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_files);
	tcase_add_test(tc, test_max_age);
	tcase_add_test(tc, test_cli_exit);
	tcase_add_test(tc, test_summary_format);
	tcase_add_test(tc, test_threads);
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
	char	 pattern[4096];
	int	 rc;

	snprintf(pattern, sizeof(pattern), "%s/rules/*.in", unit_testdata());
	if (glob(pattern, 0, NULL, &golden) != 0)
		golden.gl_pathc = 0;
	rc = unit_run(rules_suite());
	globfree(&golden);
	return rc;
}
