/*
 * Unit tests for jsonpos: where a value or key sits in JSON source text,
 * as 1-based LINE:COL, columns counting characters (UTF-8 sequences) as
 * jansson counts them.
 *
 * The positions are written out by hand.  Where a value or key can be
 * made a syntax error without moving anything (its first byte replaced
 * with '@'), jansson's own error position for the broken text is held
 * to what jsonpos_find() says for the valid one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "jsonpos.h"
#include "check_common.h"

/* A path written in place: FIND(text, ..., K("a"), I(2), K("b")). */
#define K(k)		{ (k), 0 }
#define I(i)		{ NULL, (i) }
#define PATH(...)	((const struct jsonpos_seg []){ __VA_ARGS__ })
#define DEPTH(...)	(sizeof(PATH(__VA_ARGS__)) / sizeof(struct jsonpos_seg))

/* Where the path leads in text: rv, at line:col; FIND() names the line. */
#define FIND(text, want_key, rv, line, col, ...)			\
	find_at((text), PATH(__VA_ARGS__), DEPTH(__VA_ARGS__), (want_key),\
	    (rv), (line), (col), __LINE__)

static void
find_at(const char *text, const struct jsonpos_seg *path, size_t depth,
    int want_key, int rv, int line, int col, int at)
{
	int got, l = -1, c = -1;

	got = jsonpos_find(text, strlen(text), path, depth, want_key, &l, &c);
	ck_assert_msg(got == rv && l == line && c == col, "line %d: got %d "
	    "at %d:%d, want %d at %d:%d", at, got, l, c, rv, line, col);
}

/* The root: where its first character is, whatever want_key says. */
static void
root_at(const char *text, int line, int col)
{
	find_at(text, NULL, 0, 0, 0, line, col, 0);
	find_at(text, NULL, 0, 1, 0, line, col, 0);
}

/* Keys and values at depths 0 to 3, through objects and arrays. */
static const char *const flat =
    "{\"a\": 1, \"b\": {\"c\": [10, {\"d\": true}], \"e\": \"x\"}, "
    "\"f\": [[], [null, \"y\"]]}";

START_TEST(values_by_depth)
{
	root_at(flat, 1, 1);
	FIND(flat, 0, 0, 1, 7, K("a"));
	FIND(flat, 0, 0, 1, 15, K("b"));
	FIND(flat, 0, 0, 1, 56, K("f"));
	FIND(flat, 0, 0, 1, 21, K("b"), K("c"));
	FIND(flat, 0, 0, 1, 45, K("b"), K("e"));
	FIND(flat, 0, 0, 1, 57, K("f"), I(0));
	FIND(flat, 0, 0, 1, 61, K("f"), I(1));
	FIND(flat, 0, 0, 1, 22, K("b"), K("c"), I(0));
	FIND(flat, 0, 0, 1, 26, K("b"), K("c"), I(1));
	FIND(flat, 0, 0, 1, 62, K("f"), I(1), I(0));
	FIND(flat, 0, 0, 1, 68, K("f"), I(1), I(1));
	FIND(flat, 0, 0, 1, 32, K("b"), K("c"), I(1), K("d"));
}
END_TEST

/*
 * want_key: the opening quote of the last key; a path ending in an
 * index still gives the value.
 */
START_TEST(keys_with_want_key)
{
	FIND(flat, 1, 0, 1, 2, K("a"));
	FIND(flat, 1, 0, 1, 10, K("b"));
	FIND(flat, 1, 0, 1, 51, K("f"));
	FIND(flat, 1, 0, 1, 16, K("b"), K("c"));
	FIND(flat, 1, 0, 1, 40, K("b"), K("e"));
	FIND(flat, 1, 0, 1, 27, K("b"), K("c"), I(1), K("d"));
	FIND(flat, 1, 0, 1, 26, K("b"), K("c"), I(1));
	FIND(flat, 1, 0, 1, 68, K("f"), I(1), I(1));
	FIND(flat, 1, 0, 1, 57, K("f"), I(0));
}
END_TEST

/*
 * A path that does not exist: -1, at the deepest value that was found
 * on the way, whether a key is missing, an index is past the end or a
 * step asks the wrong kind of value.
 */
START_TEST(missing_paths_point_at_deepest_found)
{
	const char *empty = "{\"o\": {}, \"p\": []}";

	FIND(flat, 0, -1, 1, 1, K("z"));
	FIND(flat, 1, -1, 1, 1, K("z"));
	FIND(flat, 0, -1, 1, 15, K("b"), K("z"));
	FIND(flat, 1, -1, 1, 15, K("b"), K("z"));
	FIND(flat, 0, -1, 1, 15, K("b"), K("z"), K("y"), I(0));
	FIND(flat, 0, -1, 1, 26, K("b"), K("c"), I(1), K("z"));
	FIND(flat, 0, -1, 1, 21, K("b"), K("c"), I(2));
	FIND(flat, 0, -1, 1, 21, K("b"), K("c"), I(1000));
	FIND(flat, 0, -1, 1, 57, K("f"), I(0), I(0));
	FIND(flat, 0, -1, 1, 61, K("f"), I(1), I(2));

	/* The wrong kind: a key of a number, an array; an index of an
	 * object, a string; anything below a literal. */
	FIND(flat, 0, -1, 1, 7, K("a"), K("x"));
	FIND(flat, 0, -1, 1, 7, K("a"), I(0));
	FIND(flat, 0, -1, 1, 56, K("f"), K("x"));
	FIND(flat, 0, -1, 1, 15, K("b"), I(0));
	FIND(flat, 0, -1, 1, 68, K("f"), I(1), I(1), I(0));
	FIND(flat, 0, -1, 1, 32, K("b"), K("c"), I(1), K("d"), K("e"));
	FIND(flat, 0, -1, 1, 1, I(0));

	/* Empty containers have nothing in them. */
	FIND(empty, 0, -1, 1, 7, K("o"), K("x"));
	FIND(empty, 0, -1, 1, 7, K("o"), I(0));
	FIND(empty, 0, -1, 1, 16, K("p"), I(0));
	FIND(empty, 0, 0, 1, 16, K("p"));
	FIND("[]", 0, -1, 1, 1, I(0));
	FIND("{}", 0, -1, 1, 1, K(""));
}
END_TEST

/*
 * Lines end at LF.  Columns count characters: a multi-byte UTF-8
 * sequence is one column (2, 3 and 4 bytes here), and so are a tab and
 * a CR, alone or before LF, as jansson counts them.
 */
static const char *const multi =
    "{\r\n"
    "\t\"\xc3\xa9\": \"\xc3\xbc\",\r\n"
    "\t\"\xe6\x97\xa5\xe6\x9c\xac\": [\"\xf0\x9f\x98\x80\", 2],\r\n"
    "  \"k\":\r\t{\"z\": 3}\r\n"
    "}";

START_TEST(lines_and_columns_in_characters)
{
	root_at(multi, 1, 1);
	FIND(multi, 1, 0, 2, 2, K("\xc3\xa9"));
	FIND(multi, 0, 0, 2, 7, K("\xc3\xa9"));
	FIND(multi, 1, 0, 3, 2, K("\xe6\x97\xa5\xe6\x9c\xac"));
	FIND(multi, 0, 0, 3, 8, K("\xe6\x97\xa5\xe6\x9c\xac"));
	FIND(multi, 0, 0, 3, 9, K("\xe6\x97\xa5\xe6\x9c\xac"), I(0));
	FIND(multi, 0, 0, 3, 14, K("\xe6\x97\xa5\xe6\x9c\xac"), I(1));
	FIND(multi, 1, 0, 4, 3, K("k"));
	FIND(multi, 0, 0, 4, 9, K("k"));
	FIND(multi, 1, 0, 4, 10, K("k"), K("z"));
	FIND(multi, 0, 0, 4, 15, K("k"), K("z"));
	FIND(multi, 0, -1, 4, 9, K("k"), K("y"));
	/* The key is its decoded bytes: one of its bytes is not it. */
	FIND(multi, 0, -1, 1, 1, K("\xc3"));

	/* Whitespace before the root, and inside arrays across lines. */
	root_at("\r\n \t[0]", 2, 3);
	root_at("\n\n\n  {}", 4, 3);
	FIND("[\n  1,\n  2\n]", 0, 0, 3, 3, I(1));
	FIND("[\n  1,\n  2\n]", 0, 0, 2, 3, I(0));
	FIND("[1,\r\r 2]", 0, 0, 1, 7, I(1));
	FIND("[1,\r\n\r\n\t2]", 0, 0, 3, 2, I(1));
	/* A key and its value on different lines. */
	FIND("{\"k\"\n:\n  1}", 1, 0, 1, 2, K("k"));
	FIND("{\"k\"\n:\n  1}", 0, 0, 3, 3, K("k"));
}
END_TEST

/*
 * Keys are compared decoded: escapes, \u escapes and surrogate pairs
 * match the UTF-8 of the path; a key is not its prefix nor one that
 * merely starts with it.  Columns count the escapes as written.
 */
static const char *const escaped =
    "{\"a\\\"b\": 1, \"\\u00e9\\/\": 2, \"\\ud83d\\ude00\": 3, \"ab\": 4, "
    "\"a\": 5}";

START_TEST(keys_compared_decoded)
{
	FIND(escaped, 0, 0, 1, 10, K("a\"b"));
	FIND(escaped, 0, 0, 1, 25, K("\xc3\xa9/"));
	FIND(escaped, 1, 0, 1, 13, K("\xc3\xa9/"));
	FIND(escaped, 0, 0, 1, 44, K("\xf0\x9f\x98\x80"));
	FIND(escaped, 1, 0, 1, 28, K("\xf0\x9f\x98\x80"));
	FIND(escaped, 0, 0, 1, 53, K("ab"));
	FIND(escaped, 0, 0, 1, 61, K("a"));
	FIND(escaped, 1, 0, 1, 56, K("a"));
	FIND(escaped, 0, -1, 1, 1, K("\xc3\xa9"));
	FIND(escaped, 0, -1, 1, 1, K("a\\\"b"));
	FIND(escaped, 0, -1, 1, 1, K("abc"));
	FIND(escaped, 0, -1, 1, 1, K(""));
	FIND(escaped, 0, -1, 1, 1, K("\\u00e9/"));

	FIND("{\"\\t\\n\\b\\f\\r\": 1}", 0, 0, 1, 16, K("\t\n\b\f\r"));
	FIND("{\"\\t\\n\\b\\f\\r\": 1}", 0, -1, 1, 1, K("tnbfr"));

	/* The empty key is a key. */
	FIND("{\"x\": 0, \"\": 1}", 0, 0, 1, 14, K(""));
	FIND("{\"x\": 0, \"\": 1}", 1, 0, 1, 10, K(""));
	/* Escapes in values, not keys, are skipped as written. */
	FIND("{\"\\\\\": \"\\\\\", \"t\": 0}", 0, 0, 1, 19, K("t"));
	FIND("{\"\\\\\": \"\\\\\", \"t\": 0}", 0, 0, 1, 8, K("\\"));
}
END_TEST

/*
 * Values skipped on the way hide what they hold: brackets, braces,
 * quotes and commas inside strings, nested containers, numbers and
 * literals; and a key is found at its own depth only, never as a string
 * value or inside an earlier member.
 */
START_TEST(skipped_values_hide_their_contents)
{
	const char *s = "{\"s\": \"}]\\\"{[\", \"t\": [1, \"]\", "
	    "{\"u\": \"}\"}], \"v\": 7}";
	const char *n = "[-1.5e+3, 0, true, false, null, 8, \"\\u005d\"]";
	const char *x = "{\"x\": \"a\", \"y\": {\"a\": 0}, \"a\": 1}";
	const char *deep = "[[[[[]]]], {\"k\": [[{}], {\"k\": 1}]}, 9]";

	FIND(s, 0, 0, 1, 49, K("v"));
	FIND(s, 1, 0, 1, 44, K("v"));
	FIND(s, 0, -1, 1, 1, K("u"));
	FIND(n, 0, 0, 1, 33, I(5));
	FIND(n, 0, 0, 1, 36, I(6));
	FIND(n, 0, -1, 1, 1, I(7));
	FIND(x, 0, 0, 1, 32, K("a"));
	FIND(x, 1, 0, 1, 27, K("a"));
	FIND(x, 0, 0, 1, 23, K("y"), K("a"));
	FIND(deep, 0, 0, 1, 37, I(2));
	FIND(deep, 0, 0, 1, 18, I(1), K("k"));
	FIND(deep, 0, 0, 1, 31, I(1), K("k"), I(1), K("k"));
	FIND(deep, 0, -1, 1, 12, I(1), K("x"));
}
END_TEST

/*
 * Hold jsonpos_find() to jansson: the text made invalid at needle (its
 * first byte replaced by '@') fails where jsonpos says path leads in
 * the valid text.
 */
static void
agrees_with_jansson(const char *text, const struct jsonpos_seg *path,
    size_t depth, int want_key, const char *needle)
{
	const char *at = strstr(text, needle);
	json_error_t je;
	json_t *root;
	char *bad;
	int line, col;

	ck_assert_msg(at != NULL && strstr(at + 1, needle) == NULL,
	    "%s: not once in the text", needle);
	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(root != NULL, "%s: %s", text, je.text);
	json_decref(root);
	ck_assert_int_eq(jsonpos_find(text, strlen(text), path, depth,
	    want_key, &line, &col), 0);

	ck_assert_ptr_nonnull(bad = strdup(text));
	bad[at - text] = '@';
	root = json_loads(bad, 0, &je);
	ck_assert_msg(root == NULL, "%s: still valid", bad);
	ck_assert_msg(je.line == line && je.column == col, "%s: jansson at "
	    "%d:%d (%s), jsonpos at %d:%d", needle, je.line, je.column,
	    je.text, line, col);
	free(bad);
}

#define AGREES(text, want_key, needle, ...)				\
	agrees_with_jansson((text), PATH(__VA_ARGS__), DEPTH(__VA_ARGS__),\
	    (want_key), (needle))

START_TEST(positions_agree_with_jansson)
{
	AGREES(flat, 0, "true", K("b"), K("c"), I(1), K("d"));
	AGREES(flat, 1, "\"d\"", K("b"), K("c"), I(1), K("d"));
	AGREES(flat, 0, "[null", K("f"), I(1));
	AGREES(flat, 0, "\"y\"", K("f"), I(1), I(1));
	AGREES(multi, 0, "\"\xc3\xbc\"", K("\xc3\xa9"));
	AGREES(multi, 1, "\"\xe6\x97\xa5", K("\xe6\x97\xa5\xe6\x9c\xac"));
	AGREES(multi, 0, "\"\xf0", K("\xe6\x97\xa5\xe6\x9c\xac"), I(0));
	AGREES(multi, 0, "2]", K("\xe6\x97\xa5\xe6\x9c\xac"), I(1));
	AGREES(multi, 1, "\"k\"", K("k"));
	AGREES(multi, 0, "{\"z\"", K("k"));
	AGREES(multi, 0, "3}", K("k"), K("z"));
	AGREES(escaped, 0, "2,", K("\xc3\xa9/"));
	AGREES(escaped, 1, "\"\\u00e9", K("\xc3\xa9/"));
	AGREES(escaped, 0, "3,", K("\xf0\x9f\x98\x80"));
	AGREES(escaped, 0, "5}", K("a"));
	AGREES(escaped, 1, "\"a\":", K("a"));
	AGREES("[1,\r\r 2]", 0, "2]", I(1));
	AGREES("[[[[[]]]], {\"k\": [[{}], {\"k\": 1}]}, 9]", 0, "1}", I(1),
	    K("k"), I(1), K("k"));
	AGREES("[\n  1,\n  2\n]", 0, "2\n", I(1));
	AGREES("{\"\xc3\xa9\xc3\xa9\": {\"\xf0\x9f\x98\x80\": [0, 7]}}", 0,
	    "7]", K("\xc3\xa9\xc3\xa9"), K("\xf0\x9f\x98\x80"), I(1));
}
END_TEST

/*
 * len bounds the text: it need not be NUL-terminated (a copy of exactly
 * len bytes, where ASan sees any read past it), and what lies past len
 * is not read.
 */
START_TEST(len_bounds_the_text)
{
	const char *t = "{\"a\": [1, 2]}{\"b\": 3}";
	size_t len = 13;
	char *copy;
	int line, col;

	ck_assert_ptr_nonnull(copy = malloc(len));
	memcpy(copy, t, len);
	ck_assert_int_eq(jsonpos_find(copy, len, PATH(K("a"), I(1)), 2, 0,
	    &line, &col), 0);
	ck_assert_int_eq(line, 1);
	ck_assert_int_eq(col, 11);
	ck_assert_int_eq(jsonpos_find(copy, len, PATH(K("a"), I(2)), 2, 0,
	    &line, &col), -1);
	ck_assert_int_eq(col, 7);
	ck_assert_int_eq(jsonpos_find(copy, len, PATH(K("b")), 1, 0, &line,
	    &col), -1);
	ck_assert_int_eq(col, 1);
	free(copy);
	/* The same text with the rest after len. */
	ck_assert_int_eq(jsonpos_find(t, len, PATH(K("b")), 1, 0, &line,
	    &col), -1);
}
END_TEST

/*
 * The text must be valid JSON, and jsonpos_find() only has to be right
 * for that; on every prefix of a valid text (copied to exactly its
 * length) it still answers 0 or -1 at a position within the text, and
 * reads nothing past it.
 */
START_TEST(prefixes_read_within_bounds)
{
	const char *const texts[] = { flat, multi, escaped,
	    "{\"s\": \"}]\\\"{[\\u00e9\\ud83d\\ude00\", "
	    "\"t\": [1, {\"u\": 2}]}" };
	const struct jsonpos_seg p1[] = { K("b"), K("c"), I(1), K("d") };
	const struct jsonpos_seg p2[] = { K("t"), I(1), K("u") };
	const struct jsonpos_seg p3[] = { K("\xf0\x9f\x98\x80") };
	size_t i, len, full;
	char *copy;
	int rv, line, col, want;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		full = strlen(texts[i]);
		for (len = 0; len < full; len++) {
			ck_assert_ptr_nonnull(copy = malloc(len + 1));
			memcpy(copy, texts[i], len);
			for (want = 0; want < 2; want++) {
				rv = jsonpos_find(copy, len, p1, 4, want,
				    &line, &col);
				ck_assert(rv == 0 || rv == -1);
				ck_assert(line >= 1 && col >= 1);
				ck_assert((size_t)line + (size_t)col <=
				    len + 2);
				rv = jsonpos_find(copy, len, p2, 3, want,
				    &line, &col);
				ck_assert(rv == 0 || rv == -1);
				rv = jsonpos_find(copy, len, p3, 1, want,
				    &line, &col);
				ck_assert(rv == 0 || rv == -1);
			}
			free(copy);
		}
	}
}
END_TEST

static Suite *
jsonpos_suite(void)
{
	Suite *s = suite_create("jsonpos");
	TCase *tc = tcase_create("jsonpos");

	tcase_add_test(tc, values_by_depth);
	tcase_add_test(tc, keys_with_want_key);
	tcase_add_test(tc, missing_paths_point_at_deepest_found);
	tcase_add_test(tc, lines_and_columns_in_characters);
	tcase_add_test(tc, keys_compared_decoded);
	tcase_add_test(tc, skipped_values_hide_their_contents);
	tcase_add_test(tc, positions_agree_with_jansson);
	tcase_add_test(tc, len_bounds_the_text);
	tcase_add_test(tc, prefixes_read_within_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(jsonpos_suite());
}
