/*
 * Unit tests for records: copies of the bytes and the action line, and
 * the Logstash parse-failure wrapper for invalid lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "record.h"
#include "check_common.h"

#define HEAD	"{\"message\":\""
#define TAIL	"\",\"tags\":[\"_jsonparsefailure\"]}"

START_TEST(new_copies_bytes_and_action)
{
	char data[] = "{\"a\":1}";
	char action[] = "{\"index\":{\"_index\":\"x\"}}";
	struct record *rec;

	rec = record_new(data, strlen(data), action, strlen(action));
	ck_assert_ptr_nonnull(rec);
	data[2] = 'Z';
	action[3] = 'Z';
	ck_assert_uint_eq(rec->len, 7);
	ck_assert_str_eq(rec->data, "{\"a\":1}");
	ck_assert_ptr_ne(rec->data, data);
	ck_assert_ptr_nonnull(rec->action);
	ck_assert_uint_eq(rec->action_len, strlen(action));
	ck_assert_str_eq(rec->action, "{\"index\":{\"_index\":\"x\"}}");
	ck_assert_ptr_null(rec->json);
	ck_assert_ptr_null(rec->cls);
	ck_assert_int_eq(rec->invalid, 0);
	record_free(rec);
}
END_TEST

START_TEST(new_without_action)
{
	struct record *rec;

	/* Only len bytes are copied, and the copy is NUL-terminated. */
	rec = record_new("{\"b\":2}trailing", 7, NULL, 99);
	ck_assert_ptr_nonnull(rec);
	ck_assert_uint_eq(rec->len, 7);
	ck_assert_mem_eq(rec->data, "{\"b\":2}", 8);
	ck_assert_ptr_null(rec->action);
	ck_assert_uint_eq(rec->action_len, 0);
	record_free(rec);

	rec = record_new("", 0, "", 0);
	ck_assert_ptr_nonnull(rec);
	ck_assert_uint_eq(rec->len, 0);
	ck_assert_str_eq(rec->data, "");
	ck_assert_ptr_nonnull(rec->action);
	ck_assert_uint_eq(rec->action_len, 0);
	ck_assert_str_eq(rec->action, "");
	record_free(rec);

	/* Bytes with NULs in them are copied whole. */
	rec = record_new("a\0b", 3, "c\0d", 3);
	ck_assert_mem_eq(rec->data, "a\0b", 4);
	ck_assert_mem_eq(rec->action, "c\0d", 4);
	record_free(rec);
	record_free(NULL);
}
END_TEST

START_TEST(new_keeps_a_json_reference)
{
	struct record *rec;
	json_t *j = json_object();

	rec = record_new("{}", 2, NULL, 0);
	json_incref(j);
	rec->json = j;
	ck_assert_int_eq(j->refcount, 2);
	record_free(rec);
	ck_assert_int_eq(j->refcount, 1);
	json_decref(j);
}
END_TEST

/*
 * One invalid-line case: the input bytes, the exact escaped text inside
 * "message", and the string jansson decodes it to (UTF-8, may hold NUL).
 */
struct inv {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*escaped;
	const char	*decoded;
	size_t		 declen;
};

#define S(x)	x, sizeof(x) - 1
#define FFFD	"\xef\xbf\xbd"

static const struct inv invs[] = {
	{ "plain", S("not json"), "not json", S("not json") },
	{ "empty", S(""), "", S("") },
	{ "quotes and backslashes", S("{\"a\":\"b\\c\""),
	    "{\\\"a\\\":\\\"b\\\\c\\\"", S("{\"a\":\"b\\c\"") },
	{ "named controls", S("a\nb\rc\td\be\ff"),
	    "a\\nb\\rc\\td\\be\\ff", S("a\nb\rc\td\be\ff") },
	{ "other controls", S("\x01\x1f\x00z"),
	    "\\u0001\\u001f\\u0000z", S("\x01\x1f\x00z") },
	{ "del and slash kept", S("\x7f/"), "\x7f/", S("\x7f/") },
	{ "lone continuation", S("a\x80" "b"),
	    "a\\ufffdb", S("a" FFFD "b") },
	{ "continuations", S("\x80\xbf"),
	    "\\ufffd\\ufffd", S(FFFD FFFD) },
	{ "overlong C0 80", S("\xc0\x80"),
	    "\\ufffd\\ufffd", S(FFFD FFFD) },
	{ "overlong C1 BF", S("\xc1\xbf"),
	    "\\ufffd\\ufffd", S(FFFD FFFD) },
	{ "overlong E0 80 80", S("\xe0\x80\x80"),
	    "\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD) },
	{ "overlong E0 9F BF", S("\xe0\x9f\xbf"),
	    "\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD) },
	{ "overlong F0 8F BF BF", S("\xf0\x8f\xbf\xbf"),
	    "\\ufffd\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD FFFD) },
	{ "surrogate ED A0 80", S("\xed\xa0\x80"),
	    "\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD) },
	{ "surrogate ED BF BF", S("\xed\xbf\xbf"),
	    "\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD) },
	{ "above U+10FFFF", S("\xf4\x90\x80\x80"),
	    "\\ufffd\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD FFFD) },
	{ "F5 and FF", S("\xf5\xff"),
	    "\\ufffd\\ufffd", S(FFFD FFFD) },
	{ "truncated at end", S("x\xe2\x82"),
	    "x\\ufffd\\ufffd", S("x" FFFD FFFD) },
	{ "truncated 4-byte at end", S("\xf0\x9f\x98"),
	    "\\ufffd\\ufffd\\ufffd", S(FFFD FFFD FFFD) },
	{ "truncated then ascii", S("\xe2\x82x"),
	    "\\ufffd\\ufffdx", S(FFFD FFFD "x") },
	{ "lead then lead", S("\xc3\xc3\xa9"),
	    "\\ufffd\xc3\xa9", S(FFFD "\xc3\xa9") },
	{ "valid multibyte", S("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
	    "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    S("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") },
	{ "valid edges", S("\xc2\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
	    "\xf4\x8f\xbf\xbf"),
	    "\xc2\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf",
	    S("\xc2\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
	    "\xf4\x8f\xbf\xbf") },
	{ "mixed", S("{\"msg\":\"\xff\",\n\"x\":\"\xe2\x82\xac\"}"),
	    "{\\\"msg\\\":\\\"\\ufffd\\\",\\n\\\"x\\\":\\\"\xe2\x82\xac\\\"}",
	    S("{\"msg\":\"" FFFD "\",\n\"x\":\"\xe2\x82\xac\"}") },
};

START_TEST(invalid_wrapper)
{
	const struct inv *c = &invs[_i];
	struct record *rec;
	json_error_t jerr;
	json_t *root, *msg, *tags;
	char expect[512];

	snprintf(expect, sizeof(expect), HEAD "%s" TAIL, c->escaped);
	rec = record_new_invalid(c->in, c->inlen, NULL, 0);
	ck_assert_ptr_nonnull(rec);
	ck_assert_msg(rec->len == strlen(expect) &&
	    memcmp(rec->data, expect, rec->len) == 0,
	    "%s: got [%.*s] want [%s]", c->name, (int)rec->len, rec->data,
	    expect);
	ck_assert_int_eq(rec->data[rec->len], '\0');
	ck_assert_int_eq(rec->invalid, 1);
	ck_assert_ptr_null(rec->action);

	root = json_loadb(rec->data, rec->len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(root != NULL, "%s: %s", c->name, jerr.text);
	ck_assert(json_is_object(root));
	ck_assert_uint_eq(json_object_size(root), 2);
	msg = json_object_get(root, "message");
	ck_assert(json_is_string(msg));
	ck_assert_msg(json_string_length(msg) == c->declen &&
	    memcmp(json_string_value(msg), c->decoded, c->declen) == 0,
	    "%s: message decodes to something else", c->name);
	tags = json_object_get(root, "tags");
	ck_assert(json_is_array(tags));
	ck_assert_uint_eq(json_array_size(tags), 1);
	ck_assert_str_eq(json_string_value(json_array_get(tags, 0)),
	    "_jsonparsefailure");
	json_decref(root);
	record_free(rec);
}
END_TEST

START_TEST(invalid_keeps_action)
{
	struct record *rec;
	const char *action = "{\"create\":{}}";

	rec = record_new_invalid("oops\"", 5, action, strlen(action));
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(rec->data, HEAD "oops\\\"" TAIL);
	ck_assert_uint_eq(rec->action_len, strlen(action));
	ck_assert_str_eq(rec->action, action);
	ck_assert_ptr_ne(rec->action, action);
	record_free(rec);
}
END_TEST

START_TEST(invalid_worst_case_size)
{
	enum { N = 100000 };
	struct record *rec;
	json_t *root;
	char *in;
	size_t i;

	/* Every byte invalid (6 bytes out) and every byte a control. */
	in = malloc(N);
	memset(in, 0xff, N);
	rec = record_new_invalid(in, N, "{}", 2);
	ck_assert_uint_eq(rec->len, strlen(HEAD) + 6 * N + strlen(TAIL));
	ck_assert_uint_eq(strlen(rec->data), rec->len);
	ck_assert_str_eq(rec->action, "{}");
	root = json_loadb(rec->data, rec->len, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_uint_eq(json_string_length(json_object_get(root,
	    "message")), 3 * N);
	json_decref(root);
	record_free(rec);

	for (i = 0; i < N; i++)
		in[i] = (char)(i % 32);
	rec = record_new_invalid(in, N, NULL, 0);
	root = json_loadb(rec->data, rec->len, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_uint_eq(json_string_length(json_object_get(root,
	    "message")), N);
	ck_assert_mem_eq(json_string_value(json_object_get(root, "message")),
	    in, N);
	json_decref(root);
	record_free(rec);
	free(in);
}
END_TEST

START_TEST(escape_returns_length)
{
	char out[64];
	size_t n;

	n = record_escape(out, "a\"\xff", 3);
	ck_assert_uint_eq(n, 1 + 2 + 6);
	ck_assert_mem_eq(out, "a\\\"\\ufffd", 9);
	ck_assert_uint_eq(record_escape(out, "", 0), 0);
	n = record_escape(out, "\xf0\x9f\x98\x80", 4);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(out, "\xf0\x9f\x98\x80", 4);
}
END_TEST

/* The flags bulk answers use: capitals as jansson's, U+FFFD as bytes. */
START_TEST(escape_flags)
{
	const int fl = RECORD_ESCAPE_UPPER | RECORD_ESCAPE_RAW;
	static const char in[] = "a\x1f\n\xff\xc3\xa9\"";
	static const char want[] = "a\\u001F\\n" FFFD "\xc3\xa9\\\"";
	char out[64];
	size_t n;

	n = record_escape_flags(out, in, sizeof(in) - 1, fl);
	ck_assert_uint_eq(n, sizeof(want) - 1);
	ck_assert_mem_eq(out, want, n);
	ck_assert_uint_eq(record_escape_flags(NULL, in, sizeof(in) - 1, fl),
	    n);
	n = record_escape_flags(out, in, sizeof(in) - 1, 0);
	ck_assert_uint_eq(n, 19);
	ck_assert_mem_eq(out, "a\\u001f\\n\\ufffd\xc3\xa9\\\"", n);
	ck_assert_uint_eq(record_escape_flags(NULL, in, sizeof(in) - 1, 0),
	    n);
}
END_TEST

static Suite *
record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("record");

	tcase_add_test(tc, new_copies_bytes_and_action);
	tcase_add_test(tc, new_without_action);
	tcase_add_test(tc, new_keeps_a_json_reference);
	tcase_add_loop_test(tc, invalid_wrapper, 0,
	    (int)(sizeof(invs) / sizeof(invs[0])));
	tcase_add_test(tc, invalid_keeps_action);
	tcase_add_test(tc, invalid_worst_case_size);
	tcase_add_test(tc, escape_returns_length);
	tcase_add_test(tc, escape_flags);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(record_suite());
}
