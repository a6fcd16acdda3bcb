/*
 * Unit tests for bulk: golden files under $SPILLWAY_TESTDATA/bulk
 * (default tests/data/bulk), plus ids, escaping and content types.
 *
 *   parse/NAME.in       a bulk body; NAME.index, if present, the URL index
 *   parse/NAME.out      one line per item, or "error: MESSAGE"
 *   response/NAME.in    {"took":T,"filter_path":F} then one item a line:
 *                       {"op":..,"index":..,"id":..,"status":..,
 *                        "error_type":..,"error_reason":..}
 *   response/NAME.out   the exact response, then a newline
 *
 * filter/ holds filter_path's cases (check_filter_path.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "bulk.h"
#include "filter_path.h"
#include "check_common.h"

static void
dump_field(FILE *f, const char *name, const char *s, size_t len)
{
	fprintf(f, " %s=", name);
	if (s == NULL)
		fputc('-', f);
	else
		fwrite(s, 1, len, f);
}

START_TEST(test_parse_golden)
{
	struct bulk_request	 req;
	struct bulk_item	*it;
	char			 dir[512], path[1024], err[512];
	char			**names, *body, *dflt, *out = NULL, *nl;
	size_t			 n, i, j, blen, olen;
	FILE			*f;
	int			 fails = 0;

	names = unit_cases("bulk/parse", &n, dir, sizeof(dir));
	ck_assert_uint_gt(n, 20);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s.in", dir, names[i]);
		body = unit_slurp(path, &blen);
		ck_assert_ptr_nonnull(body);
		snprintf(path, sizeof(path), "%s/%s.index", dir, names[i]);
		if ((dflt = unit_slurp(path, NULL)) != NULL &&
		    (nl = strchr(dflt, '\n')) != NULL)
			*nl = '\0';
		f = open_memstream(&out, &olen);
		ck_assert_ptr_nonnull(f);
		memset(&req, 0xa5, sizeof(req));
		if (bulk_parse(body, blen, dflt, &req, err, sizeof(err)) == -1) {
			ck_assert_ptr_null(req.items);
			ck_assert_uint_eq(req.nitems, 0);
			fprintf(f, "error: %s\n", err);
		}
		for (j = 0; j < req.nitems; j++) {
			it = &req.items[j];
			/* Borrowed lines lie inside the body. */
			ck_assert(it->action >= body &&
			    it->action + it->action_len <= body + blen);
			ck_assert(it->source == NULL || (it->source >= body &&
			    it->source + it->source_len <= body + blen));
			fputs(bulk_op_name(it->op), f);
			dump_field(f, "index", it->index,
			    it->index ? strlen(it->index) : 0);
			dump_field(f, "id", it->id, it->id ? strlen(it->id) : 0);
			dump_field(f, "pipeline", it->pipeline,
			    it->pipeline ? strlen(it->pipeline) : 0);
			dump_field(f, "routing", it->routing,
			    it->routing ? strlen(it->routing) : 0);
			dump_field(f, "action", it->action, it->action_len);
			dump_field(f, "source", it->source, it->source_len);
			fputc('\n', f);
		}
		fclose(f);
		fails += unit_golden_case(dir, names[i], out, olen);
		bulk_request_clear(&req);
		free(out);
		free(dflt);
		free(body);
	}
	unit_cases_free(names, n);
	ck_assert_int_eq(fails, 0);
}
END_TEST

static enum bulk_op
op_from_name(const char *s)
{
	if (strcmp(s, "create") == 0)
		return BULK_CREATE;
	if (strcmp(s, "update") == 0)
		return BULK_UPDATE;
	if (strcmp(s, "delete") == 0)
		return BULK_DELETE;
	ck_assert_str_eq(s, "index");
	return BULK_INDEX;
}

START_TEST(test_response_golden)
{
	struct bulk_item	 items[64];
	json_t			*hdr, *lines[64];
	json_error_t		 jerr;
	char			 dir[512], path[1024];
	char			**names, *in, *p, *next, *res;
	const char		*fpath;
	size_t			 n, i, k, nitems, len;
	int			 fails = 0;

	names = unit_cases("bulk/response", &n, dir, sizeof(dir));
	ck_assert_uint_gt(n, 5);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s.in", dir, names[i]);
		in = unit_slurp(path, NULL);
		ck_assert_ptr_nonnull(in);
		hdr = NULL;
		nitems = 0;
		for (next = in; (p = strsep(&next, "\n")) != NULL;) {
			if (*p == '\0')
				continue;
			if (hdr == NULL) {
				hdr = json_loads(p, 0, &jerr);
				ck_assert_msg(hdr != NULL, "%s: %s", path,
				    jerr.text);
				continue;
			}
			ck_assert_uint_lt(nitems, 64);
			lines[nitems] = json_loads(p, 0, &jerr);
			ck_assert_msg(lines[nitems] != NULL, "%s: %s", path,
			    jerr.text);
			memset(&items[nitems], 0, sizeof(items[0]));
			items[nitems].op = op_from_name(json_string_value(
			    json_object_get(lines[nitems], "op")));
			items[nitems].index = (char *)json_string_value(
			    json_object_get(lines[nitems], "index"));
			items[nitems].id = (char *)json_string_value(
			    json_object_get(lines[nitems], "id"));
			items[nitems].status = (int)json_integer_value(
			    json_object_get(lines[nitems], "status"));
			items[nitems].error_type = json_string_value(
			    json_object_get(lines[nitems], "error_type"));
			items[nitems].error_reason = json_string_value(
			    json_object_get(lines[nitems], "error_reason"));
			nitems++;
		}
		ck_assert_ptr_nonnull(hdr);
		fpath = json_string_value(json_object_get(hdr, "filter_path"));
		res = bulk_response(items, nitems,
		    (long)json_integer_value(json_object_get(hdr, "took")),
		    fpath, &len);
		ck_assert_ptr_nonnull(res);
		ck_assert_uint_eq(strlen(res), len);
		res[len] = '\n';
		fails += unit_golden_case(dir, names[i], res, len + 1);
		free(res);
		for (k = 0; k < nitems; k++)
			json_decref(lines[k]);
		json_decref(hdr);
		free(in);
	}
	unit_cases_free(names, n);
	ck_assert_int_eq(fails, 0);
}
END_TEST

/* Every filter applied to a built response equals the same filter on the whole document. */
START_TEST(test_response_filter_matches_tree)
{
	static const char *const filters[] = {
		"errors,items.*.error,items.*.status",
		"took", "-took", "items.*._id", "**.status", "items.index",
		"items.*.error.reason,-items.*._index", "-items.*._shards",
		"items", "-items", "*", "**", "-**", "items.*.*.total",
		"items.**.failed,errors", "nothing", "i*,-items.create",
	};
	struct bulk_item	 items[4];
	char			*all, *direct, *viatree;
	size_t			 i, l1, l2;

	memset(items, 0, sizeof(items));
	items[0].op = BULK_INDEX;
	items[0].index = "a";
	items[0].id = "1";
	items[0].status = 201;
	items[1].op = BULK_CREATE;
	items[1].index = "b";
	items[1].id = "2";
	items[1].status = 429;
	items[1].error_type = "es_rejected_execution_exception";
	items[1].error_reason = "shed";
	items[2].op = BULK_DELETE;
	items[2].index = "c";
	items[2].id = "3";
	items[2].status = 404;
	items[3].op = BULK_UPDATE;
	items[3].index = "d";
	items[3].id = "4";
	items[3].status = 409;
	all = bulk_response(items, 4, 7, NULL, NULL);
	ck_assert_ptr_nonnull(all);
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		direct = bulk_response(items, 4, 7, filters[i], &l1);
		viatree = filter_path_apply(all, filters[i], &l2);
		ck_assert_ptr_nonnull(direct);
		ck_assert_ptr_nonnull(viatree);
		ck_assert_msg(strcmp(direct, viatree) == 0,
		    "filter %s: %s != %s", filters[i], direct, viatree);
		ck_assert_uint_eq(l1, l2);
		free(direct);
		free(viatree);
	}
	free(all);
}
END_TEST

static int
cmpid(const void *a, const void *b)
{
	return memcmp(a, b, BULK_ID_LEN);
}

START_TEST(test_ids)
{
	enum { N = 200000 };
	char	(*ids)[BULK_ID_LEN + 1];
	size_t	 i, j;

	ids = calloc(N, sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	for (i = 0; i < N; i++) {
		bulk_id_generate(ids[i]);
		ck_assert_uint_eq(strlen(ids[i]), BULK_ID_LEN);
		for (j = 0; j < BULK_ID_LEN; j++)
			ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_",
			    ids[i][j]) != NULL, "bad id %s", ids[i]);
	}
	qsort(ids, N, sizeof(*ids), cmpid);
	for (i = 1; i < N; i++)
		ck_assert_msg(memcmp(ids[i - 1], ids[i], BULK_ID_LEN) != 0,
		    "duplicate id %s", ids[i]);
	free(ids);
}
END_TEST

START_TEST(test_response_generated_ids)
{
	struct bulk_item	 items[3];
	json_t			*doc, *it;
	json_error_t		 jerr;
	const char		*a, *b;
	char			*res;
	size_t			 len;

	memset(items, 0, sizeof(items));
	items[0].op = BULK_INDEX;
	items[0].status = 201;
	items[1].op = BULK_CREATE;
	items[1].status = 429;
	items[1].error_type = "es_rejected_execution_exception";
	items[2].op = BULK_INDEX;
	items[2].id = "given";
	items[2].status = 201;
	res = bulk_response(items, 3, 1, NULL, &len);
	ck_assert_ptr_nonnull(res);
	doc = json_loads(res, 0, &jerr);
	ck_assert_msg(doc != NULL, "%s", jerr.text);
	it = json_array_get(json_object_get(doc, "items"), 0);
	a = json_string_value(json_object_get(json_object_get(it, "index"),
	    "_id"));
	it = json_array_get(json_object_get(doc, "items"), 1);
	b = json_string_value(json_object_get(json_object_get(it, "create"),
	    "_id"));
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(strlen(a), BULK_ID_LEN);
	ck_assert_uint_eq(strlen(b), BULK_ID_LEN);
	ck_assert_str_ne(a, b);
	/* An index without _index answers "" (the caller fills the sink's). */
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    json_array_get(json_object_get(doc, "items"), 0), "index"),
	    "_index")), "");
	ck_assert(json_is_true(json_object_get(doc, "errors")));
	json_decref(doc);
	free(res);
}
END_TEST

START_TEST(test_errors_flag)
{
	struct bulk_item	 it;
	char			*res;
	static const struct {
		enum bulk_op	 op;
		int		 status;
		const char	*type;
		int		 errors;
	} cases[] = {
		{ BULK_INDEX, 201, NULL, 0 },
		{ BULK_INDEX, 200, NULL, 0 },
		{ BULK_INDEX, 409, NULL, 1 },
		{ BULK_CREATE, 429, "es_rejected_execution_exception", 1 },
		{ BULK_INDEX, 400, "action_not_supported", 1 },
		{ BULK_DELETE, 404, NULL, 0 },
		{ BULK_DELETE, 404, "index_not_found_exception", 1 },
		{ BULK_UPDATE, 404, NULL, 1 },
		{ BULK_INDEX, 500, NULL, 1 },
	};
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&it, 0, sizeof(it));
		it.op = cases[i].op;
		it.index = "x";
		it.id = "1";
		it.status = cases[i].status;
		it.error_type = cases[i].type;
		res = bulk_response(&it, 1, 0, "errors", NULL);
		ck_assert_ptr_nonnull(res);
		ck_assert_msg(strcmp(res, cases[i].errors ?
		    "{\"errors\":true}" : "{\"errors\":false}") == 0,
		    "case %zu: %s", i, res);
		free(res);
	}
}
END_TEST

/* Strings that need escaping come back intact through a JSON parser. */
START_TEST(test_response_escaping)
{
	struct bulk_item	 it;
	json_t			*doc, *item, *err;
	json_error_t		 jerr;
	char			 nasty[64], *res;
	size_t			 i, len;

	for (i = 0; i < 31; i++)
		nasty[i] = (char)(i + 1);
	memcpy(nasty + 31, "\"\\/\x7f\xc3\xa9\xe2\x82\xac", 10);
	memset(&it, 0, sizeof(it));
	it.op = BULK_CREATE;
	it.index = nasty;
	it.id = "q\"uote";
	it.status = 400;
	it.error_type = "mapper_parsing_exception";
	it.error_reason = "bad \xff\xfe byte, cut \xe2\x82";
	res = bulk_response(&it, 1, 3, NULL, &len);
	ck_assert_ptr_nonnull(res);
	ck_assert_ptr_null(memchr(res, '\n', len));
	doc = json_loadb(res, len, 0, &jerr);
	ck_assert_msg(doc != NULL, "%s: %s", res, jerr.text);
	item = json_object_get(json_array_get(json_object_get(doc, "items"),
	    0), "create");
	ck_assert_str_eq(json_string_value(json_object_get(item, "_index")),
	    nasty);
	ck_assert_str_eq(json_string_value(json_object_get(item, "_id")),
	    "q\"uote");
	err = json_object_get(item, "error");
	ck_assert_str_eq(json_string_value(json_object_get(err, "reason")),
	    "bad \xef\xbf\xbd\xef\xbf\xbd byte, cut \xef\xbf\xbd\xef\xbf\xbd");
	json_decref(doc);
	ck_assert_ptr_nonnull(strstr(res, "\"\\u0001\\u0002\\u0003\\u0004"
	    "\\u0005\\u0006\\u0007\\b\\t\\n\\u000B\\f\\r\\u000E"));
	free(res);
}
END_TEST

START_TEST(test_error_doc)
{
	char	*s;
	size_t	 len;

	s = bulk_error_doc(400, "illegal_argument_exception",
	    "Malformed action/metadata line [1], expected START_OBJECT but "
	    "found [VALUE_STRING]", &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "{\"error\":{\"root_cause\":[{\"type\":"
	    "\"illegal_argument_exception\",\"reason\":\"Malformed "
	    "action/metadata line [1], expected START_OBJECT but found "
	    "[VALUE_STRING]\"}],\"type\":\"illegal_argument_exception\","
	    "\"reason\":\"Malformed action/metadata line [1], expected "
	    "START_OBJECT but found [VALUE_STRING]\"},\"status\":400}");
	ck_assert_uint_eq(strlen(s), len);
	free(s);
	s = bulk_error_doc(413, "content_too_long", "a \"b\"\n", NULL);
	ck_assert_str_eq(s, "{\"error\":{\"root_cause\":[{\"type\":"
	    "\"content_too_long\",\"reason\":\"a \\\"b\\\"\\n\"}],\"type\":"
	    "\"content_too_long\",\"reason\":\"a \\\"b\\\"\\n\"},"
	    "\"status\":413}");
	free(s);
	s = bulk_error_doc(500, NULL, NULL, NULL);
	ck_assert_str_eq(s, "{\"error\":{\"root_cause\":[{\"type\":"
	    "\"exception\",\"reason\":\"\"}],\"type\":\"exception\","
	    "\"reason\":\"\"},\"status\":500}");
	free(s);
}
END_TEST

START_TEST(test_parse_api)
{
	struct bulk_request	 req;
	char			 err[16];
	const char		*body = "{\"index\":{\"_index\":\"a\"}}\n{}\n";

	memset(&req, 0, sizeof(req));
	bulk_request_clear(&req);
	bulk_request_clear(NULL);
	/* A short error buffer is truncated, NUL-terminated. */
	ck_assert_int_eq(bulk_parse("\"x\"", 3, NULL, &req, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "Malformed actio");
	ck_assert_int_eq(bulk_parse("\"x\"", 3, NULL, &req, NULL, 0), -1);
	ck_assert_int_eq(bulk_parse(NULL, 0, NULL, &req, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(bulk_parse(body, strlen(body), "dflt", &req, NULL, 0),
	    0);
	ck_assert_uint_eq(req.nitems, 1);
	ck_assert_str_eq(req.items[0].index, "a");
	ck_assert_ptr_eq(req.items[0].action, body);
	ck_assert_ptr_eq(req.items[0].source, body + 25);
	ck_assert_uint_eq(req.items[0].source_len, 2);
	bulk_request_clear(&req);
	ck_assert_ptr_null(req.items);
	ck_assert_uint_eq(req.nitems, 0);
	bulk_request_clear(&req);
}
END_TEST

/* A large body: many items, arrays grown, every item kept in order. */
START_TEST(test_parse_many)
{
	struct bulk_request	 req;
	char			*body, err[256], want[32];
	size_t			 i, o = 0, n = 10000;

	body = malloc(n * 80);
	ck_assert_ptr_nonnull(body);
	for (i = 0; i < n; i++)
		o += (size_t)sprintf(body + o, "{\"create\":{\"_id\":\"%zu\"}}\n"
		    "{\"n\":%zu}\n", i, i);
	ck_assert_int_eq(bulk_parse(body, o, "logs", &req, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(req.nitems, n);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%zu", i);
		ck_assert_str_eq(req.items[i].id, want);
		ck_assert_str_eq(req.items[i].index, "logs");
		ck_assert_int_eq(req.items[i].op, BULK_CREATE);
	}
	bulk_request_clear(&req);
	free(body);
}
END_TEST

START_TEST(test_content_type)
{
	static const struct {
		const char	*ct;
		int		 ok;
	} cases[] = {
		{ NULL, 1 },
		{ "", 1 },
		{ "  ", 1 },
		{ "application/x-ndjson", 1 },
		{ "application/json", 1 },
		{ "Application/JSON", 1 },
		{ "application/json; charset=UTF-8", 1 },
		{ "application/json;charset=utf-8", 1 },
		{ "application/x-ndjson; charset=\"UTF-8\"", 1 },
		{ "application/json;", 1 },
		{ "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
		    1 },
		{ "application/vnd.elasticsearch+x-ndjson;compatible-with=7",
		    1 },
		{ "application/vnd.elasticsearch+json; compatible-with=8", 1 },
		{ "APPLICATION/VND.ELASTICSEARCH+JSON; COMPATIBLE-WITH=8", 1 },
		{ "application/vnd.elasticsearch+json;compatible-with=8;"
		    "charset=utf-8", 1 },
		{ "application/vnd.elasticsearch+x-ndjson", 1 },
		{ "application/vnd.elasticsearch+json; compatible-with=9", 1 },
		{ "application/vnd.elasticsearch+x-ndjson;Compatible-With = 9",
		    1 },
		{ "application/vnd.elasticsearch+x-ndjson ;  compatible-with=9",
		    1 },
		{ "application/vnd.elasticsearch+json; compatible-with=6", 0 },
		{ "application/vnd.elasticsearch+json; compatible-with=10", 0 },
		{ "application/vnd.elasticsearch+json; compatible-with=x", 0 },
		{ "application/vnd.elasticsearch+json; compatible-with=", 0 },
		{ "application/json; compatible-with=8", 0 },
		{ "application/json; charset", 0 },
		{ "application/json; charset=\"utf-8", 0 },
		{ "application/json x", 0 },
		{ "application/jsonx", 0 },
		{ "application/x-www-form-urlencoded", 0 },
		{ "text/plain", 0 },
		{ "application/smile", 0 },
		{ "application/yaml", 0 },
		{ "application", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(bulk_content_type_ok(cases[i].ct) == cases[i].ok,
		    "%s", cases[i].ct ? cases[i].ct : "(null)");
}
END_TEST

/* A body with more actions than allowed stops before holding them all. */
START_TEST(test_parse_max)
{
	static const char body[] = "{\"index\":{}}\n{}\n{\"create\":{}}\n"
	    "{}\n{\"delete\":{\"_id\":\"1\"}}\n";
	struct bulk_request req;
	char err[256];

	ck_assert_int_eq(bulk_parse_max(body, sizeof(body) - 1, NULL, 3, &req,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(req.nitems, 3);
	bulk_request_clear(&req);
	ck_assert_int_eq(bulk_parse_max(body, sizeof(body) - 1, NULL, 2, &req,
	    err, sizeof(err)), -2);
	ck_assert_uint_eq(req.nitems, 0);
	ck_assert_ptr_null(req.items);
	ck_assert_str_eq(err, "more than 2 actions");
}
END_TEST

/* The compatible-with version an Accept header asks for. */
START_TEST(test_compat)
{
	static const struct {
		const char	*v;
		int		 want;
	} cases[] = {
		{ NULL, 0 },
		{ "", 0 },
		{ "*/*", 0 },
		{ "application/json", 0 },
		{ "application/vnd.elasticsearch+json", 0 },
		{ "application/vnd.elasticsearch+json; compatible-with=9", 9 },
		{ "Application/Vnd.Elasticsearch+JSON;Compatible-With=8", 8 },
		{ "application/vnd.elasticsearch+x-ndjson; compatible-with = 7",
		    7 },
		{ "text/plain, application/vnd.elasticsearch+json;"
		    "compatible-with=9", 9 },
		{ "application/vnd.elasticsearch+json;compatible-with=6", -1 },
		{ "application/vnd.elasticsearch+json;compatible-with=10", -1 },
		{ "application/vnd.elasticsearch+json;compatible-with=9, "
		    "application/vnd.elasticsearch+json;compatible-with=5", -1 },
		{ "application/vnd.elasticsearch+json;compatible-with=abc", -1 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(bulk_compat(cases[i].v) == cases[i].want,
		    "%s: %d", cases[i].v ? cases[i].v : "(null)",
		    bulk_compat(cases[i].v));
}
END_TEST

/* Items carrying the sink's own answer (struct bulk_item.answer). */
static void
set_answer(struct bulk_item *it, const char *answer)
{
	ck_assert_ptr_nonnull(it->answer = strdup(answer));
	it->answer_len = strlen(answer);
}

static void
free_answers(struct bulk_item *items, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(items[i].answer);
		items[i].answer = NULL;
	}
}

/* Unfiltered, an answer is written as {"<op>":<answer>}, byte for byte. */
START_TEST(test_response_answer_verbatim)
{
	/* Not compact, keys in no usual order, escapes as the sink wrote
	 * them: none of it is touched. */
	const char *a0 = "{\"status\":201, \"_id\" : \"ab\\u0063\","
	    "\"_index\":\"logs-2026.11.22\",\"_version\":1,"
	    "\"result\":\"created\",\"_shards\":{\"total\":2,"
	    "\"successful\":1,\"failed\":0},\"_seq_no\":12,"
	    "\"_primary_term\":3,\"x\":[1.50,{\"y\":\"}\\\"\"}]}";
	const char *a2 = "{\"_index\":\"a\",\"_id\":\"x\",\"status\":409,"
	    "\"error\":{\"type\":\"version_conflict_engine_exception\","
	    "\"reason\":\"r\"}}";
	struct bulk_item	 items[3];
	char			*res, want[2048];
	size_t			 len;

	memset(items, 0, sizeof(items));
	items[0].op = BULK_CREATE;
	items[0].index = "ignored";
	items[0].id = "ignored";
	items[0].status = 201;
	set_answer(&items[0], a0);
	/* Without an answer: today's generated item. */
	items[1].op = BULK_INDEX;
	items[1].index = "x";
	items[1].id = "1";
	items[1].status = 201;
	items[2].op = BULK_CREATE;
	items[2].status = 409;
	set_answer(&items[2], a2);
	/* answer_len counts, not the NUL: a longer buffer is cut. */
	items[2].answer = realloc(items[2].answer, strlen(a2) + 8);
	ck_assert_ptr_nonnull(items[2].answer);
	memcpy(items[2].answer + strlen(a2), "garbage", 8);

	res = bulk_response(items, 3, 5, NULL, &len);
	ck_assert_ptr_nonnull(res);
	snprintf(want, sizeof(want), "{\"took\":5,\"errors\":true,\"items\":["
	    "{\"create\":%s},"
	    "{\"index\":{\"_index\":\"x\",\"_id\":\"1\",\"_version\":1,"
	    "\"result\":\"created\",\"_shards\":{\"total\":2,\"successful\":1,"
	    "\"failed\":0},\"_seq_no\":0,\"_primary_term\":1,\"status\":201}},"
	    "{\"create\":%s}]}", a0, a2);
	ck_assert_str_eq(res, want);
	ck_assert_uint_eq(len, strlen(want));
	free(res);
	/* "" is no filter either. */
	res = bulk_response(items, 3, 5, "", &len);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(res, want);
	free(res);
	free_answers(items, 3);
}
END_TEST

/* Filtered, the answer goes through the filter like a generated item. */
START_TEST(test_response_answer_filtered)
{
	const char *fp = "errors,items.*.status,items.*.error";
	struct bulk_item	 items[3];
	char			*res;
	size_t			 len;

	memset(items, 0, sizeof(items));
	items[0].op = BULK_CREATE;
	items[0].status = 409;
	set_answer(&items[0], "{\"_index\":\"a\",\"_id\":\"x\",\"status\":409,"
	    "\"error\":{\"type\":\"version_conflict_engine_exception\","
	    "\"reason\":\"r\"}}");
	res = bulk_response(items, 1, 9, fp, &len);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(res, "{\"errors\":true,\"items\":[{\"create\":"
	    "{\"status\":409,\"error\":{\"type\":"
	    "\"version_conflict_engine_exception\",\"reason\":\"r\"}}}]}");
	ck_assert_uint_eq(len, strlen(res));
	free(res);

	/* With a generated item and an answered success in between, and
	 * an answer that is not compact: the filter's output is. */
	items[1].op = BULK_INDEX;
	items[1].index = "b";
	items[1].id = "2";
	items[1].status = 201;
	items[2].op = BULK_INDEX;
	items[2].status = 200;
	set_answer(&items[2], "{ \"_index\" : \"c\", \"_id\" : \"3\", "
	    "\"result\" : \"updated\", \"status\" : 200 }");
	res = bulk_response(items, 3, 9, fp, &len);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(res, "{\"errors\":true,\"items\":[{\"create\":"
	    "{\"status\":409,\"error\":{\"type\":"
	    "\"version_conflict_engine_exception\",\"reason\":\"r\"}}},"
	    "{\"index\":{\"status\":201}},{\"index\":{\"status\":200}}]}");
	free(res);
	res = bulk_response(items, 3, 9, "items.*._id,took", &len);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(res, "{\"took\":9,\"items\":[{\"create\":"
	    "{\"_id\":\"x\"}},{\"index\":{\"_id\":\"2\"}},"
	    "{\"index\":{\"_id\":\"3\"}}]}");
	free(res);
	free_answers(items, 3);
}
END_TEST

/* "errors" follows each item's status, answered or not. */
START_TEST(test_response_answer_errors_flag)
{
	static const struct {
		enum bulk_op	 op;
		int		 status;
		const char	*type;
		const char	*answer;
		int		 errors;
	} cases[] = {
		{ BULK_INDEX, 201, NULL, "{\"status\":201}", 0 },
		{ BULK_INDEX, 200, NULL, "{\"status\":200}", 0 },
		{ BULK_CREATE, 409, NULL, "{\"status\":409}", 1 },
		{ BULK_INDEX, 429, NULL, "{\"status\":429}", 1 },
		{ BULK_INDEX, 400, NULL, "{\"status\":400}", 1 },
		{ BULK_INDEX, 503, NULL, "{\"status\":503}", 1 },
		{ BULK_INDEX, 300, NULL, "{\"status\":300}", 1 },
		{ BULK_DELETE, 404, NULL,
		    "{\"result\":\"not_found\",\"status\":404}", 0 },
		{ BULK_DELETE, 404, "index_not_found_exception",
		    "{\"status\":404}", 1 },
		{ BULK_UPDATE, 404, NULL, "{\"status\":404}", 1 },
		/* The item's status counts, not the answer's text. */
		{ BULK_INDEX, 201, NULL, "{\"status\":500}", 0 },
		{ BULK_INDEX, 500, NULL, "{\"status\":201}", 1 },
	};
	struct bulk_item	 it[2];
	char			*res;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(it, 0, sizeof(it));
		it[0].op = cases[i].op;
		it[0].status = cases[i].status;
		it[0].error_type = cases[i].type;
		set_answer(&it[0], cases[i].answer);
		res = bulk_response(it, 1, 0, "errors", NULL);
		ck_assert_ptr_nonnull(res);
		ck_assert_msg(strcmp(res, cases[i].errors ?
		    "{\"errors\":true}" : "{\"errors\":false}") == 0,
		    "case %zu: %s", i, res);
		free(res);
		/* After a generated success, the same. */
		it[1] = it[0];
		memset(&it[0], 0, sizeof(it[0]));
		it[0].op = BULK_INDEX;
		it[0].status = 201;
		res = bulk_response(it, 2, 0, "errors", NULL);
		ck_assert_ptr_nonnull(res);
		ck_assert_msg(strcmp(res, cases[i].errors ?
		    "{\"errors\":true}" : "{\"errors\":false}") == 0,
		    "case %zu after another: %s", i, res);
		free(res);
		free_answers(it, 2);
	}
}
END_TEST

/* bulk_request_clear() frees answers with the rest. */
START_TEST(test_request_clear_frees_answer)
{
	const char		*body = "{\"index\":{\"_id\":\"1\"}}\n{}\n"
				    "{\"delete\":{\"_id\":\"2\"}}\n";
	struct bulk_request	 req;
	char			 err[256];
	char			*res;

	memset(&req, 0, sizeof(req));
	ck_assert_int_eq(bulk_parse(body, strlen(body), "i", &req, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(req.nitems, 2);
	ck_assert_ptr_null(req.items[0].answer);
	ck_assert_ptr_null(req.items[1].answer);
	req.items[0].status = 201;
	set_answer(&req.items[0], "{\"_id\":\"1\",\"status\":201}");
	req.items[1].status = 200;
	res = bulk_response(req.items, req.nitems, 1, "items.*._id", NULL);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(res, "{\"items\":[{\"index\":{\"_id\":\"1\"}},"
	    "{\"delete\":{\"_id\":\"2\"}}]}");
	free(res);
	bulk_request_clear(&req);
	ck_assert_ptr_null(req.items);
	ck_assert_uint_eq(req.nitems, 0);
}
END_TEST

static Suite *
bulk_suite(void)
{
	Suite	*s = suite_create("bulk");
	TCase	*tc = tcase_create("bulk");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_parse_golden);
	tcase_add_test(tc, test_response_golden);
	tcase_add_test(tc, test_response_filter_matches_tree);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_response_generated_ids);
	tcase_add_test(tc, test_errors_flag);
	tcase_add_test(tc, test_response_escaping);
	tcase_add_test(tc, test_error_doc);
	tcase_add_test(tc, test_parse_api);
	tcase_add_test(tc, test_parse_many);
	tcase_add_test(tc, test_content_type);
	tcase_add_test(tc, test_compat);
	tcase_add_test(tc, test_parse_max);
	tcase_add_test(tc, test_response_answer_verbatim);
	tcase_add_test(tc, test_response_answer_filtered);
	tcase_add_test(tc, test_response_answer_errors_flag);
	tcase_add_test(tc, test_request_clear_frees_answer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(bulk_suite());
}
