/*
 * Unit tests for sink_es_bulk, the Elasticsearch sink's pure parts: bulk
 * bodies byte for byte (action lines kept or built from the index pattern
 * and the event's @timestamp), timestamps, the request's size, parameters
 * and target, bulk responses item by item (mixed statuses, malformed and
 * cut short), and the retry pause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "record.h"
#include "sink_es_bulk.h"
#include "check_common.h"

/* 2026-11-22T10:11:12Z */
#define T_2026_11_22	((time_t)1795342272)
/* 2030-01-02T03:04:05Z, the "now" of the tests */
#define T_NOW		((time_t)1893553445)

static struct record *
rec_json(const char *data, const char *action)
{
	struct record *rec;

	rec = record_new(data, strlen(data), action,
	    action ? strlen(action) : 0);
	ck_assert_ptr_nonnull(rec);
	rec->json = json_loads(data, 0, NULL);
	return rec;
}

/* The body for recs as a NUL-terminated string; caller frees. */
static char *
body_of(struct sink_es_bulk_index *ix, struct record **recs, size_t n,
    time_t now)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;
	char *out;

	ck_assert_int_eq(sink_es_bulk_body(b, ix, recs, n, now), 0);
	len = evbuffer_get_length(b);
	out = malloc(len + 1);
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return out;
}

static void
free_recs(struct record **recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		record_free(recs[i]);
}

START_TEST(timestamp_forms)
{
	static const struct {
		const char	*s;
		time_t		 t;
	} ok[] = {
		{ "2026-11-22T10:11:12Z", T_2026_11_22 },
		{ "2026-11-22T10:11:12.345Z", T_2026_11_22 },
		{ "2026-11-22T10:11:12.123456789Z", T_2026_11_22 },
		{ "2026-11-22T10:11:12", T_2026_11_22 },
		{ "2026-11-22 10:11:12z", T_2026_11_22 },
		{ "2026-11-22T12:11:12.5+02:00", T_2026_11_22 },
		{ "2026-11-22T05:41:12-0430", T_2026_11_22 },
		{ "2026-11-23T00:11:12+14", T_2026_11_22 },
		{ "2026-11-22T10:11Z", T_2026_11_22 - 12 },
		{ "2026-11-22", T_2026_11_22 - 10 * 3600 - 11 * 60 - 12 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "2000-02-29T00:00:00Z", 951782400 },
	};
	static const char *const bad[] = {
		"", "2026", "2026-11", "2026-13-01", "2026-11-31x",
		"2026-02-30", "2026-11-22T", "2026-11-22T10", "2026-11-22T25:00",
		"2026-11-22T10:11:12.Z", "2026-11-22T10:11:12+2", "26-11-22",
		"2026-11-22T10:11:12Z ", "now",
	};
	size_t i;
	time_t t;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		t = 12345;
		ck_assert_msg(sink_es_bulk_timestamp(ok[i].s, strlen(ok[i].s),
		    &t) == 0, "%s", ok[i].s);
		ck_assert_msg(t == ok[i].t, "%s: %lld != %lld", ok[i].s,
		    (long long)t, (long long)ok[i].t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(sink_es_bulk_timestamp(bad[i], strlen(bad[i]),
		    &t) == -1, "%s", bad[i]);
}
END_TEST

START_TEST(body_index_from_timestamp)
{
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("logs-%Y.%m.%d", 0);
	struct record *recs[5];
	char *body;

	recs[0] = rec_json("{\"@timestamp\":\"2026-11-22T10:11:12.345Z\","
	    "\"m\":1}", NULL);
	/* An offset moves the event to the previous UTC day. */
	recs[1] = rec_json("{\"@timestamp\":\"2026-11-22T01:00:00+02:00\","
	    "\"m\":2}", NULL);
	/* No @timestamp, or an unreadable one: now. */
	recs[2] = rec_json("{\"m\":3}", NULL);
	recs[3] = rec_json("{\"@timestamp\":\"yesterday\", \"m\" : 4 }",
	    NULL);
	/* epoch_millis */
	recs[4] = rec_json("{\"@timestamp\":1795342272000}", NULL);
	body = body_of(ix, recs, 5, T_NOW);
	ck_assert_str_eq(body,
	    "{\"index\":{\"_index\":\"logs-2026.11.22\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:11:12.345Z\",\"m\":1}\n"
	    "{\"index\":{\"_index\":\"logs-2026.11.21\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T01:00:00+02:00\",\"m\":2}\n"
	    "{\"index\":{\"_index\":\"logs-2030.01.02\"}}\n"
	    "{\"m\":3}\n"
	    "{\"index\":{\"_index\":\"logs-2030.01.02\"}}\n"
	    "{\"@timestamp\":\"yesterday\", \"m\" : 4 }\n"
	    "{\"index\":{\"_index\":\"logs-2026.11.22\"}}\n"
	    "{\"@timestamp\":1795342272000}\n");
	free(body);
	free_recs(recs, 5);
	sink_es_bulk_index_free(ix);
}
END_TEST

#define DEL	"{\"delete\":{\"_index\":\"i\",\"_id\":\"7\"}}"

START_TEST(body_keeps_bulk_actions)
{
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("logs-%Y", 0);
	struct record *recs[4];
	char *body;

	recs[0] = rec_json("{\"a\":1}", "{\"index\":{\"_index\":\"mine\","
	    "\"_id\":\"x1\",\"pipeline\":\"p\",\"routing\":\"r\"}}");
	recs[1] = rec_json("{\"@timestamp\":\"2026-11-22T10:11:12Z\"}",
	    "{ \"create\" : { \"_index\" : \"ds\" } }");
	recs[2] = record_new("", 0, DEL, strlen(DEL));
	recs[3] = rec_json("{\"doc\":{\"a\":2}}", "{\"update\":{\"_index\":"
	    "\"i\",\"_id\":\"7\"}}");
	body = body_of(ix, recs, 4, T_NOW);
	ck_assert_str_eq(body,
	    "{\"index\":{\"_index\":\"mine\",\"_id\":\"x1\",\"pipeline\":"
	    "\"p\",\"routing\":\"r\"}}\n"
	    "{\"a\":1}\n"
	    "{ \"create\" : { \"_index\" : \"ds\" } }\n"
	    "{\"@timestamp\":\"2026-11-22T10:11:12Z\"}\n"
	    "{\"delete\":{\"_index\":\"i\",\"_id\":\"7\"}}\n"
	    "{\"update\":{\"_index\":\"i\",\"_id\":\"7\"}}\n"
	    "{\"doc\":{\"a\":2}}\n");
	free(body);
	free_recs(recs, 4);
	sink_es_bulk_index_free(ix);
}
END_TEST

START_TEST(body_create_fixed_and_hourly)
{
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("logs-app-default", 1);
	struct sink_es_bulk_index *hx = sink_es_bulk_index_new("h-%Y%m%d%H", 0);
	struct sink_es_bulk_index *mx = sink_es_bulk_index_new("m-%H%M-%%", 0);
	struct record *recs[3];
	char *body;

	recs[0] = rec_json("{\"@timestamp\":\"2026-11-22T10:11:12Z\"}", NULL);
	recs[1] = rec_json("{\"@timestamp\":\"2026-11-22T10:59:59Z\"}", NULL);
	recs[2] = rec_json("{\"@timestamp\":\"2026-11-22T11:00:00Z\"}", NULL);
	body = body_of(ix, recs, 3, T_NOW);
	ck_assert_str_eq(body,
	    "{\"create\":{\"_index\":\"logs-app-default\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:11:12Z\"}\n"
	    "{\"create\":{\"_index\":\"logs-app-default\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:59:59Z\"}\n"
	    "{\"create\":{\"_index\":\"logs-app-default\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T11:00:00Z\"}\n");
	free(body);
	body = body_of(hx, recs, 3, T_NOW);
	ck_assert_str_eq(body,
	    "{\"index\":{\"_index\":\"h-2026112210\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:11:12Z\"}\n"
	    "{\"index\":{\"_index\":\"h-2026112210\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:59:59Z\"}\n"
	    "{\"index\":{\"_index\":\"h-2026112211\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T11:00:00Z\"}\n");
	free(body);
	/* Minutes are finer than the hourly cache: still exact. */
	body = body_of(mx, recs, 3, T_NOW);
	ck_assert_str_eq(body,
	    "{\"index\":{\"_index\":\"m-1011-%\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:11:12Z\"}\n"
	    "{\"index\":{\"_index\":\"m-1059-%\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T10:59:59Z\"}\n"
	    "{\"index\":{\"_index\":\"m-1100-%\"}}\n"
	    "{\"@timestamp\":\"2026-11-22T11:00:00Z\"}\n");
	free(body);
	free_recs(recs, 3);
	sink_es_bulk_index_free(ix);
	sink_es_bulk_index_free(hx);
	sink_es_bulk_index_free(mx);
}
END_TEST

#define BAD	"not json \"@timestamp\":\"2026-11-22\""
#define RAW	"{\"x\":{\"y\":1},\"@timestamp\" : \"2026-11-22T10:11:12Z\"}"

START_TEST(body_invalid_and_unparsed)
{
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("l-%Y.%m.%d", 0);
	struct record *recs[3];
	char *body;

	/* The parse-failure wrapper goes to today's index, bytes as is. */
	recs[0] = record_new_invalid(BAD, strlen(BAD), NULL, 0);
	/* A valid record whose object was not kept: read the raw text. */
	recs[1] = record_new(RAW, strlen(RAW), NULL, 0);
	recs[2] = record_new("{\"x\":1}", 7, NULL, 0);
	body = body_of(ix, recs, 3, T_NOW);
	ck_assert_str_eq(body,
	    "{\"index\":{\"_index\":\"l-2030.01.02\"}}\n"
	    "{\"message\":\"not json \\\"@timestamp\\\":\\\"2026-11-22\\\"\","
	    "\"tags\":[\"_jsonparsefailure\"]}\n"
	    "{\"index\":{\"_index\":\"l-2026.11.22\"}}\n"
	    "{\"x\":{\"y\":1},\"@timestamp\" : \"2026-11-22T10:11:12Z\"}\n"
	    "{\"index\":{\"_index\":\"l-2030.01.02\"}}\n"
	    "{\"x\":1}\n");
	free(body);
	free_recs(recs, 3);
	sink_es_bulk_index_free(ix);
}
END_TEST

/*
 * The raw scan takes the top-level "@timestamp" only: a nested one, a
 * key inside a string or a value spelled "@timestamp" is stepped over.
 */
START_TEST(body_raw_timestamp_top_level)
{
	static const char *const src[] = {
		"{\"event\":{\"@timestamp\":\"2020-01-01T00:00:00Z\"},"
		    "\"@timestamp\":\"2026-11-22T10:11:12Z\"}",
		"{\"m\":\"say \\\"@timestamp\\\":\\\"2020-01-01\\\"\","
		    "\"@timestamp\":\"2026-11-22T10:11:12Z\"}",
		"{\"a\":[{\"@timestamp\":1577836800000}],\"b\":\"@timestamp\","
		    "\"c\":\"\\\\\",\"@timestamp\"\n:\t1795342272000}",
		"{\"tags\":[\"@timestamp\"],\"x\":{\"@timestamp\":"
		    "\"2020-01-01\"}}",
		"{\"@timestamp\":\"2026-11-22T10:11:\\u0031\\u0032Z\"}",
	};
	static const char *const want[] = {
		"l-2026.11.22", "l-2026.11.22", "l-2026.11.22",
		"l-2030.01.02", "l-2030.01.02",
	};
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("l-%Y.%m.%d", 0);
	struct record *rec;
	char *body, expect[512];
	size_t i;

	for (i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		rec = record_new(src[i], strlen(src[i]), NULL, 0);
		ck_assert_ptr_nonnull(rec);
		body = body_of(ix, &rec, 1, T_NOW);
		snprintf(expect, sizeof(expect),
		    "{\"index\":{\"_index\":\"%s\"}}\n%s\n", want[i], src[i]);
		ck_assert_str_eq(body, expect);
		free(body);
		record_free(rec);
	}
	sink_es_bulk_index_free(ix);
}
END_TEST

START_TEST(body_escapes_index)
{
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("a\"b\\c", 0);
	struct record *recs[1];
	char *body;

	recs[0] = rec_json("{}", NULL);
	body = body_of(ix, recs, 1, T_NOW);
	ck_assert_str_eq(body,
	    "{\"index\":{\"_index\":\"a\\\"b\\\\c\"}}\n{}\n");
	free(body);
	free_recs(recs, 1);
	sink_es_bulk_index_free(ix);
}
END_TEST

static void
check_response(const char *body, size_t n, int rc,
    const enum sink_es_bulk_item *want, size_t want429)
{
	enum sink_es_bulk_item got[16];
	size_t i, n429 = 99;

	ck_assert_uint_le(n, 16);
	ck_assert_int_eq(sink_es_bulk_response(body, strlen(body), n, got,
	    &n429), rc);
	if (rc != 0)
		return;
	for (i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "item %zu: %d != %d", i,
		    (int)got[i], (int)want[i]);
	ck_assert_uint_eq(n429, want429);
}

#define OK	SINK_ES_BULK_OK
#define RETRY	SINK_ES_BULK_RETRY
#define REJECT	SINK_ES_BULK_REJECT
#define WAIT	SINK_ES_BULK_WAIT

START_TEST(response_items)
{
	static const enum sink_es_bulk_item all_ok[3] = { OK, OK, OK };
	static const enum sink_es_bulk_item mixed[8] = { OK, OK, OK, WAIT, RETRY,
	    REJECT, REJECT, WAIT };
	static const enum sink_es_bulk_item short_[3] = { OK, REJECT, RETRY };

	/* errors:false is trusted without walking items. */
	check_response("{\"errors\":false}", 3, 0, all_ok, 0);
	check_response("{\"took\":12,\"errors\":false,\"items\":[]}", 3, 0,
	    all_ok, 0);
	check_response(" { \"took\" : 3 , \"errors\" : false } ", 3, 0,
	    all_ok, 0);
	check_response("{\"items\":[{\"index\":{\"status\":201}}],"
	    "\"errors\":false}", 3, 0, all_ok, 0);
	check_response("{\"errors\":true,\"items\":["
	    "{\"index\":{\"status\":201}},"
	    "{\"create\":{\"status\":200}},"
	    "{\"create\":{\"status\":409,\"error\":{\"type\":"
	    "\"version_conflict_engine_exception\"}}},"
	    "{\"index\":{\"status\":429,\"error\":{\"type\":"
	    "\"es_rejected_execution_exception\"}}},"
	    "{\"index\":{\"status\":503}},"
	    "{\"index\":{\"status\":400,\"error\":{\"type\":"
	    "\"document_parsing_exception\"}}},"
	    "{\"delete\":{\"status\":404}},"
	    "{\"index\":{\"status\":429}}]}", 8, 0, mixed, 2);
	/* Fewer items than records: the rest are retried. */
	check_response("{\"errors\":true,\"items\":[{\"index\":{\"status\":"
	    "201}},{\"index\":{\"status\":400}}]}", 3, 0, short_, 0);
	/* An item without a status is retried. */
	check_response("{\"errors\":true,\"items\":[{\"index\":{}},"
	    "{\"index\":{\"status\":\"201\"}},{}]}", 3, 0,
	    (const enum sink_es_bulk_item[]){ RETRY, RETRY, RETRY }, 0);
}
END_TEST

START_TEST(response_not_bulk)
{
	check_response("", 1, -1, NULL, 0);
	check_response("<html>", 1, -1, NULL, 0);
	check_response("[]", 1, -1, NULL, 0);
	check_response("{\"errors\":true}", 1, -1, NULL, 0);
	check_response("{\"errors\":fals", 1, -1, NULL, 0);
	check_response("{\"took\":1,\"errors\":true,\"items\":{}}", 1, -1,
	    NULL, 0);
}
END_TEST

/* --- items' own answers, found in the response text ------------------ */

/*
 * Each expected item object must be exactly body[off, off + len): the
 * text under the item's action name, byte for byte.
 */
static void
check_answer(const char *body, const struct sink_es_bulk_answer *ans,
    const char *want, int status)
{
	ck_assert_uint_eq(ans->len, strlen(want));
	ck_assert_uint_le(ans->off + ans->len, strlen(body));
	ck_assert_msg(memcmp(body + ans->off, want, ans->len) == 0,
	    "answer \"%.*s\", want \"%s\"", (int)ans->len, body + ans->off,
	    want);
	ck_assert_int_eq(ans->status, status);
}

#define A_CREATED \
	"{\"_index\":\"logs-2026.11.22\",\"_id\":\"a1\",\"_version\":1," \
	"\"result\":\"created\",\"_shards\":{\"total\":2,\"successful\":1," \
	"\"failed\":0},\"_seq_no\":7,\"_primary_term\":1,\"status\":201}"
/* Nested objects, and strings holding quotes, braces and brackets. */
#define A_CONFLICT \
	"{\"_index\":\"logs-2026.11.22\",\"_id\":\"a\\\"2}\",\"status\":409," \
	"\"error\":{\"type\":\"version_conflict_engine_exception\"," \
	"\"reason\":\"[a\\\"2}]: version conflict, " \
	"\\\"{\\\"status\\\":201}\\\"" \
	" } ] {{ \\\\\",\"index_uuid\":\"Xy-z\",\"shard\":\"0\"," \
	"\"caused_by\":{\"type\":\"x\",\"reason\":\"}]\",\"nested\":" \
	"{\"deep\":[{\"a\":[1,2,{\"b\":\"}\"}]},null,true,-1.5e3]}}}}"
#define A_REJECTED \
	"{\"_index\":\"logs-2026.11.22\",\"_id\":\"a3\",\"status\":429," \
	"\"error\":{\"type\":\"es_rejected_execution_exception\"," \
	"\"reason\":\"rejected execution of coordinating operation\"}}"

START_TEST(answers_full_response)
{
	const char *body = "{\"took\":30,\"errors\":true,\"items\":["
	    "{\"create\":" A_CREATED "},"
	    "{\"create\":" A_CONFLICT "},"
	    "{\"index\":" A_REJECTED "}]}";
	enum sink_es_bulk_item out[3];
	struct sink_es_bulk_answer ans[3];
	size_t n429 = 99;
	json_t *root;

	/* The response is valid JSON (so the test text itself is sane). */
	ck_assert_ptr_nonnull(root = json_loads(body, 0, NULL));
	json_decref(root);
	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 3, out, &n429,
	    ans), 0);
	check_answer(body, &ans[0], A_CREATED, 201);
	check_answer(body, &ans[1], A_CONFLICT, 409);
	check_answer(body, &ans[2], A_REJECTED, 429);
	ck_assert_int_eq(out[0], SINK_ES_BULK_OK);
	ck_assert_int_eq(out[1], SINK_ES_BULK_OK);
	ck_assert_int_eq(out[2], SINK_ES_BULK_WAIT);
	ck_assert_uint_eq(n429, 1);
	/* n429 may be NULL. */
	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 3, out, NULL,
	    ans), 0);
	check_answer(body, &ans[1], A_CONFLICT, 409);
}
END_TEST

#define P_CREATED \
	"{\n      \"_index\" : \"a\",\n      \"_id\" : \"1\",\n" \
	"      \"_shards\" : { \"total\" : 2 },\n      \"status\" : 201\n" \
	"    }"
#define P_FAILED \
	"{\n      \"_index\" : \"a\",\n      \"status\"\t:\t400 ,\n" \
	"      \"error\" : {\n" \
	"        \"type\" : \"mapper_parsing_exception\"," \
	"\n        \"reason\" : \"failed to parse [\\\"x\\\"]\"\n      }\n" \
	"    }"

START_TEST(answers_pretty_printed)
{
	const char *body = "{\n  \"took\" : 3,\n  \"errors\" : true,\n"
	    "  \"items\" : [\n    {\n      \"index\" : " P_CREATED "\n"
	    "    },\n    {\r\n      \"create\" :\t" P_FAILED "  }\n  ]\n}\n";
	enum sink_es_bulk_item out[2];
	struct sink_es_bulk_answer ans[2];
	size_t n429 = 99;

	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 2, out, &n429,
	    ans), 0);
	check_answer(body, &ans[0], P_CREATED, 201);
	check_answer(body, &ans[1], P_FAILED, 400);
	ck_assert_int_eq(out[0], SINK_ES_BULK_OK);
	ck_assert_int_eq(out[1], SINK_ES_BULK_REJECT);
	ck_assert_uint_eq(n429, 0);
}
END_TEST

START_TEST(answers_items_first)
{
	const char *body = "{\"items\":[{\"index\":{\"_id\":\"1\",\"status\":"
	    "503}},{\"delete\":{\"_id\":\"2\",\"result\":\"not_found\","
	    "\"status\":404}},{\"index\":{\"status\":201}}],"
	    "\"took\":{\"weird\":[\"]\"]},\"errors\":true,\"ingest_took\":0}";
	enum sink_es_bulk_item out[3];
	struct sink_es_bulk_answer ans[3];
	size_t n429 = 99;

	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 3, out, &n429,
	    ans), 0);
	check_answer(body, &ans[0], "{\"_id\":\"1\",\"status\":503}", 503);
	check_answer(body, &ans[1], "{\"_id\":\"2\",\"result\":\"not_found\","
	    "\"status\":404}", 404);
	check_answer(body, &ans[2], "{\"status\":201}", 201);
	ck_assert_int_eq(out[0], SINK_ES_BULK_RETRY);
	ck_assert_int_eq(out[1], SINK_ES_BULK_REJECT);
	ck_assert_int_eq(out[2], SINK_ES_BULK_OK);
	ck_assert_uint_eq(n429, 0);
}
END_TEST

START_TEST(answers_fewer_items)
{
	const char *body = "{\"took\":1,\"errors\":true,\"items\":["
	    "{\"index\":{\"status\":429}}]}";
	enum sink_es_bulk_item out[3];
	struct sink_es_bulk_answer ans[3];
	size_t n429 = 99;
	size_t i;

	memset(ans, 0x5a, sizeof(ans));
	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 3, out, &n429,
	    ans), 0);
	check_answer(body, &ans[0], "{\"status\":429}", 429);
	ck_assert_int_eq(out[0], SINK_ES_BULK_WAIT);
	for (i = 1; i < 3; i++) {
		ck_assert_uint_eq(ans[i].len, 0);
		ck_assert_int_eq(ans[i].status, 0);
		ck_assert_int_eq(out[i], SINK_ES_BULK_RETRY);
	}
	ck_assert_uint_eq(n429, 1);

	/* No items at all: every record is retried. */
	body = "{\"took\":1,\"errors\":true,\"items\":[]}";
	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 2, out, &n429,
	    ans), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(ans[i].len, 0);
		ck_assert_int_eq(out[i], SINK_ES_BULK_RETRY);
	}
	ck_assert_uint_eq(n429, 0);
}
END_TEST

/* More items than records: the extra ones are ignored. */
START_TEST(answers_more_items)
{
	const char *body = "{\"items\":[{\"index\":{\"status\":201}},"
	    "{\"index\":{\"status\":429}}]}";
	enum sink_es_bulk_item out[1];
	struct sink_es_bulk_answer ans[1];
	size_t n429 = 99;

	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 1, out, &n429,
	    ans), 0);
	check_answer(body, &ans[0], "{\"status\":201}", 201);
	ck_assert_int_eq(out[0], SINK_ES_BULK_OK);
	ck_assert_uint_eq(n429, 0);
}
END_TEST

START_TEST(answers_without_status)
{
	/* No status; a status that is a string; only a nested "status"
	 * (in error) before the item's own; "status" as a string value. */
	const char *body = "{\"errors\":true,\"items\":["
	    "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}},"
	    "{\"index\":{\"status\":\"201\"}},"
	    "{\"index\":{}},"
	    "{\"index\":{\"error\":{\"status\":201,\"type\":\"t\"},"
	    "\"status\":400}},"
	    "{\"index\":{\"reason\":\"status\",\"status\":200}}]}";
	enum sink_es_bulk_item out[5];
	struct sink_es_bulk_answer ans[5];
	size_t n429 = 99;

	ck_assert_int_eq(sink_es_bulk_answers(body, strlen(body), 5, out, &n429,
	    ans), 0);
	check_answer(body, &ans[0], "{\"_index\":\"a\",\"_id\":\"1\"}", 0);
	ck_assert_int_eq(out[0], SINK_ES_BULK_RETRY);
	check_answer(body, &ans[1], "{\"status\":\"201\"}", 0);
	ck_assert_int_eq(out[1], SINK_ES_BULK_RETRY);
	check_answer(body, &ans[2], "{}", 0);
	ck_assert_int_eq(out[2], SINK_ES_BULK_RETRY);
	check_answer(body, &ans[3], "{\"error\":{\"status\":201,\"type\":"
	    "\"t\"},\"status\":400}", 400);
	ck_assert_int_eq(out[3], SINK_ES_BULK_REJECT);
	check_answer(body, &ans[4], "{\"reason\":\"status\",\"status\":200}",
	    200);
	ck_assert_int_eq(out[4], SINK_ES_BULK_OK);
	ck_assert_uint_eq(n429, 0);
}
END_TEST

START_TEST(answers_not_bulk)
{
	static const char *const bad[] = {
		"",
		"   ",
		"<html><body>502 Bad Gateway</body></html>",
		"[]",
		"[{\"index\":{\"status\":201}}]",
		"{\"took\":1,\"errors\":true,\"items\":{}}",
		/* cut short, at various places */
		"{",
		"{\"took\":1,\"errors\":true,\"items\":[",
		"{\"took\":1,\"errors\":true,\"items\":[{\"index\":"
		    "{\"status\":201}}",
		"{\"took\":1,\"errors\":true,\"items\":[{\"index\":"
		    "{\"status\":201}}]",
		"{\"took\":1,\"errors\":true,\"items\":[{\"index\":"
		    "{\"status\":201,\"error\":{\"reason\":\"cut \\\"}}]}",
		"{\"items\":[{\"index\":{\"status\":201}},",
		"{\"items\":[{\"index\":{\"status\":201}}],\"took\":",
		"{\"items\":[{\"index\":{\"status\":201}}],\"took\":1",
		"{\"took\":1,\"errors\":tr",
	};
	enum sink_es_bulk_item out[2];
	struct sink_es_bulk_answer ans[2];
	size_t i, n429;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n429 = 99;
		ck_assert_msg(sink_es_bulk_answers(bad[i], strlen(bad[i]), 2,
		    out, &n429, ans) == -1, "case %zu accepted: %s", i, bad[i]);
	}
	/* A prefix of a good response is never taken for a whole one. */
	{
		const char *body = "{\"took\":30,\"errors\":true,\"items\":["
		    "{\"create\":" A_CREATED "},{\"create\":" A_CONFLICT "}]}";
		size_t len = strlen(body), cut;

		for (cut = 0; cut < len; cut++)
			ck_assert_msg(sink_es_bulk_answers(body, cut, 2, out,
			    &n429, ans) == -1, "cut at %zu accepted", cut);
		ck_assert_int_eq(sink_es_bulk_answers(body, len, 2, out, &n429,
		    ans), 0);
	}
}
END_TEST

/* --- the request: sizes, parameters, target --------------------------- */

static void
ack_ignore(void *arg, uint64_t token, enum record_fate fate,
    enum reason reason, const struct record_answer *ans)
{
	(void)arg;
	(void)token;
	(void)fate;
	(void)reason;
	(void)ans;
}

/* The size counted for a record is what it adds to the body. */
START_TEST(request_sizes)
{
	struct sink_es_bulk_index *ix = sink_es_bulk_index_new("logs", 0);
	struct record *recs[2];
	char *body;

	recs[0] = rec_json("{\"a\":1}", "{\"index\":{\"_index\":\"i\"}}");
	recs[1] = rec_json("{\"b\":22}", NULL);
	/* An action line of its own: exactly its bytes. */
	body = body_of(ix, recs, 1, T_NOW);
	ck_assert_uint_eq(sink_es_bulk_size(recs[0]), strlen(body));
	free(body);
	/* One to be built: the source, two newlines and 64 for the action. */
	ck_assert_uint_eq(sink_es_bulk_size(recs[1]), 8 + 2 + 64);
	body = body_of(ix, recs + 1, 1, T_NOW);
	ck_assert_str_eq(body, "{\"index\":{\"_index\":\"logs\"}}\n"
	    "{\"b\":22}\n");
	free(body);
	free_recs(recs, 2);
	sink_es_bulk_index_free(ix);
}
END_TEST

START_TEST(request_params)
{
	static const struct record_ack answer = { ack_ignore, NULL,
	    RECORD_ACK_ANSWER };
	static const struct record_ack resends = { ack_ignore, NULL,
	    RECORD_ACK_RESENDS };
	struct record *recs[4];
	char *t;

	recs[0] = rec_json("{}", NULL);
	recs[1] = rec_json("{}", NULL);
	recs[2] = record_set_params(rec_json("{}", NULL), "refresh=true", 12);
	recs[3] = record_set_params(rec_json("{}", NULL), "refresh=wait_for",
	    16);
	ck_assert_ptr_nonnull(recs[2]);
	ck_assert_ptr_nonnull(recs[3]);
	/* Requests carry one set of parameters: none, or the same bytes. */
	ck_assert_int_eq(sink_es_bulk_same_params(recs[0], recs[1]), 1);
	ck_assert_int_eq(sink_es_bulk_same_params(recs[0], recs[2]), 0);
	ck_assert_int_eq(sink_es_bulk_same_params(recs[2], recs[3]), 0);
	ck_assert_int_eq(sink_es_bulk_same_params(recs[2], recs[2]), 1);

	/* Whole answers only when a sender waits for them. */
	ck_assert_int_eq(sink_es_bulk_answers_wanted(recs, 4), 0);
	recs[1]->ack = &resends;
	ck_assert_int_eq(sink_es_bulk_answers_wanted(recs, 4), 0);
	recs[3]->ack = &answer;
	ck_assert_int_eq(sink_es_bulk_answers_wanted(recs, 4), 1);
	ck_assert_int_eq(sink_es_bulk_answers_wanted(recs, 3), 0);
	recs[1]->ack = NULL;
	recs[3]->ack = NULL;

	t = sink_es_bulk_target("", 0, NULL);
	ck_assert_str_eq(t, "/_bulk?filter_path=errors,items.*.status,"
	    "items.*.error.type");
	free(t);
	t = sink_es_bulk_target("/es", 0, recs[2]->params);
	ck_assert_str_eq(t, "/es/_bulk?filter_path=errors,items.*.status,"
	    "items.*.error.type&refresh=true");
	free(t);
	t = sink_es_bulk_target("/es", 1, NULL);
	ck_assert_str_eq(t, "/es/_bulk");
	free(t);
	t = sink_es_bulk_target("", 1, recs[3]->params);
	ck_assert_str_eq(t, "/_bulk?refresh=wait_for");
	free(t);
	free_recs(recs, 4);
}
END_TEST

/* The retry pause: exponential, capped, jittered, Retry-After a floor. */
START_TEST(backoff_schedule)
{
	const uint64_t ms = 1000000;

	ck_assert_uint_eq(sink_es_bulk_backoff(1, 0.5, 0), 100 * ms);
	ck_assert_uint_eq(sink_es_bulk_backoff(2, 0.5, 0), 200 * ms);
	ck_assert_uint_eq(sink_es_bulk_backoff(4, 0.5, 0), 800 * ms);
	/* 100 ms x 2^9 = 51.2 s: capped at 30 s. */
	ck_assert_uint_eq(sink_es_bulk_backoff(10, 0.5, 0), 30000 * ms);
	ck_assert_uint_eq(sink_es_bulk_backoff(60000, 0.5, 0), 30000 * ms);
	/* Jitter: 0.8 to 1.2. */
	ck_assert_uint_eq(sink_es_bulk_backoff(1, 0.0, 0), 80 * ms);
	ck_assert_uint_le(sink_es_bulk_backoff(1, 0.999999, 0), 120 * ms);
	ck_assert_uint_gt(sink_es_bulk_backoff(1, 0.999999, 0), 119 * ms);
	/* Retry-After is a floor, honoured up to 300 s. */
	ck_assert_uint_eq(sink_es_bulk_backoff(1, 0.5, 2), 2000 * ms);
	ck_assert_uint_eq(sink_es_bulk_backoff(10, 0.5, 2), 30000 * ms);
	ck_assert_uint_eq(sink_es_bulk_backoff(1, 0.5, 100000), 300000 * ms);
	ck_assert_uint_eq(sink_es_bulk_backoff(1, 0.5, -1), 100 * ms);
}
END_TEST

static Suite *
sink_es_bulk_suite(void)
{
	Suite *s = suite_create("sink_es_bulk");
	TCase *tc = tcase_create("sink_es_bulk");

	tcase_add_test(tc, timestamp_forms);
	tcase_add_test(tc, body_index_from_timestamp);
	tcase_add_test(tc, body_keeps_bulk_actions);
	tcase_add_test(tc, body_create_fixed_and_hourly);
	tcase_add_test(tc, body_invalid_and_unparsed);
	tcase_add_test(tc, body_raw_timestamp_top_level);
	tcase_add_test(tc, body_escapes_index);
	tcase_add_test(tc, response_items);
	tcase_add_test(tc, response_not_bulk);
	tcase_add_test(tc, answers_full_response);
	tcase_add_test(tc, answers_pretty_printed);
	tcase_add_test(tc, answers_items_first);
	tcase_add_test(tc, answers_fewer_items);
	tcase_add_test(tc, answers_more_items);
	tcase_add_test(tc, answers_without_status);
	tcase_add_test(tc, answers_not_bulk);
	tcase_add_test(tc, request_sizes);
	tcase_add_test(tc, request_params);
	tcase_add_test(tc, backoff_schedule);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(sink_es_bulk_suite());
}
