/*
 * Unit tests for the scan that classifies without building the whole
 * tree: every event must land in the class that a full jansson parse
 * gives (classify_explain() parses fully), valid or not, for crafted edge
 * cases of the JSON grammar and for many thousands of random mutations of
 * well-formed events.  A fixed seed keeps it reproducible.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "classify.h"
#include "rules.h"
#include "scan.h"
#include "check_common.h"

static const char RULES[] =
    "{\"classes\":["
    "{\"name\":\"err\",\"priority\":0,\"match\":[{\"field\":\"level\","
    "\"regex\":\"^ERROR$\"}]},"
    "{\"name\":\"flat\",\"priority\":1,\"match\":[{\"field\":\"log.level\","
    "\"regex\":\"^warn\",\"flags\":\"i\"}]},"
    "{\"name\":\"deep\",\"priority\":1,\"match\":[{\"field\":\"a.b.c\","
    "\"regex\":\"^(deep|1|true|1\\\\.5)$\"}]},"
    "{\"name\":\"status\",\"priority\":2,\"match\":[{\"field\":\"n\","
    "\"regex\":\"^5\\\\d\\\\d$\"}]},"
    "{\"name\":\"real\",\"priority\":2,\"match\":[{\"field\":\"r\","
    "\"regex\":\"^(1\\\\.5|1000\\\\.0|1e\\\\+20)$\"}]},"
    "{\"name\":\"tag\",\"priority\":3,\"match\":[{\"field\":\"tags\","
    "\"regex\":\"^audit$\"}]},"
    "{\"name\":\"neg\",\"priority\":4,\"match\":[{\"field\":\"svc\","
    "\"regex\":\"^x\",\"negate\":true},{\"field\":\"k\",\"regex\":\"^\"}]},"
    "{\"name\":\"uni\",\"priority\":4,\"match\":[{\"field\":\"u\","
    "\"regex\":\"^\\u00e9\\ud83d\\ude00$\"}]},"
    "{\"name\":\"keyed\",\"priority\":5,\"key\":\"svc\",\"key_rate\":5,"
    "\"match\":[{\"field\":\"kind\",\"regex\":\"^k\"}]}],"
    "\"default\":{\"name\":\"rest\",\"priority\":6}}";

/*
 * Classes on raw bytes alone come first here, so a line they take is only
 * checked for validity, never parsed; one of them keys on a field.
 */
static const char RULES_RAW[] =
    "{\"classes\":["
    "{\"name\":\"audit\",\"priority\":0,\"match\":[{\"raw\":"
    "\"\\\"audit\\\"\\\\s*:\\\\s*true\"}]},"
    "{\"name\":\"either\",\"priority\":1,\"match\":[{\"any\":["
    "{\"raw\":\"ERROR\"},{\"raw\":\"fatal\",\"negate\":true}]}]},"
    "{\"name\":\"keyed\",\"priority\":2,\"key\":\"svc\",\"key_rate\":5,"
    "\"match\":[{\"raw\":\"x1\"}]},"
    "{\"name\":\"flat\",\"priority\":3,\"match\":[{\"field\":\"log.level\","
    "\"regex\":\"^warn\",\"flags\":\"i\"}]},"
    "{\"name\":\"late_raw\",\"priority\":4,\"match\":[{\"raw\":\"deep\"}]}],"
    "\"default\":{\"name\":\"rest\",\"priority\":6}}";

static struct ruleset *
load_text(const char *text)
{
	struct rules_error err;
	struct ruleset *rs;

	memset(&err, 0, sizeof(err));
	rs = rules_load_buffer(text, strlen(text), &err);
	ck_assert_msg(rs != NULL, "rules: %d:%d: %s", err.line, err.col,
	    err.msg);
	ck_assert(rs->scan_ok);
	return rs;
}

static struct ruleset *
load(void)
{
	return load_text(RULES);
}

/* The class of ev both ways; they must agree. */
static void
same(const struct ruleset *rs, const char *ev, size_t len)
{
	struct classify_trace t;
	size_t fast;

	memset(&t, 0, sizeof(t));
	fast = classify(rs, ev, len, NULL, NULL);
	ck_assert_int_eq(classify_explain(rs, ev, len, &t, NULL), 0);
	ck_assert_msg(fast == t.cls, "%.*s: scan says %s, full parse %s",
	    (int)(len > 200 ? 200 : len), ev, rs->classes[fast].name,
	    rs->classes[t.cls].name);
	classify_trace_free(&t);
}

static const char *const cases[] = {
	"{\"level\":\"ERROR\"}",
	"{\"level\":\"\\u0045RROR\"}",
	"{\"level\":\"ERROR\",\"level\":\"INFO\"}",
	"{\"level\":\"INFO\",\"level\":\"ERROR\"}",
	"{\"log.level\":\"WARN\"}",
	"{\"log\":{\"level\":\"warning\"}}",
	"{\"log\":{\"level\":\"warning\"},\"log.level\":null}",
	"{\"log.level\":\"info\",\"log\":{\"level\":\"warn\"}}",
	"{\"log\":{\"level\":\"warn\"},\"log\":{\"other\":1}}",
	"{\"log\":{\"level\":\"warn\"},\"log\":5}",
	"{\"log\":\"warn\"}",
	"{\"a\":{\"b\":{\"c\":\"deep\"}}}",
	"{\"a\":{\"b\":{\"c\":1}}}",
	"{\"a\":{\"b\":{\"c\":1.5}}}",
	"{\"a\":{\"b\":{\"c\":true}}}",
	"{\"a\":{\"b\":[{\"c\":\"deep\"}]}}",
	"{\"a\":{\"b\":{\"c\":[\"x\",\"deep\"]}}}",
	"{\"a.b.c\":\"deep\"}",
	"{\"a\":{\"b.c\":\"deep\"}}",
	"{\"n\":503}", "{\"n\":\"503\"}", "{\"n\":503.0}", "{\"n\":-0}",
	"{\"n\":5030}", "{\"n\":[200,503]}", "{\"n\":{\"x\":503}}",
	"{\"n\":503,\"big\":123456789012345678901234567890}",
	"{\"n\":503,\"big\":9223372036854775807}",
	"{\"n\":503,\"big\":9223372036854775808}",
	"{\"n\":503,\"big\":-9223372036854775809}",
	"{\"r\":1.5}", "{\"r\":1000}", "{\"r\":1e3}", "{\"r\":1E+20}",
	"{\"r\":1e400}", "{\"r\":-1e400}", "{\"r\":1e-400}", "{\"r\":0.1e1}",
	"{\"tags\":[\"a\",\"audit\"]}", "{\"tags\":\"audit\"}",
	"{\"tags\":[[\"audit\"]]}",
	"{\"k\":1}", "{\"k\":1,\"svc\":\"xy\"}", "{\"k\":null}",
	"{\"u\":\"\\u00e9\\ud83d\\ude00\"}", "{\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\"}",
	"{\"u\":\"\\ud83d\"}", "{\"u\":\"\\ude00\"}", "{\"u\":\"\\ud83dx\"}",
	"{\"u\":\"\\ud83d\\u0041\"}",
	"{\"u\":\"\xc0\xaf\"}", "{\"u\":\"\xe0\x80\xaf\"}",
	"{\"u\":\"\xed\xa0\x80\"}", "{\"u\":\"\xf4\x90\x80\x80\"}",
	"{\"u\":\"\xf5\x80\x80\x80\"}", "{\"u\":\"\x80\"}", "{\"u\":\"\xc3\"}",
	"{\"u\":\"a\x01b\"}", "{\"u\":\"a\x7f\"}", "{\"u\":\"\\u0000\"}",
	"{\"\\u0000\":1}", "{\"le\\u0076el\":\"ERROR\"}",
	"{\"x\":{\"le\\u0076el\":1},\"level\":\"ERROR\"}",
	"{\"kind\":\"k\",\"svc\":\"\\u0041\"}",
	"{\"u\":\"\\x\"}", "{\"u\":\"\\u12\"}", "{\"u\":\"\\u12G4\"}",
	"{}", " {} ", "{ }", "{\"a\":1,}", "{,}", "{\"a\" 1}", "{\"a\":}",
	"{\"a\":1}x", "{\"a\":1} {}", "[]", "[{\"level\":\"ERROR\"}]", "\"s\"",
	"1", "", "   ", "{", "}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}",
	"{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}",
	"{\"a\":truex}", "{\"a\":nul}", "{\"a\":NaN}", "{\"a\":Infinity}",
	"{\"a\":\"x\"\"y\"}", "{'a':1}", "{\"a\":1\n}", "\r\n\t{\"a\":1}\t",
	"\xef\xbb\xbf{\"a\":1}",
	"{\"a\":[1,2,]}", "{\"a\":[,1]}", "{\"a\":[1 2]}",
};

START_TEST(crafted_cases)
{
	struct ruleset *rs = _i ? load_text(RULES_RAW) : load();
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same(rs, cases[i], strlen(cases[i]));
	/* A NUL byte after the object, and inside a string. */
	same(rs, "{\"level\":\"ERROR\"}\0",
	    sizeof("{\"level\":\"ERROR\"}\0") - 1);
	same(rs, "{\"level\":\"ER\0ROR\"}",
	    sizeof("{\"level\":\"ER\0ROR\"}") - 1);
	rules_free(rs);
}
END_TEST

START_TEST(nesting_limit)
{
	struct ruleset *rs = load();
	char *buf;
	size_t depth, i, n;

	for (depth = 2045; depth <= 2050; depth++) {
		buf = malloc(depth * 6 + 16);
		ck_assert_ptr_nonnull(buf);
		n = 0;
		buf[n++] = '{';
		for (i = 1; i < depth; i++) {
			memcpy(buf + n, "\"a\":{", 5);
			n += 5;
		}
		for (i = 0; i < depth; i++)
			buf[n++] = '}';
		same(rs, buf, n);
		/* And arrays inside. */
		n = 0;
		memcpy(buf, "{\"a\":", 5);
		n = 5;
		for (i = 1; i < depth; i++)
			buf[n++] = '[';
		for (i = 1; i < depth; i++)
			buf[n++] = ']';
		buf[n++] = '}';
		same(rs, buf, n);
		free(buf);
	}
	rules_free(rs);
}
END_TEST

static const char *const seeds[] = {
	"{\"@timestamp\":\"2026-11-22T01:00:00.000Z\",\"log\":{\"level\":\"WARN\"},"
	"\"level\":\"ERROR\",\"a\":{\"b\":{\"c\":\"deep\"}},\"n\":503,\"r\":1.5,"
	"\"tags\":[\"x\",\"audit\"],\"svc\":\"checkout\",\"kind\":\"k\","
	"\"u\":\"\\u00e9\\ud83d\\ude00\",\"message\":\"caf\xc3\xa9 \\\"q\\\" \\n\"}",
	"{\"log.level\":\"warning\",\"k\":0,\"svc\":\"x1\",\"n\":\"504\","
	"\"nested\":{\"deeper\":[1,2,{\"z\":null}],\"t\":true,\"f\":false}}",
	"{\"a\":{\"b\":{\"c\":1}},\"a\":{\"b\":{\"d\":2}},\"r\":1e3,"
	"\"big\":12345678901234567890}",
};

/* xorshift: reproducible, no libc state. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

START_TEST(random_mutations_agree)
{
	static const char alphabet[] = "{}[]\":,\\ u0123456789abcdefe+-.tnl"
	    "\x01\x7f\x80\xbf\xc2\xe0\xed\xf0\xf4\xff";
	struct ruleset *rs = _i ? load_text(RULES_RAW) : load();
	uint64_t st = 0x9e3779b97f4a7c15ULL;
	char buf[1024];
	size_t i, n, len, k, pos;

	for (i = 0; i < 60000; i++) {
		const char *seed = seeds[rnd(&st) % (sizeof(seeds) /
		    sizeof(seeds[0]))];

		len = strlen(seed);
		memcpy(buf, seed, len);
		n = 1 + rnd(&st) % 3;
		for (k = 0; k < n; k++) {
			pos = rnd(&st) % len;
			switch (rnd(&st) % 4) {
			case 0:		/* replace a byte */
				buf[pos] = alphabet[rnd(&st) %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:		/* delete a byte */
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			case 2:		/* insert a byte */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos,
					    len - pos);
					buf[pos] = alphabet[rnd(&st) %
					    (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			case 3:		/* cut */
				len = pos + 1;
				break;
			}
			if (len == 0)
				break;
		}
		same(rs, buf, len);
	}
	rules_free(rs);
}
END_TEST

START_TEST(seeds_are_scanned_not_handed_back)
{
	struct ruleset *rs = load();
	json_t *root;

	/* The common case must not fall back to the full parse. */
	ck_assert_int_eq(scan_event(rs, seeds[0], strlen(seeds[0]), &root),
	    SCAN_OK);
	ck_assert_ptr_nonnull(json_object_get(root, "level"));
	ck_assert_ptr_null(json_object_get(root, "message"));
	json_decref(root);
	ck_assert_int_eq(scan_event(rs, seeds[2], strlen(seeds[2]), &root),
	    SCAN_FULL);
	rules_free(rs);
}
END_TEST

/*
 * Every byte value at every place of a long string, where the scan reads
 * many bytes at a time: in a value a rule reads, in one it skips, and in
 * a key.  Each must be as valid, or not, as jansson says.
 */
START_TEST(every_byte_in_long_strings)
{
	static const char *const around[][2] = {
		{ "{\"level\":\"", "\",\"n\":1}" },
		{ "{\"message\":\"", "\",\"level\":\"ERROR\"}" },
		{ "{\"", "\":1,\"level\":\"ERROR\"}" },
	};
	struct ruleset *rs = _i ? load_text(RULES_RAW) : load();
	char buf[160];
	size_t i, pos, pre, n;
	int c;

	for (i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
		pre = strlen(around[i][0]);
		for (pos = 0; pos < 47; pos++)
			for (c = 0; c < 256; c++) {
				memcpy(buf, around[i][0], pre);
				memset(buf + pre, 'a', 47);
				buf[pre + pos] = (char)c;
				n = pre + 47;
				memcpy(buf + n, around[i][1],
				    strlen(around[i][1]));
				n += strlen(around[i][1]);
				same(rs, buf, n);
			}
	}
	rules_free(rs);
}
END_TEST

START_TEST(raw_classes_skip_the_tree)
{
	struct ruleset *rs = load_text(RULES_RAW);
	static const char audit[] = "{\"audit\": true, \"log.level\":\"warn\"}";
	static const char keyed[] = "{\"svc\":\"x1\",\"m\":\"fatal\"}";
	static const char bad[] = "{\"audit\": true,}";
	uint64_t hits[8] = { 0 };
	json_t *obj;

	ck_assert_uint_eq(rs->raw_prefix, 3);
	/* Decided by a raw class: valid, and nothing was built. */
	ck_assert_uint_eq(classify(rs, audit, strlen(audit), &obj, hits), 0);
	ck_assert_ptr_null(obj);
	/* A raw class that keys its buckets on a field gets the field. */
	ck_assert_uint_eq(classify(rs, keyed, strlen(keyed), &obj, hits), 2);
	ck_assert_ptr_nonnull(obj);
	ck_assert_str_eq(json_string_value(json_object_get(obj, "svc")),
	    "x1");
	json_decref(obj);
	/* A raw class holds on an invalid line: still _invalid. */
	ck_assert_uint_eq(classify(rs, bad, strlen(bad), NULL, hits),
	    RULES_INVALID(rs));
	rules_free(rs);
}
END_TEST

static Suite *
scan_suite(void)
{
	Suite *s = suite_create("scan");
	TCase *tc = tcase_create("scan");

	tcase_set_timeout(tc, 60);
	/* Each twice: with the rules above, and with raw classes first. */
	tcase_add_loop_test(tc, crafted_cases, 0, 2);
	tcase_add_test(tc, nesting_limit);
	tcase_add_loop_test(tc, random_mutations_agree, 0, 2);
	tcase_add_loop_test(tc, every_byte_in_long_strings, 0, 2);
	tcase_add_test(tc, raw_classes_skip_the_tree);
	tcase_add_test(tc, seeds_are_scanned_not_handed_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(scan_suite());
}
