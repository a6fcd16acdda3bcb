/*
 * Unit tests for the configuration file (SPEC §2): defaults, every
 * section, and errors as "FILE:LINE:COL: message" with FILE as given.
 *
 * The files live in $SPILLWAY_TESTDATA/config (default tests/data).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "check_common.h"

static char path[1024];

static const char *
data(const char *name)
{
	snprintf(path, sizeof(path), "%s/config/%s", unit_testdata(), name);
	return path;
}

static struct config *
load_ok(const char *name)
{
	struct config *cf;
	char err[1024] = "";

	cf = config_load(data(name), err, sizeof(err));
	ck_assert_msg(cf != NULL, "%s: %s", name, err);
	return cf;
}

/* The file must be refused with exactly "PATH:want". */
static void
load_err(const char *name, const char *want)
{
	struct config *cf;
	char err[1024] = "", exp[1200];

	cf = config_load(data(name), err, sizeof(err));
	snprintf(exp, sizeof(exp), "%s%s", path, want);
	if (cf != NULL)
		config_free(cf);
	ck_assert_msg(cf == NULL, "%s: loaded, want error %s", name, exp);
	ck_assert_str_eq(err, exp);
}

static void
assert_defaults(const struct config *cf)
{
	ck_assert_str_eq(cf->listen_tcp, "127.0.0.1:5170");
	ck_assert_str_eq(cf->listen_http, "127.0.0.1:9280");
	ck_assert_str_eq(cf->listen_admin, "127.0.0.1:9281");
	ck_assert_ptr_null(cf->rules_path);
	ck_assert_str_eq(cf->sink_url, "stdout");
	ck_assert_str_eq(cf->sink_index, "logs-%Y.%m.%d");
	ck_assert_ptr_null(cf->sink_api_key);
	ck_assert_ptr_null(cf->sink_key);
	ck_assert_str_eq(cf->sink_action, "index");
	ck_assert_ptr_null(cf->sink_ca_file);
	ck_assert_int_eq(cf->sink_tls_verify, 1);
	ck_assert_ptr_null(cf->sink_kafka);
	ck_assert_ptr_null(cf->fleet_kafka);
	ck_assert_int_eq(cf->batch_events, 1000);
	ck_assert_int_eq(cf->batch_bytes, 5242880);
	ck_assert_int_eq(cf->flush_ms, 200);
	ck_assert_int_eq(cf->concurrency, 4);
	ck_assert_int_eq(cf->timeout_ms, 30000);
	ck_assert_int_eq(cf->max_retries, 3);
	ck_assert_ptr_null(cf->divert_url);
	ck_assert_int_eq(cf->queue_max_events, 200000);
	ck_assert_int_eq(cf->queue_max_bytes, 268435456);
	ck_assert_int_eq(cf->control_interval_ms, 250);
	ck_assert_int_eq(cf->target_latency_ms, 1000);
	ck_assert_double_eq(cf->control_decrease, 0.7);
	ck_assert_double_eq(cf->control_increase, 0.05);
	ck_assert_int_eq(cf->max_event_bytes, 1048576);
	ck_assert_int_eq(cf->max_body_bytes, 104857600);
	ck_assert_int_eq(cf->max_connections, 10000);
	ck_assert_int_eq(cf->idle_timeout_ms, 300000);
	ck_assert_ptr_null(cf->admin_token);
	ck_assert_int_eq(cf->shed_reject, 0);
	ck_assert_int_eq(cf->workers, 1);
	ck_assert_int_eq(cf->shutdown_timeout_ms, 10000);
}

START_TEST(defaults_built_in)
{
	struct config *cf = config_default();

	ck_assert_ptr_nonnull(cf);
	assert_defaults(cf);
	config_free(cf);
	config_free(NULL);
}
END_TEST

START_TEST(defaults_from_empty_file)
{
	struct config *cf = load_ok("empty.json");

	assert_defaults(cf);
	config_free(cf);
}
END_TEST

/* SPEC §2 and docs/operations.md: sink.compression defaults to gzip. */
START_TEST(default_compression_is_gzip)
{
	struct config *cf = load_ok("empty.json");

	ck_assert_ptr_nonnull(cf->sink_compression);
	ck_assert_str_eq(cf->sink_compression, "gzip");
	config_free(cf);
}
END_TEST

START_TEST(every_section)
{
	struct config *cf = load_ok("full.json");

	ck_assert_str_eq(cf->listen_tcp, "0.0.0.0:6000");
	ck_assert_str_eq(cf->listen_http, "[::1]:6001");
	ck_assert_str_eq(cf->listen_admin, "127.0.0.1:0");
	ck_assert_str_eq(cf->rules_path, "/etc/spillway/rules.json");
	ck_assert_str_eq(cf->sink_url, "http://es:9200");
	ck_assert_str_eq(cf->sink_index, "app-%Y");
	ck_assert_str_eq(cf->sink_api_key, "k3y");
	ck_assert_str_eq(cf->sink_key, "trace.id");
	ck_assert_str_eq(cf->sink_action, "create");
	ck_assert_str_eq(cf->sink_compression, "gzip");
	ck_assert_str_eq(cf->sink_ca_file, "/etc/ssl/ca.pem");
	ck_assert_int_eq(cf->sink_tls_verify, 0);
	ck_assert_str_eq(cf->sink_kafka, "{\"acks\":\"all\",\"linger.ms\":5}");
	ck_assert_int_eq(cf->batch_events, 500);
	ck_assert_int_eq(cf->batch_bytes, 1048576);
	ck_assert_int_eq(cf->flush_ms, 0);
	ck_assert_int_eq(cf->concurrency, 8);
	ck_assert_int_eq(cf->timeout_ms, 5000);
	ck_assert_int_eq(cf->max_retries, 0);
	ck_assert_str_eq(cf->divert_url, "file:/var/lib/spillway/shed.ndjson");
	ck_assert_int_eq(cf->queue_max_events, 1000);
	ck_assert_int_eq(cf->queue_max_bytes, 65536);
	ck_assert_int_eq(cf->control_interval_ms, 100);
	ck_assert_int_eq(cf->target_latency_ms, 500);
	ck_assert_double_eq(cf->control_decrease, 0.5);
	ck_assert_double_eq(cf->control_increase, 1);
	ck_assert_int_eq(cf->max_event_bytes, 4096);
	ck_assert_int_eq(cf->max_body_bytes, 1000000);
	ck_assert_int_eq(cf->max_connections, 50);
	ck_assert_int_eq(cf->idle_timeout_ms, 0);
	ck_assert_str_eq(cf->admin_token, "s3cret");
	ck_assert_int_eq(cf->shed_reject, 1);
	ck_assert_int_eq(cf->workers, 2);
	ck_assert_int_eq(cf->shutdown_timeout_ms, 2500);
	config_free(cf);
}
END_TEST

START_TEST(null_disables_listener)
{
	struct config *cf = load_ok("null_listeners.json");

	ck_assert_str_eq(cf->listen_tcp, "127.0.0.1:5170");
	ck_assert_ptr_null(cf->listen_http);
	ck_assert_ptr_null(cf->listen_admin);
	ck_assert_ptr_null(cf->admin_token);
	ck_assert_int_eq(cf->shed_reject, 0);
	config_free(cf);
}
END_TEST

START_TEST(shed_response)
{
	struct config *cf = load_ok("shed_reject.json");

	ck_assert_int_eq(cf->shed_reject, 1);
	config_free(cf);
	load_err("shed_invalid.json",
	    ":1:19: \"shed_response\" must be \"accept\" or \"reject\"");
	load_err("shed_null.json",
	    ":1:19: \"shed_response\" must be \"accept\" or \"reject\"");
}
END_TEST

START_TEST(doubles_accept_integers)
{
	struct config *cf = load_ok("decrease_integer.json");

	ck_assert_double_eq(cf->control_decrease, 1);
	ck_assert_double_eq(cf->control_increase, 10);
	config_free(cf);
}
END_TEST

/* config.h: sink_compression is NULL or "gzip"; "none" turns it off. */
START_TEST(compression_none_is_null)
{
	struct config *cf = load_ok("compression_none.json");

	ck_assert_ptr_null(cf->sink_compression);
	config_free(cf);
}
END_TEST

START_TEST(unknown_keys)
{
	load_err("unknown_top.json", ":4:5: unknown key \"bogus\"");
	load_err("unknown_section.json",
	    ":4:7: unknown key \"batchevents\"");
	/* The position is that of the second "index", under divert. */
	load_err("unknown_second_section.json",
	    ":2:30: unknown key \"index\"");
	load_err("unknown_in_listen.json", ":1:35: unknown key \"udp\"");
	/* Columns count characters, not bytes. */
	load_err("unknown_after_utf8.json", ":1:24: unknown key \"bogus\"");
}
END_TEST

START_TEST(wrong_types)
{
	load_err("wrong_type_string.json", ":3:12: \"tcp\" must be a string");
	load_err("wrong_type_section.json", ":2:12: \"queue\" must be an object");
	load_err("wrong_type_bool.json",
	    ":1:27: \"tls_verify\" must be true or false");
	load_err("wrong_type_object.json", ":1:22: \"kafka\" must be an object");
	load_err("wrong_type_real_for_int.json",
	    ":2:28: \"max_events\" must be an integer from 1 to 1000000000");
	load_err("range_string_for_double.json",
	    ":1:26: \"increase\" must be a number above 0 and at most 10");
	/* A key named like a key inside an earlier string value. */
	load_err("value_in_string.json",
	    ":1:46: \"workers\" must be an integer from 1 to 256");
	/* An escaped key is the key it decodes to. */
	load_err("escaped_key.json", ":1:23: \"url\" must be a string");
}
END_TEST

START_TEST(out_of_range)
{
	load_err("range_batch_events.json",
	    ":3:21: \"batch_events\" must be an integer from 1 to 10000000");
	load_err("range_negative.json",
	    ":1:32: \"idle_timeout_ms\" must be an integer from 0 to "
	    "1000000000");
	load_err("range_workers.json",
	    ":1:13: \"workers\" must be an integer from 1 to 256");
	load_err("range_decrease_zero.json",
	    ":1:26: \"decrease\" must be a number above 0 and at most 1");
	load_err("range_decrease_high.json",
	    ":1:26: \"decrease\" must be a number above 0 and at most 1");
}
END_TEST

START_TEST(invalid_enums)
{
	load_err("action_invalid.json",
	    ":2:40: \"action\" must be \"index\" or \"create\"");
	load_err("compression_invalid.json",
	    ":2:28: \"compression\" must be \"gzip\" or \"none\"");
}
END_TEST

START_TEST(syntax_errors)
{
	load_err("syntax_trailing_comma.json",
	    ":4:3: string or '}' expected near '}'");
	load_err("syntax_truncated.json", ":2:0: '}' expected near end of file");
	load_err("not_object.json", ":1:1: the configuration must be a JSON "
	    "object");
}
END_TEST

/*
 * A duplicated key is refused outright, at the second occurrence
 * (line 2), never silently resolved to one of the values.
 */
START_TEST(duplicate_key_position)
{
	struct config *cf;
	char err[1024] = "", exp[1200];

	cf = config_load(data("duplicate_key.json"), err, sizeof(err));
	ck_assert_ptr_null(cf);
	snprintf(exp, sizeof(exp), "%s:2:", path);
	ck_assert_msg(strncmp(err, exp, strlen(exp)) == 0 &&
	    strstr(err, "duplicate object key") != NULL,
	    "got \"%s\", want \"%s...duplicate object key...\"", err, exp);
}
END_TEST

START_TEST(missing_file)
{
	load_err("does-not-exist.json", ": No such file or directory");
}
END_TEST

START_TEST(set_str)
{
	char *s = NULL;

	ck_assert_int_eq(config_set_str(&s, "a"), 0);
	ck_assert_str_eq(s, "a");
	ck_assert_int_eq(config_set_str(&s, "bb"), 0);
	ck_assert_str_eq(s, "bb");
	ck_assert_int_eq(config_set_str(&s, NULL), 0);
	ck_assert_ptr_null(s);
}
END_TEST

/*
 * Write text to a fresh temporary file, named into path[] (so errors
 * can be checked as "path:LINE:COL: ...").  The caller unlinks it.
 */
static const char *
tmp_config(const char *text)
{
	const char *dir = getenv("TMPDIR");
	size_t len = strlen(text);
	int fd;

	snprintf(path, sizeof(path), "%s/check_config.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	return path;
}

static struct config *
text_ok(const char *text)
{
	struct config *cf;
	char err[1024] = "";

	cf = config_load(tmp_config(text), err, sizeof(err));
	unlink(path);
	ck_assert_msg(cf != NULL, "%s: %s", text, err);
	return cf;
}

/* text must be refused with exactly "PATH:want". */
static void
text_err(const char *text, const char *want)
{
	struct config *cf;
	char err[1024] = "", exp[1200];

	cf = config_load(tmp_config(text), err, sizeof(err));
	unlink(path);
	snprintf(exp, sizeof(exp), "%s%s", path, want);
	if (cf != NULL)
		config_free(cf);
	ck_assert_msg(cf == NULL, "%s: loaded, want error %s", text, exp);
	ck_assert_str_eq(err, exp);
}

START_TEST(ack_defaults)
{
	struct config *cf = config_default();

	ck_assert_ptr_nonnull(cf);
	ck_assert_str_eq(cf->ack, "sink");
	ck_assert_int_eq(cf->ack_sink, 1);
	ck_assert_int_eq(cf->ack_timeout_ms, 30000);
	config_free(cf);
	cf = load_ok("empty.json");
	ck_assert_str_eq(cf->ack, "sink");
	ck_assert_int_eq(cf->ack_sink, 1);
	ck_assert_int_eq(cf->ack_timeout_ms, 30000);
	config_free(cf);
	/* Other keys leave them alone. */
	cf = text_ok("{\"workers\": 2, \"shed_response\": \"reject\"}");
	ck_assert_int_eq(cf->ack_sink, 1);
	ck_assert_int_eq(cf->ack_timeout_ms, 30000);
	config_free(cf);
}
END_TEST

START_TEST(ack_values)
{
	struct config *cf;

	cf = text_ok("{\"ack\": \"admit\"}");
	ck_assert_str_eq(cf->ack, "admit");
	ck_assert_int_eq(cf->ack_sink, 0);
	ck_assert_int_eq(cf->ack_timeout_ms, 30000);
	config_free(cf);
	cf = text_ok("{\"ack\": \"sink\", \"ack_timeout_ms\": 2500}");
	ck_assert_str_eq(cf->ack, "sink");
	ck_assert_int_eq(cf->ack_sink, 1);
	ck_assert_int_eq(cf->ack_timeout_ms, 2500);
	config_free(cf);
	cf = text_ok("{\"ack_timeout_ms\": 1, \"ack\": \"admit\"}");
	ck_assert_int_eq(cf->ack_sink, 0);
	ck_assert_int_eq(cf->ack_timeout_ms, 1);
	config_free(cf);
}
END_TEST

START_TEST(ack_invalid)
{
	text_err("{\"ack\": \"bogus\"}",
	    ":1:9: \"ack\" must be \"sink\" or \"admit\"");
	text_err("{\n  \"workers\": 1,\n  \"ack\": \"Sink\"\n}\n",
	    ":3:10: \"ack\" must be \"sink\" or \"admit\"");
	text_err("{\"ack\": \"\"}",
	    ":1:9: \"ack\" must be \"sink\" or \"admit\"");
	text_err("{\"ack\": null}",
	    ":1:9: \"ack\" must be \"sink\" or \"admit\"");
	text_err("{\"ack\": true}", ":1:9: \"ack\" must be a string");
	/* A section named "ack" is not the key. */
	text_err("{\"sink\": {\"ack\": \"admit\"}}",
	    ":1:11: unknown key \"ack\"");
}
END_TEST

START_TEST(ack_timeout_invalid)
{
	text_err("{\"ack_timeout_ms\": 0}",
	    ":1:20: \"ack_timeout_ms\" must be an integer from 1 to "
	    "100000000");
	text_err("{\"ack_timeout_ms\": -5}",
	    ":1:20: \"ack_timeout_ms\" must be an integer from 1 to "
	    "100000000");
	text_err("{\"ack_timeout_ms\": 1.5}",
	    ":1:20: \"ack_timeout_ms\" must be an integer from 1 to "
	    "100000000");
	text_err("{\n\t\"ack_timeout_ms\": \"5000\"\n}",
	    ":2:20: \"ack_timeout_ms\" must be an integer from 1 to "
	    "100000000");
	text_err("{\"ack_timeout_ms\": 100000001}",
	    ":1:20: \"ack_timeout_ms\" must be an integer from 1 to "
	    "100000000");
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, defaults_built_in);
	tcase_add_test(tc, defaults_from_empty_file);
	tcase_add_test(tc, default_compression_is_gzip);
	tcase_add_test(tc, every_section);
	tcase_add_test(tc, null_disables_listener);
	tcase_add_test(tc, shed_response);
	tcase_add_test(tc, doubles_accept_integers);
	tcase_add_test(tc, compression_none_is_null);
	tcase_add_test(tc, unknown_keys);
	tcase_add_test(tc, wrong_types);
	tcase_add_test(tc, out_of_range);
	tcase_add_test(tc, invalid_enums);
	tcase_add_test(tc, syntax_errors);
	tcase_add_test(tc, duplicate_key_position);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, set_str);
	tcase_add_test(tc, ack_defaults);
	tcase_add_test(tc, ack_values);
	tcase_add_test(tc, ack_invalid);
	tcase_add_test(tc, ack_timeout_invalid);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(config_suite());
}
