/*
 * Unit tests for classify: what class an event gets (first match wins,
 * the default, "_invalid"), the regex match limit, the key field's text,
 * and classify_event(), the data path's classification.
 *
 * Golden files live in $SPILLWAY_TESTDATA/rules (default tests/data):
 *
 *   classify-NAME.in  a rules file (blank: the built-in rules), a line
 *                     "---- events ----", then NDJSON events; the .out
 *                     holds the `classify --each` output, the summary
 *                     table (each class with its priority), and
 *                     "limit CLASS N" for every class whose regexes hit
 *                     the match limit.
 *
 * On a mismatch the actual output is written to tests/out/.  With
 * SPILLWAY_GOLDEN_UPDATE=1 the .out files are rewritten instead.
 */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "arena.h"
#include "classify.h"
#include "cli.h"
#include "rules.h"
#include "check_common.h"

#define EVENTS_MARKER	"---- events ----\n"

static glob_t	 golden;

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
	unit_golden_file(golden.gl_pathv[_i], run_classify);
}
END_TEST

START_TEST(test_golden_present)
{
	/* A missing data directory must not pass as "no cases". */
	ck_assert_msg(golden.gl_pathc >= 5, "only %zu golden files in %s",
	    golden.gl_pathc, unit_testdata());
}
END_TEST

START_TEST(test_builtin)
{
	struct ruleset	*rs = rules_builtin();
	json_t		*obj;

	ck_assert_ptr_nonnull(rs);
	ck_assert_uint_eq(classify(rs, "{}", 2, &obj, NULL), 0);
	ck_assert(json_is_object(obj));
	json_decref(obj);
	ck_assert_uint_eq(classify(rs, "{", 1, &obj, NULL), 1);
	ck_assert_ptr_null(obj);
	ck_assert_uint_eq(classify(rs, "", 0, NULL, NULL), 1);
	rules_free(rs);
}
END_TEST

START_TEST(test_invalid_nul)
{
	static const char nul_after_number[] = "{\"v\": 0\0}";
	struct ruleset		*rs = rules_builtin();

	/* jansson reads past the NUL; the data path does not. */
	ck_assert_uint_eq(classify(rs, nul_after_number,
	    sizeof(nul_after_number) - 1, NULL, NULL), RULES_INVALID(rs));
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

/* classify_event() */

static const char event_rules[] =
    "{ \"classes\": [\n"
    "  { \"name\": \"slow\", \"priority\": 1, \"match\": [\n"
    "      { \"field\": \"s\", \"regex\": \"^(a|aa)+$\" } ] },\n"
    "  { \"name\": \"keyed\", \"priority\": 2, \"key\": \"svc.name\",\n"
    "    \"key_rate\": 10, \"match\": [\n"
    "      { \"field\": \"kind\", \"regex\": \"^k$\" } ] },\n"
    "  { \"name\": \"rawkey\", \"priority\": 3, \"key\": \"id\",\n"
    "    \"key_rate\": 10, \"match\": [ { \"raw\": \"RAW\" } ] },\n"
    "  { \"name\": \"norate\", \"priority\": 4, \"key\": \"id\",\n"
    "    \"match\": [ { \"field\": \"kind\", \"regex\": \"^n$\" } ] }\n"
    "], \"default\": { \"name\": \"rest\", \"priority\": 5 } }\n";

static struct ruleset *
event_load(void)
{
	struct rules_error	 err;
	struct ruleset		*rs;

	rs = rules_load_buffer(event_rules, sizeof(event_rules) - 1, &err);
	ck_assert_msg(rs != NULL, "%d:%d: %s", err.line, err.col, err.msg);
	return rs;
}

/* classify_event() on ev: its class is cls, its key text key (NULL: none). */
static void
event_is(const struct ruleset *rs, const char *ev, const char *cls,
    const char *key)
{
	struct classify_result	 r;
	int			 i;

	classify_event(rs, ev, strlen(ev), &r);
	ck_assert_msg(r.cls == classify(rs, ev, strlen(ev), NULL, NULL),
	    "%s: not classify()'s class", ev);
	i = rules_find(rs, cls);
	ck_assert_msg(i >= 0 && r.cls == (size_t)i, "%s: class %s, not %s",
	    ev, rs->classes[r.cls].name, cls);
	ck_assert_ptr_null(r.hits);
	if (key == NULL) {
		ck_assert_msg(r.keylen == 0, "%s: key \"%.*s\"", ev,
		    (int)r.keylen, r.key);
		return;
	}
	ck_assert_msg(r.keylen == strlen(key) &&
	    memcmp(r.key, key, r.keylen) == 0, "%s: key \"%.*s\", not \"%s\"",
	    ev, (int)r.keylen, r.key, key);
}

START_TEST(test_event_key)
{
	struct ruleset	*rs = event_load();

	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":\"checkout\"}}",
	    "keyed", "checkout");
	/* The literal dotted key wins over the nested path. */
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":\"a\"},"
	    "\"svc.name\":\"b\"}", "keyed", "b");
	/* Scalars as their text. */
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":42}}", "keyed", "42");
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":1e3}}", "keyed",
	    "1000.0");
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":true}}", "keyed",
	    "true");
	/* Missing, null, an array, an object: the shared bucket. */
	event_is(rs, "{\"kind\":\"k\"}", "keyed", NULL);
	event_is(rs, "{\"kind\":\"k\",\"svc\":\"flat\"}", "keyed", NULL);
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":null}}", "keyed", NULL);
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":[\"a\"]}}", "keyed",
	    NULL);
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":{\"a\":1}}}", "keyed",
	    NULL);
	/* A raw class with a key still reads it from the tree. */
	event_is(rs, "{\"id\":\"r1\",\"m\":\"RAW\"}", "rawkey", "r1");
	/* A key with no key_rate: no key buckets, no text. */
	event_is(rs, "{\"kind\":\"n\",\"id\":\"x\"}", "norate", NULL);
	/* No key in the class; an invalid line. */
	event_is(rs, "{\"s\":\"aaaa\",\"id\":\"x\"}", "slow", NULL);
	event_is(rs, "{\"id\":\"x\"}", "rest", NULL);
	event_is(rs, "{\"kind\":\"k\",\"svc\":{\"name\":\"x\"}", "_invalid",
	    NULL);
	event_is(rs, "[1]", "_invalid", NULL);
	rules_free(rs);
}
END_TEST

START_TEST(test_event_key_long)
{
	struct ruleset		*rs = event_load();
	struct classify_result	 r;
	char			 name[201], ev[512];
	size_t			 i, n;

	for (i = 0; i < sizeof(name) - 1; i++)
		name[i] = (char)('a' + i % 26);
	name[i] = '\0';
	n = (size_t)snprintf(ev, sizeof(ev), "{\"kind\":\"k\","
	    "\"svc\":{\"name\":\"%s\"}}", name);
	classify_event(rs, ev, n, &r);
	ck_assert_str_eq(rs->classes[r.cls].name, "keyed");
	ck_assert_uint_eq(r.keylen, CLASSIFY_KEY_MAX);
	ck_assert_ptr_eq(r.key, r.keybuf);
	ck_assert_mem_eq(r.key, name, CLASSIFY_KEY_MAX);
	rules_free(rs);
}
END_TEST

START_TEST(test_event_limit)
{
	static const char slow[] = "{\"s\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaa!\"}";
	struct ruleset		*rs = event_load();
	struct classify_result	 r;
	uint64_t		 want[8];
	size_t			 i;

	ck_assert_uint_le(rs->nclasses, 8);
	memset(want, 0, sizeof(want));
	ck_assert_uint_eq(classify(rs, slow, sizeof(slow) - 1, NULL, want),
	    RULES_DEFAULT(rs));
	ck_assert_uint_eq(want[0], 1);

	classify_event(rs, slow, sizeof(slow) - 1, &r);
	ck_assert_str_eq(rs->classes[r.cls].name, "rest");
	ck_assert_ptr_nonnull(r.hits);
	for (i = 0; i < rs->nclasses; i++)
		ck_assert_uint_eq(r.hits[i], want[i]);

	/* The next event hit nothing: no counters, and none carried over. */
	classify_event(rs, "{\"s\":\"aa\"}", 10, &r);
	ck_assert_str_eq(rs->classes[r.cls].name, "slow");
	ck_assert_ptr_null(r.hits);
	classify_event(rs, slow, sizeof(slow) - 1, &r);
	ck_assert_ptr_nonnull(r.hits);
	for (i = 0; i < rs->nclasses; i++)
		ck_assert_uint_eq(r.hits[i], want[i]);
	rules_free(rs);
}
END_TEST

static Suite *
classify_suite(void)
{
	Suite	*s = suite_create("classify");
	TCase	*tc;

	tc = tcase_create("units");
	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_invalid_nul);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_event_key);
	tcase_add_test(tc, test_event_key_long);
	tcase_add_test(tc, test_event_limit);
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

	arena_install();	/* classify_event() parses into the arena */
	unit_glob("rules/classify-*.in", &golden);
	rc = unit_run(classify_suite());
	globfree(&golden);
	return rc;
}
