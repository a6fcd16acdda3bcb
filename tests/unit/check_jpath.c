/*
 * Unit tests for jpath: splitting a dotted path, finding it in an event
 * (the literal-dotted-key rule), and the text a scalar reads as.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "jpath.h"
#include "check_common.h"

START_TEST(test_init)
{
	static const char *const bad[] = {
		"", ".", "a.", ".a", "a..b", "a.b.", NULL
	};
	struct jpath	 p;
	size_t		 i;

	ck_assert_int_eq(jpath_init(&p, "kubernetes.namespace"), 0);
	ck_assert_str_eq(p.full, "kubernetes.namespace");
	ck_assert_uint_eq(p.len, 20);
	ck_assert_uint_eq(p.nsegs, 2);
	ck_assert_str_eq(p.segs[0], "kubernetes");
	ck_assert_uint_eq(p.seglen[0], 10);
	ck_assert_str_eq(p.segs[1], "namespace");
	ck_assert_uint_eq(p.seglen[1], 9);
	jpath_free(&p);
	ck_assert_ptr_null(p.full);
	ck_assert_ptr_null(p.segs);

	ck_assert_int_eq(jpath_init(&p, "level"), 0);
	ck_assert_uint_eq(p.nsegs, 1);
	ck_assert_str_eq(p.segs[0], "level");
	jpath_free(&p);

	for (i = 0; bad[i] != NULL; i++) {
		ck_assert_msg(jpath_init(&p, bad[i]) == -1, "\"%s\" accepted",
		    bad[i]);
		jpath_free(&p);
	}
}
END_TEST

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
	char		*segs[] = { "a", "b" };
	size_t		 seglen[] = { 1, 1 };
	json_t		*root, *v;

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

START_TEST(test_lookup_text)
{
	struct jpath	 p;
	char		 buf[32];
	const char	*txt;
	size_t		 len;
	json_t		*root;

	ck_assert_int_eq(jpath_init(&p, "a.b"), 0);
	root = json_loads("{\"a\": {\"b\": 42}}", 0, NULL);
	ck_assert_int_eq(jpath_lookup_text(root, &p, buf, sizeof(buf), &txt,
	    &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(txt, "42", 2);
	json_decref(root);

	root = json_loads("{\"a\": {\"b\": \"x\"}, \"a.b\": \"flat\"}", 0,
	    NULL);
	ck_assert_int_eq(jpath_lookup_text(root, &p, buf, sizeof(buf), &txt,
	    &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(txt, "flat", 4);
	json_decref(root);

	/* Missing, null, an array, an object, a root that is no object. */
	root = json_loads("[{\"a\": {\"b\": 1}}, {\"a\": {}}, "
	    "{\"a\": {\"b\": null}}, {\"a\": {\"b\": [1]}}, "
	    "{\"a\": {\"b\": {}}}]", 0, NULL);
	ck_assert_int_eq(jpath_lookup_text(root, &p, buf, sizeof(buf), &txt,
	    &len), -1);
	ck_assert_int_eq(jpath_lookup_text(json_array_get(root, 1), &p, buf,
	    sizeof(buf), &txt, &len), -1);
	ck_assert_int_eq(jpath_lookup_text(json_array_get(root, 2), &p, buf,
	    sizeof(buf), &txt, &len), -1);
	ck_assert_int_eq(jpath_lookup_text(json_array_get(root, 3), &p, buf,
	    sizeof(buf), &txt, &len), -1);
	ck_assert_int_eq(jpath_lookup_text(json_array_get(root, 4), &p, buf,
	    sizeof(buf), &txt, &len), -1);
	ck_assert_int_eq(jpath_lookup_text(NULL, &p, buf, sizeof(buf), &txt,
	    &len), -1);
	json_decref(root);
	jpath_free(&p);
}
END_TEST

static Suite *
jpath_suite(void)
{
	Suite	*s = suite_create("jpath");
	TCase	*tc = tcase_create("units");

	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_scalar_text);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_lookup_text);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(jpath_suite());
}
