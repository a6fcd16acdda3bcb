/*
 * Unit tests for url: the sink URL parser, held to libevent's
 * evhttp_uri_parse() (which the Elasticsearch sink used before), the
 * kafka:// parser, the broker list and the redaction for logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/http.h>

#include "url.h"
#include "check_common.h"

/*
 * What the Elasticsearch sink made of s with evhttp_uri_parse(): -1 when
 * it refused it, else 0 and the parts in *u.
 */
static int
evhttp_view(const char *s, struct url *u)
{
	struct evhttp_uri *uri;
	const char *scheme, *host, *path, *ui;
	char *dec;
	size_t n;
	int port, rc = -1;

	memset(u, 0, sizeof(*u));
	if ((uri = evhttp_uri_parse(s)) == NULL)
		return -1;
	scheme = evhttp_uri_get_scheme(uri);
	host = evhttp_uri_get_host(uri);
	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    evhttp_uri_get_query(uri) != NULL ||
	    evhttp_uri_get_fragment(uri) != NULL ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		goto done;
	u->tls = strcmp(scheme, "https") == 0;
	port = evhttp_uri_get_port(uri);
	u->port = port > 0 ? port : u->tls ? 443 : 80;
	/* url keeps an IPv6 address without its brackets. */
	n = strlen(host);
	if (host[0] == '[')
		snprintf(u->host, sizeof(u->host), "%.*s", (int)n - 2,
		    host + 1);
	else
		snprintf(u->host, sizeof(u->host), "%s", host);
	path = evhttp_uri_get_path(uri);
	n = path != NULL ? strlen(path) : 0;
	while (n > 0 && path[n - 1] == '/')
		n--;
	snprintf(u->prefix, sizeof(u->prefix), "%.*s", (int)n, path);
	if ((ui = evhttp_uri_get_userinfo(uri)) != NULL) {
		dec = evhttp_uridecode(ui, 0, NULL);
		snprintf(u->userinfo, sizeof(u->userinfo), "%s", dec);
		free(dec);
	}
	rc = 0;
done:
	evhttp_uri_free(uri);
	return rc;
}

static const char *const urls[] = {
	"http://127.0.0.1:9200",
	"http://127.0.0.1:9200/",
	"https://es.example.com",
	"http://es.example.com:80/prefix",
	"http://es.example.com:80/prefix///",
	"http://h/a/b/c/",
	"http://h/a%20b/",
	"http://h/a%2",
	"http://h/a%zz",
	"http://h/a b",
	"http://h/\xc3\xa9",
	"http://h/~user/x-y_z.;=,!$&'()*+:@",
	"http://h:0",
	"http://h:",
	"http://h:00080/",
	"http://h:65535",
	"http://h:65536",
	"http://h:99999999999",
	"http://h:-1",
	"http://h:+80",
	"http://h: 80",
	"http://h:1:2",
	"http://h:80x",
	"http://:80",
	"http://",
	"http:///x",
	"http://@h",
	"http://user:pass@h:9200",
	"http://user:p%40ss@h:9200/x",
	"http://user:p%2@h",
	"http://us er@h",
	"http://user:p@ss@h",
	"http://a!$&'()*+,;=:b@h",
	"http://h?",
	"http://h?x=1",
	"http://h/p?x",
	"http://h#",
	"http://h/p#f",
	"http://[::1]:9200/p",
	"http://[::1]",
	"http://[::1",
	"http://[nothex]:80",
	"http://[]:80",
	"http://::1",
	"http://h%41st:1",
	"http://h_st.x-y~z:1",
	"http://h,st;=!:1",
	"http://h\xc3\xa9",
	"http://h st",
	"http://h\\x",
	"https://u@[2001:db8::1]:443/x/",
	"ftp://h",
	"HTTP://h",
	"http:/h",
};

START_TEST(parse_as_evhttp)
{
	const char *s = urls[_i];
	struct url got, want;
	char err[512];
	int rc, wrc;

	wrc = evhttp_view(s, &want);
	err[0] = '\0';
	rc = url_parse(s, &got, err, sizeof(err));
	ck_assert_msg(rc == wrc, "%s: url_parse %d, evhttp %d (%s)", s, rc,
	    wrc, err);
	if (rc == -1) {
		ck_assert_msg(err[0] != '\0', "%s: no message", s);
		return;
	}
	ck_assert_int_eq(got.tls, want.tls);
	ck_assert_str_eq(got.host, want.host);
	ck_assert_int_eq(got.port, want.port);
	ck_assert_str_eq(got.prefix, want.prefix);
	ck_assert_str_eq(got.userinfo, want.userinfo);
}
END_TEST

START_TEST(parse_parts)
{
	struct url u;
	char err[256];

	ck_assert_int_eq(url_parse("https://u%3Ax:p%40@[::1]:9201/es/", &u,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(u.tls, 1);
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.port, 9201);
	ck_assert_str_eq(u.prefix, "/es");
	ck_assert_str_eq(u.userinfo, "u:x:p@");
	ck_assert_int_eq(url_parse("http://h", &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.port, 80);
	ck_assert_int_eq(url_parse("https://h", &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.port, 443);
	ck_assert_int_eq(url_parse("http://h/?q", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no query or fragment"));
	ck_assert_int_eq(url_parse("kafka://h/t", &u, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "scheme must be http or https"));
}
END_TEST

START_TEST(kafka_url)
{
	char *brokers, *topic, err[256];

	ck_assert_int_eq(url_kafka("kafka://a:1,b:2/logs-{class}", &brokers,
	    &topic, err, sizeof(err)), 0);
	ck_assert_str_eq(brokers, "a:1,b:2");
	ck_assert_str_eq(topic, "logs-{class}");
	free(brokers);
	free(topic);
	ck_assert_int_eq(url_kafka("kafka://a:1/x/y", &brokers, &topic, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(brokers, "a:1");
	ck_assert_str_eq(topic, "x/y");
	free(brokers);
	free(topic);
	ck_assert_int_eq(url_kafka("kafka://a:1", &brokers, &topic, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(brokers);
	ck_assert_ptr_null(topic);
	ck_assert_ptr_nonnull(strstr(err, "kafka://host:port"));
	ck_assert_int_eq(url_kafka("kafka:///t", &brokers, &topic, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(url_kafka("kafka://a:1/", &brokers, &topic, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(url_kafka("http://a:1/t", &brokers, &topic, err,
	    sizeof(err)), -1);
}
END_TEST

START_TEST(broker_list)
{
	const char *list = "a:1,,nohost,[::1]:9092,b.example:29092";
	char host[8], port[8];

	ck_assert_int_eq(url_broker_next(&list, host, sizeof(host), port,
	    sizeof(port)), 1);
	ck_assert_str_eq(host, "a");
	ck_assert_str_eq(port, "1");
	ck_assert_int_eq(url_broker_next(&list, host, sizeof(host), port,
	    sizeof(port)), 1);
	ck_assert_str_eq(host, "[::1]");
	ck_assert_str_eq(port, "9092");
	ck_assert_int_eq(url_broker_next(&list, host, sizeof(host), port,
	    sizeof(port)), 1);
	ck_assert_str_eq(host, "b.examp");	/* cut to its size */
	ck_assert_str_eq(port, "29092");
	ck_assert_int_eq(url_broker_next(&list, host, sizeof(host), port,
	    sizeof(port)), 0);
	ck_assert_int_eq(url_broker_next(&list, host, sizeof(host), port,
	    sizeof(port)), 0);
}
END_TEST

START_TEST(redact)
{
	char buf[128];
	const char *s;

	s = "https://elastic:secret@h:9200/x";
	ck_assert_str_eq(url_redact(s, buf, sizeof(buf)),
	    "https://elastic:***@h:9200/x");
	s = "https://elastic@h:9200";
	ck_assert_ptr_eq(url_redact(s, buf, sizeof(buf)), s);
	s = "http://h:9200/a@b:c";
	ck_assert_ptr_eq(url_redact(s, buf, sizeof(buf)), s);
	s = "file:/tmp/x";
	ck_assert_ptr_eq(url_redact(s, buf, sizeof(buf)), s);
}
END_TEST

static Suite *
url_suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("url");

	tcase_add_loop_test(tc, parse_as_evhttp, 0,
	    (int)(sizeof(urls) / sizeof(urls[0])));
	tcase_add_test(tc, parse_parts);
	tcase_add_test(tc, kafka_url);
	tcase_add_test(tc, broker_list);
	tcase_add_test(tc, redact);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(url_suite());
}
