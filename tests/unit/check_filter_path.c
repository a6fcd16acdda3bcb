/*
 * Unit tests for filter_path: golden files under $SPILLWAY_TESTDATA/bulk/
 * filter (default tests/data/bulk/filter), where the bulk answers' filters
 * were first collected, and the writer that the bulk answers use.
 *
 *   NAME.in     the filter_path on the first line, then a document
 *   NAME.out    the exact result, then a newline
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "filter_path.h"
#include "check_common.h"

START_TEST(test_filter_golden)
{
	char		 dir[512], path[1024];
	char		**names, *in, *nl, *res;
	size_t		 n, i, len;
	int		 fails = 0;

	names = unit_cases("bulk/filter", &n, dir, sizeof(dir));
	ck_assert_uint_gt(n, 20);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s.in", dir, names[i]);
		in = unit_slurp(path, NULL);
		ck_assert_ptr_nonnull(in);
		nl = strchr(in, '\n');
		ck_assert_ptr_nonnull(nl);
		*nl = '\0';
		res = filter_path_apply(nl + 1, in, &len);
		ck_assert_msg(res != NULL, "%s: NULL", path);
		ck_assert_uint_eq(strlen(res), len);
		res[len] = '\n';
		fails += unit_golden_case(dir, names[i], res, len + 1);
		free(res);
		free(in);
	}
	unit_cases_free(names, n);
	ck_assert_int_eq(fails, 0);
}
END_TEST

START_TEST(test_filter_edge)
{
	char	*s;
	size_t	 len;

	/* No filter: the document as it is. */
	s = filter_path_apply("{\"a\":1}", NULL, &len);
	ck_assert_str_eq(s, "{\"a\":1}");
	ck_assert_uint_eq(len, 7);
	free(s);
	s = filter_path_apply("{\"a\":1}", " , ", &len);
	ck_assert_str_eq(s, "{\"a\":1}");
	free(s);
	s = filter_path_apply("{\"a\":1}", "", NULL);
	ck_assert_str_eq(s, "{\"a\":1}");
	free(s);
	/* Not JSON. */
	ck_assert_ptr_null(filter_path_apply("{\"a\":", "a", NULL));
	ck_assert_ptr_null(filter_path_apply("{} x", "a", NULL));
	/* Deep documents within jansson's depth limit. */
	{
		char	 deep[4096];
		size_t	 i, o = 0;

		for (i = 0; i < 1000; i++)
			o += (size_t)sprintf(deep + o, "[");
		o += (size_t)sprintf(deep + o, "{\"a\":1,\"b\":2}");
		for (i = 0; i < 1000; i++)
			deep[o++] = ']';
		deep[o] = '\0';
		s = filter_path_apply(deep, "b", &len);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(len, o - 6);
		ck_assert_ptr_nonnull(strstr(s, "[{\"b\":2}]"));
		free(s);
	}
}
END_TEST

/*
 * A small document written member by member:
 * {"a":1,"b":{"c":"x","d":[1,{"e":true}]},"f":{}}
 */
static char *
write_doc(const char *expr, size_t *lenp)
{
	struct filter_path_writer *w;

	w = filter_path_writer_new(expr, 0);
	ck_assert_ptr_nonnull(w);
	if (filter_path_memberz(w, "a"))
		filter_path_integer(w, 1);
	filter_path_openz(w, "b", 0);
	if (filter_path_memberz(w, "c"))
		filter_path_string(w, "x");
	filter_path_openz(w, "d", 1);
	if (filter_path_member(w, NULL, 0))
		filter_path_integer(w, 1);
	filter_path_open(w, NULL, 0, 0);
	if (filter_path_memberz(w, "e"))
		filter_path_raw(w, "true", 4);
	filter_path_close(w);
	filter_path_close(w);
	filter_path_close(w);
	filter_path_openz(w, "f", 0);
	filter_path_close(w);
	return filter_path_finish(w, lenp);
}

START_TEST(test_writer_unfiltered)
{
	const char	*want = "{\"a\":1,\"b\":{\"c\":\"x\",\"d\":"
			    "[1,{\"e\":true}]},\"f\":{}}";
	char		*s;
	size_t		 len;

	s = write_doc(NULL, &len);
	ck_assert_str_eq(s, want);
	ck_assert_uint_eq(len, strlen(want));
	free(s);
	s = write_doc(" , ", NULL);
	ck_assert_str_eq(s, want);
	free(s);
}
END_TEST

/* The writer filters as filter_path_apply() does over the same document. */
START_TEST(test_writer_matches_apply)
{
	static const char *const exprs[] = {
		"a", "b.c", "b.d.e", "-b", "b.*", "**.e", "f", "-b.d,b", "x",
		"*", "-**.e", "a,f", "b.d", "-a,-f",
	};
	char	*whole, *streamed, *applied;
	size_t	 i;

	whole = write_doc(NULL, NULL);
	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		streamed = write_doc(exprs[i], NULL);
		applied = filter_path_apply(whole, exprs[i], NULL);
		ck_assert_ptr_nonnull(streamed);
		ck_assert_ptr_nonnull(applied);
		ck_assert_msg(strcmp(streamed, applied) == 0,
		    "%s: streamed %s, applied %s", exprs[i], streamed, applied);
		free(streamed);
		free(applied);
	}
	/* Spot checks of what the filter keeps. */
	streamed = write_doc("b.d.e", NULL);
	ck_assert_str_eq(streamed, "{\"b\":{\"d\":[{\"e\":true}]}}");
	free(streamed);
	streamed = write_doc("x", NULL);
	ck_assert_str_eq(streamed, "{}");
	free(streamed);
	streamed = write_doc("-b", NULL);
	ck_assert_str_eq(streamed, "{\"a\":1,\"f\":{}}");
	free(streamed);
	free(whole);
}
END_TEST

/* filter_path_value() writes a tree member through the filter. */
START_TEST(test_writer_value)
{
	struct filter_path_writer *w;
	json_t	*v;
	char	*s;

	v = json_loads("{\"status\":429,\"error\":{\"type\":\"t\",\"reason\":"
	    "\"r\"},\"r\":0.5}", 0, NULL);
	ck_assert_ptr_nonnull(v);
	w = filter_path_writer_new("items.*.status,items.*.error.type", 0);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(filter_path_filtering(w), 1);
	filter_path_openz(w, "items", 1);
	filter_path_open(w, NULL, 0, 0);
	filter_path_value(w, "index", 5, v);
	filter_path_close(w);
	filter_path_close(w);
	s = filter_path_finish(w, NULL);
	ck_assert_str_eq(s, "{\"items\":[{\"index\":{\"status\":429,"
	    "\"error\":{\"type\":\"t\"}}}]}");
	free(s);
	w = filter_path_writer_new(NULL, 1);
	ck_assert_int_eq(filter_path_filtering(w), 0);
	filter_path_value(w, NULL, 0, v);
	s = filter_path_finish(w, NULL);
	ck_assert_str_eq(s, "[{\"status\":429,\"error\":{\"type\":\"t\","
	    "\"reason\":\"r\"},\"r\":0.5}]");
	free(s);
	json_decref(v);
	ck_assert_ptr_null(filter_path_finish(NULL, NULL));
}
END_TEST

/*
 * Scalars as the writer writes them: reals in their shortest form, strings
 * escaped as jansson escapes them, with UTF-8 as it is.
 */
START_TEST(test_scalar)
{
	static const struct {
		const char	*json;
		const char	*text;
	} cases[] = {
		{ "0.1", "0.1" },
		{ "3.0", "3.0" },
		{ "1e300", "1e+300" },
		{ "-0.30000000000000004", "-0.30000000000000004" },
		{ "12", "12" },
		{ "true", "true" },
		{ "false", "false" },
		{ "null", "null" },
		{ "\"a\\\"b\\u00e9\\n\"", "\"a\\\"b\xc3\xa9\\n\"" },
	};
	json_t	*v;
	char	*s;
	size_t	 i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(v);
		s = filter_path_scalar(v, &len);
		ck_assert_str_eq(s, cases[i].text);
		ck_assert_uint_eq(len, strlen(cases[i].text));
		free(s);
		json_decref(v);
	}
}
END_TEST

static Suite *
filter_path_suite(void)
{
	Suite	*s = suite_create("filter_path");
	TCase	*tc = tcase_create("filter_path");

	tcase_add_test(tc, test_filter_golden);
	tcase_add_test(tc, test_filter_edge);
	tcase_add_test(tc, test_writer_unfiltered);
	tcase_add_test(tc, test_writer_matches_apply);
	tcase_add_test(tc, test_writer_value);
	tcase_add_test(tc, test_scalar);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(filter_path_suite());
}
