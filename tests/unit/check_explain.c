/*
 * Unit tests for the dry-run tools: classify_explain() against
 * classify(), the --explain text, the --diff report and the exit codes of
 * `classify --diff` and `classify --explain`.
 *
 * classify_explain() is a second walk over the rules, kept out of the
 * data path; the first test holds it to classify() over every golden
 * corpus ($SPILLWAY_TESTDATA/rules/classify-*.in) and the integration
 * corpora, event by event: same class, same match-limit counts.
 */
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "classify.h"
#include "cli.h"
#include "rules.h"
#include "check_common.h"

#define EVENTS_MARKER	"---- events ----\n"

static struct ruleset *
load(const char *text)
{
	struct rules_error	 err;
	struct ruleset		*rs;

	rs = rules_load_buffer(text, strlen(text), &err);
	ck_assert_msg(rs != NULL, "rules: %d:%d: %s", err.line, err.col,
	    err.msg);
	return rs;
}

/*
 * Every non-blank line of events[0 .. len-1] classified both ways: the
 * same class and the same match-limit counts.  Returns the lines seen.
 */
static size_t
agree(const char *name, const struct ruleset *rs, const char *events,
    size_t len)
{
	struct classify_trace	 t;
	uint64_t		*h1, *h2;
	const char		*p = events, *end = events + len, *nl;
	size_t			 n, k, want, seen = 0;

	h1 = calloc(rs->nclasses, sizeof(*h1));
	h2 = calloc(rs->nclasses, sizeof(*h2));
	ck_assert(h1 != NULL && h2 != NULL);
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (strspn(p, " \t\r") >= n)
			continue;
		seen++;
		want = classify(rs, p, n, NULL, h1);
		ck_assert_int_eq(classify_explain(rs, p, n, &t, h2), 0);
		ck_assert_msg(t.cls == want, "%s: %.*s: explain says %s, "
		    "classify %s", name, (int)n, p, rs->classes[t.cls].name,
		    rs->classes[want].name);
		ck_assert_int_eq(t.verdict == CLASSIFY_OBJECT,
		    want != RULES_INVALID(rs));
		for (k = 0; k < rs->nclasses; k++)
			ck_assert_msg(h1[k] == h2[k], "%s: %.*s: limit hits "
			    "of %s", name, (int)n, p, rs->classes[k].name);
		classify_trace_free(&t);
	}
	free(h1);
	free(h2);
	return seen;
}

START_TEST(test_agrees_with_classify)
{
	struct rules_error	 err;
	struct ruleset		*rs;
	glob_t			 g;
	char			 pat[4096], rp[4096], cp[4096];
	char			*text, *mark, *corp;
	size_t			 len, clen, i, r, lines = 0;
	static const char *const pairs[][2] = {
		{ "rules_mix.json", "corpus_mix.ndjson" },
		{ "rules_scalars.json", "corpus_scalars.ndjson" }
	};

	snprintf(pat, sizeof(pat), "%s/rules/classify-*.in", unit_testdata());
	ck_assert_int_eq(glob(pat, 0, NULL, &g), 0);
	ck_assert_uint_gt(g.gl_pathc, 5);
	for (i = 0; i < g.gl_pathc; i++) {
		text = unit_slurp(g.gl_pathv[i], &len);
		ck_assert_ptr_nonnull(text);
		mark = strstr(text, EVENTS_MARKER);
		ck_assert_ptr_nonnull(mark);
		for (r = 0; text + r < mark && strchr(" \t\r\n", text[r]); r++)
			;
		rs = text + r == mark ? rules_builtin() :
		    rules_load_buffer(text, (size_t)(mark - text), &err);
		if (rs != NULL) {
			mark += strlen(EVENTS_MARKER);
			lines += agree(g.gl_pathv[i], rs, mark,
			    len - (size_t)(mark - text));
			rules_free(rs);
		}
		free(text);
	}
	globfree(&g);
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		snprintf(rp, sizeof(rp), "%s/../integration/data/%s",
		    unit_testdata(), pairs[i][0]);
		snprintf(cp, sizeof(cp), "%s/../integration/data/%s",
		    unit_testdata(), pairs[i][1]);
		rs = rules_load_file(rp, &err);
		ck_assert_msg(rs != NULL, "%s: %s", rp, err.msg);
		corp = unit_slurp(cp, &clen);
		ck_assert_ptr_nonnull(corp);
		lines += agree(cp, rs, corp, clen);
		free(corp);
		rules_free(rs);
	}
	ck_assert_uint_gt(lines, 100);
}
END_TEST

static const char trace_rules[] =
    "{ \"classes\": [\n"
    "  { \"name\": \"flat\", \"priority\": 1, \"match\": [\n"
    "      { \"field\": \"log.level\", \"regex\": \"^error$\" } ] },\n"
    "  { \"name\": \"both\", \"priority\": 2, \"match\": [\n"
    "      { \"field\": \"a.b.c\", \"regex\": \"x\" },\n"
    "      { \"any\": [ { \"field\": \"tags\", \"regex\": \"^slow$\" },\n"
    "                 { \"raw\": \"audit\" } ] } ] },\n"
    "  { \"name\": \"notprod\", \"priority\": 3, \"match\": [\n"
    "      { \"field\": \"ns\", \"regex\": \"^prod\", \"negate\": true } ] }\n"
    "], \"default\": { \"name\": \"rest\", \"priority\": 5 } }\n";

static void
trace(const struct ruleset *rs, const char *ev, struct classify_trace *t)
{
	ck_assert_int_eq(classify_explain(rs, ev, strlen(ev), t, NULL), 0);
}

START_TEST(test_trace_steps)
{
	struct ruleset		*rs = load(trace_rules);
	struct classify_trace	 t;
	const struct classify_step *s;

	/* A nested log.level; a.b.c runs into a string at "a.b". */
	trace(rs, "{\"log\":{\"level\":\"error\"}}", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_OBJECT);
	ck_assert_str_eq(rs->classes[t.cls].name, "flat");
	ck_assert_uint_eq(t.nsteps, 2);
	s = &t.steps[1];
	ck_assert(s->tried && s->held && s->matched && !s->literal);
	ck_assert_int_eq(s->seen, CLASSIFY_SEEN_SCALAR);
	classify_trace_free(&t);

	/* The flat key wins, even holding null. */
	trace(rs, "{\"log.level\":null,\"log\":{\"level\":\"error\"},"
	    "\"a\":{\"b\":\"s\"},\"ns\":\"prod-1\"}", &t);
	ck_assert_str_eq(rs->classes[t.cls].name, "rest");
	s = &t.steps[1];
	ck_assert(s->literal && !s->held);
	ck_assert_int_eq(s->seen, CLASSIFY_SEEN_NULL);
	/* class both: a.b.c missing at segment 2, blocked by a string;
	 * the any group is not tried. */
	ck_assert_ptr_null(t.steps[2].cond);
	s = &t.steps[3];
	ck_assert_int_eq(s->seen, CLASSIFY_SEEN_MISSING);
	ck_assert_uint_eq(s->missing_at, 2);
	ck_assert(json_is_string(s->blocked));
	s = &t.steps[4];
	ck_assert(!s->tried);
	ck_assert_int_eq(s->cond->kind, COND_ANY);
	/* class notprod: "prod-1" matches, negated, fails. */
	s = &t.steps[6];
	ck_assert(s->tried && s->matched && !s->held);
	ck_assert_uint_eq(t.nsteps, 7);
	classify_trace_free(&t);

	/* The array element that matched; the raw member not tried. */
	trace(rs, "{\"a\":{\"b\":{\"c\":\"xx\"}},\"tags\":[[\"slow\"],{},"
	    "\"fast\",\"slow\"]}", &t);
	ck_assert_str_eq(rs->classes[t.cls].name, "both");
	s = &t.steps[4];
	ck_assert_int_eq(s->cond->kind, COND_ANY);
	ck_assert(s->held && s->depth == 0);
	s = &t.steps[5];
	ck_assert_int_eq(s->seen, CLASSIFY_SEEN_ARRAY);
	ck_assert_uint_eq(s->elem, 3);
	ck_assert_uint_eq(s->nscalar, 2);
	ck_assert_int_eq(s->depth, 1);
	s = &t.steps[6];
	ck_assert(!s->tried && s->cond->kind == COND_RAW);
	ck_assert_uint_eq(t.nsteps, 7);
	classify_trace_free(&t);

	/* Missing ns, negated: holds. */
	trace(rs, "{}", &t);
	ck_assert_str_eq(rs->classes[t.cls].name, "notprod");
	s = &t.steps[t.nsteps - 1];
	ck_assert(s->held && !s->matched);
	ck_assert_int_eq(s->seen, CLASSIFY_SEEN_MISSING);
	ck_assert_uint_eq(s->missing_at, 0);
	classify_trace_free(&t);
	rules_free(rs);
}
END_TEST

START_TEST(test_trace_invalid)
{
	static const char nul_after_number[] = "{\"v\": 0\0}";
	struct ruleset		*rs = rules_builtin();
	struct classify_trace	 t;

	/*
	 * jansson reads past the NUL; the data path does not
	 * (check_classify.c): neither may the explanation.
	 */
	ck_assert_int_eq(classify_explain(rs, nul_after_number,
	    sizeof(nul_after_number) - 1, &t, NULL), 0);
	ck_assert_int_ne(t.verdict, CLASSIFY_OBJECT);
	ck_assert_uint_eq(t.cls, RULES_INVALID(rs));
	classify_trace_free(&t);

	trace(rs, "not json", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_NOT_JSON);
	ck_assert_uint_eq(t.cls, RULES_INVALID(rs));
	ck_assert_ptr_nonnull(strstr(t.error.text, "expected"));
	ck_assert_uint_eq(t.nsteps, 0);
	classify_trace_free(&t);

	trace(rs, "{\"a\":1}  x", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_TRAILING);
	ck_assert_uint_eq(t.trailing, 9);
	classify_trace_free(&t);

	trace(rs, "{\"a\":1e999} {}", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_TRAILING);
	ck_assert_uint_eq(t.trailing, 12);
	classify_trace_free(&t);

	trace(rs, "{\"a\":1e999,}", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_NOT_JSON);
	classify_trace_free(&t);

	trace(rs, "[1]", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_NOT_OBJECT);
	ck_assert(json_is_array(t.root));
	classify_trace_free(&t);

	trace(rs, "\"s\"", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_NOT_OBJECT);
	classify_trace_free(&t);

	trace(rs, "{\"a\":1e999}", &t);
	ck_assert_int_eq(t.verdict, CLASSIFY_OBJECT);
	ck_assert(t.bignum);
	ck_assert_uint_eq(t.cls, RULES_DEFAULT(rs));
	classify_trace_free(&t);
	rules_free(rs);
}
END_TEST

static char *
explain(const struct ruleset *rs, const char *ev)
{
	char	*got = NULL;
	size_t	 len = 0;
	FILE	*out;

	out = open_memstream(&got, &len);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(cli_explain_line(out, rs, "x:1", ev, strlen(ev),
	    NULL), 0);
	fclose(out);
	return got;
}

START_TEST(test_explain_text)
{
	struct ruleset	*rs = load(trace_rules);
	char		*got;

	got = explain(rs, "{\"a.b.c\":\"x\",\"tags\":\"fast\",\"ns\":\"dev\","
	    "\"audit\":1}");
	ck_assert_str_eq(got,
	    "x:1: {\"a.b.c\":\"x\",\"tags\":\"fast\",\"ns\":\"dev\","
	    "\"audit\":1}\n"
	    "  class flat (priority 1): no match\n"
	    "    fails   log.level =~ /^error$/\n"
	    "            log.level: missing (no flat key \"log.level\"; "
	    "no key \"log\"), never matches\n"
	    "  class both (priority 2): matches\n"
	    "    holds   a.b.c =~ /x/\n"
	    "            a.b.c (flat key): string \"x\": matched\n"
	    "    holds   any of 2: member 2 held\n"
	    "      fails   tags =~ /^slow$/\n"
	    "              tags: string \"fast\": not matched\n"
	    "      holds   raw =~ /audit/\n"
	    "              raw line, 48 bytes: matched\n"
	    "  -> class both (priority 2)\n"
	    "  not tried: notprod (the first class that matches wins)\n");
	free(got);

	got = explain(rs, "{\"ns\":7}");
	ck_assert_ptr_nonnull(strstr(got,
	    "    holds   ns !~ /^prod/\n"
	    "            ns: integer, as text \"7\": not matched; negated, "
	    "so it holds\n"
	    "  -> class notprod (priority 3)\n"));
	free(got);

	got = explain(rs, "{\"ns\":\"prod\",\"a\":{\"b\":{}}}");
	ck_assert_ptr_nonnull(strstr(got, "a.b.c: missing (no flat key "
	    "\"a.b.c\"; \"a.b\" has no key \"c\"), never matches\n"
	    "    skipped any(tags =~ /^slow$/ || raw =~ /audit/)  (not "
	    "tried: an earlier condition failed)\n"));
	ck_assert_ptr_nonnull(strstr(got, "  -> class rest (priority 5): "
	    "the default, no class matched\n"));
	free(got);

	got = explain(rs, "{\"a\":1} \xff");
	ck_assert_str_eq(got, "x:1: {\"a\":1} \\xff\n"
	    "  invalid: bytes after the JSON value, from byte 9: \"\\xff\"\n"
	    "  -> class _invalid (priority 0): no class is tried for a line "
	    "that is not one JSON object\n");
	free(got);
	rules_free(rs);
}
END_TEST

START_TEST(test_diff_report)
{
	struct ruleset	*old, *new;
	struct cli_diff	*d;
	char		*got = NULL, *each = NULL;
	size_t		 len = 0, elen = 0;
	FILE		*in, *out, *eout;
	static const char events[] =
	    "{\"s\":\"a\"}\n{\"s\":\"a\"}\n{\"s\":\"b\"}\n\n{\"s\":\"c\"}\n"
	    "nope\n{\"s\":\"b\"}\n{\"s\":\"b\"}\n";

	old = load("{\"classes\":["
	    "{\"name\":\"ca\",\"priority\":1,\"match\":[{\"field\":\"s\","
	    "\"regex\":\"^a$\"}]},"
	    "{\"name\":\"cb\",\"priority\":2,\"match\":[{\"field\":\"s\","
	    "\"regex\":\"^b$\"}]}],"
	    "\"default\":{\"name\":\"rest\",\"priority\":4}}");
	new = load("{\"classes\":["
	    "{\"name\":\"cc\",\"priority\":0,\"match\":[{\"field\":\"s\","
	    "\"regex\":\"^[bc]$\"}]},"
	    "{\"name\":\"ca\",\"priority\":3,\"match\":[{\"field\":\"s\","
	    "\"regex\":\"^a$\"}]}],"
	    "\"default\":{\"name\":\"rest\",\"priority\":4}}");
	ck_assert_ptr_nonnull(d = cli_diff_new(old, new));
	in = fmemopen((void *)(uintptr_t)events, sizeof(events) - 1, "r");
	eout = open_memstream(&each, &elen);
	ck_assert(in != NULL && eout != NULL);
	ck_assert_int_eq(cli_diff_stream(d, in, eout), 0);
	fclose(in);
	fclose(eout);
	ck_assert_str_eq(each,
	    "cb\tcc\t{\"s\":\"b\"}\nrest\tcc\t{\"s\":\"c\"}\n"
	    "cb\tcc\t{\"s\":\"b\"}\ncb\tcc\t{\"s\":\"b\"}\n");
	out = open_memstream(&got, &len);
	ck_assert_int_eq(cli_diff_print(out, d), 0);
	fclose(out);
	ck_assert_str_eq(got,
	    "old_class  new_class  events  share  priority\n"
	    "cb         cc         3       42.9%  2->0\n"
	    "rest       cc         1       14.3%  4->0\n"
	    "ca         ca         2       28.6%  1->3\n"
	    "_invalid   _invalid   1       14.3%  0->0\n"
	    "\n"
	    "class     priority  old_events  new_events  delta  new_share  "
	    "note\n"
	    "cc        0         0           4           +4     57.1%      "
	    "added\n"
	    "ca        3         2           2           0      28.6%      "
	    "priority:1->3\n"
	    "cb        2         3           0           -3     0.0%       "
	    "removed\n"
	    "rest      4         1           0           -1     0.0%       -\n"
	    "_invalid  0         1           1           0      14.3%      -\n"
	    "\n"
	    "7 events, 4 moved (57.1%)\n");
	free(got);
	free(each);
	cli_diff_free(d);

	/* No events at all: every share 0.0%. */
	ck_assert_ptr_nonnull(d = cli_diff_new(old, old));
	got = NULL;
	out = open_memstream(&got, &len);
	ck_assert_int_eq(cli_diff_print(out, d), 0);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(got, "\n0 events, 0 moved (0.0%)\n"));
	ck_assert_ptr_nonnull(strstr(got, "\nca        1         0   "));
	free(got);
	cli_diff_free(d);
	rules_free(old);
	rules_free(new);
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

START_TEST(test_exit_codes)
{
	char	 bad[4096];
	char	*a1[] = { "classify", "--diff", "rules/default.json",
	    "rules/example.json", "/dev/null", NULL };
	char	*a2[] = { "classify", "--diff", bad, "rules/example.json",
	    "/dev/null", NULL };
	char	*a3[] = { "classify", "--diff", "rules/example.json", bad,
	    "/dev/null", NULL };
	char	*a4[] = { "classify", "--diff", "rules/default.json",
	    "rules/example.json", "/nonexistent", NULL };
	char	*a5[] = { "classify", "--diff", "rules/default.json", NULL };
	char	*a6[] = { "classify", "-r", "rules/default.json", "--diff",
	    "rules/default.json", "rules/default.json", NULL };
	char	*a7[] = { "classify", "--explain", "-r", "rules/example.json",
	    "/dev/null", NULL };
	char	*a8[] = { "classify", "--explain", "-r", bad, "/dev/null",
	    NULL };
	char	*a9[] = { "classify", "--explain", "/nonexistent", NULL };
	char	*a10[] = { "classify", "--explain", "--each", "/dev/null",
	    NULL };
	char	*a11[] = { "classify", "--diff", "rules/default.json",
	    "rules/default.json", "--each", "/dev/null", NULL };

	snprintf(bad, sizeof(bad), "%s/rules/load-bad-regex.in",
	    unit_testdata());
	ck_assert_int_eq(quietly(cli_classify, 5, a1), 0);
	ck_assert_int_eq(quietly(cli_classify, 5, a2), 1);
	ck_assert_int_eq(quietly(cli_classify, 5, a3), 1);
	ck_assert_int_eq(quietly(cli_classify, 5, a4), 2);
	ck_assert_int_eq(quietly(cli_classify, 3, a5), 1);
	ck_assert_int_eq(quietly(cli_classify, 6, a6), 1);
	ck_assert_int_eq(quietly(cli_classify, 5, a7), 0);
	ck_assert_int_eq(quietly(cli_classify, 5, a8), 1);
	ck_assert_int_eq(quietly(cli_classify, 3, a9), 2);
	ck_assert_int_eq(quietly(cli_classify, 4, a10), 1);
	ck_assert_int_eq(quietly(cli_classify, 6, a11), 0);
}
END_TEST

static Suite *
explain_suite(void)
{
	Suite	*s = suite_create("explain");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_agrees_with_classify);
	tcase_add_test(tc, test_trace_steps);
	tcase_add_test(tc, test_trace_invalid);
	tcase_add_test(tc, test_explain_text);
	tcase_add_test(tc, test_diff_report);
	tcase_add_test(tc, test_exit_codes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(explain_suite());
}
