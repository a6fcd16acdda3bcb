/*
 * cli_tap: `spillway tap`, a live view of what a running spillway
 * forwards, sheds and rejects, over its admin listener's GET /tap.
 *
 *	spillway tap [--admin HOST:PORT] [--class C] [--outcome O]
 *	    [--limit N] [--json] [--token T]
 *
 * One line per event as it happens, and once a second a line of what
 * the tap saw, sent and skipped (its rate is bounded).  With --json the
 * NDJSON as spillway sends it.  Exit 0 when spillway ends the stream
 * (the limit was reached), 1 on an error, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define TAP_SHOW_MAX	160	/* bytes of an event shown without --json */

struct tap_opts {
	const char	*admin;
	const char	*class_name;
	const char	*outcome;
	const char	*token;
	long		 limit;
	int		 json;
};

static void
tap_usage(FILE *fp)
{
	fprintf(fp, "usage: spillway tap [--admin HOST:PORT] [--class CLASS] "
	    "[--outcome forwarded|shed|rejected]\n"
	    "                    [--limit N] [--json] [--token TOKEN]\n");
}

/* s percent-encoded for a query, into out (3 * strlen(s) + 1 bytes). */
static void
tap_qescape(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			*out++ = (char)c;
		else {
			*out++ = '%';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		}
	}
	*out = '\0';
}

static int
tap_connect(const char *admin)
{
	struct addrinfo hints, *res, *ai;
	char host[256], *port;
	int fd = -1, rc;

	snprintf(host, sizeof(host), "%s", admin);
	if ((port = strrchr(host, ':')) == NULL) {
		fprintf(stderr, "spillway tap: --admin %s: want HOST:PORT\n",
		    admin);
		return -1;
	}
	*port++ = '\0';
	if (host[0] == '[' && port[-2] == ']') {
		port[-2] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, "spillway tap: %s: %s\n", admin,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			close(fd);
			fd = -1;
		}
	}
	if (fd == -1)
		fprintf(stderr, "spillway tap: %s: %s\n", admin,
		    strerror(errno));
	freeaddrinfo(res);
	return fd;
}

/* One line of the stream, shown. */
static void
tap_show(const struct tap_opts *o, const char *line, size_t len)
{
	json_t *j, *t, *ev;
	const char *reason;
	char *text;

	if (o->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		return;
	}
	if ((j = json_loadb(line, len, 0, NULL)) == NULL)
		return;
	if ((t = json_object_get(j, "tap")) != NULL &&
	    json_object_get(t, "end") != NULL)
		printf("-- the tap ended: %s\n",
		    json_string_value(json_object_get(t, "end")));
	else if (t != NULL)
		printf("-- in the last second: %lld seen, %lld shown, %lld "
		    "skipped\n",
		    (long long)json_integer_value(json_object_get(t, "seen")),
		    (long long)json_integer_value(json_object_get(t, "sent")),
		    (long long)json_integer_value(json_object_get(t,
		    "skipped")));
	else {
		ev = json_object_get(j, "event");
		text = json_is_string(ev) ? strdup(json_string_value(ev)) :
		    json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY |
		    JSON_PRESERVE_ORDER);
		reason = json_string_value(json_object_get(j, "reason"));
		printf("%s %s%s%s %.*s%s\n",
		    json_string_value(json_object_get(j, "class")),
		    json_string_value(json_object_get(j, "outcome")),
		    reason != NULL ? " " : "", reason != NULL ? reason : "",
		    TAP_SHOW_MAX, text != NULL ? text : "",
		    text != NULL && strlen(text) > TAP_SHOW_MAX ? "..." : "");
		free(text);
	}
	fflush(stdout);
	json_decref(j);
}

/*
 * Read the answer: its head, then the body (chunked or not) line by line.
 * 0 at a clean end, 1 on an error.
 */
static int
tap_read(int fd, const struct tap_opts *o)
{
	char *buf = NULL, *body = NULL, *p, *e, *nl;
	size_t len = 0, cap = 0, blen = 0, bcap = 0, want = 0;
	int head = 1, chunked = 0, status = 0, eof = 0, last = 0;
	unsigned long csize;
	ssize_t n;

	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((p = realloc(buf, cap)) == NULL)
				goto fail;
			buf = p;
		}
		if ((n = read(fd, buf + len, cap - len)) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "spillway tap: read: %s\n",
			    strerror(errno));
			goto fail;
		}
		eof = n == 0;
		len += (size_t)n;
		if (head) {
			if ((e = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
				if (eof)
					goto short_read;
				continue;
			}
			*e = '\0';
			if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
				goto short_read;
			if (status != 200) {
				p = e + 4;
				n = (ssize_t)(len - (size_t)(p - buf));
				if ((nl = memchr(p, '\n', (size_t)n)) != NULL)
					n = nl - p;
				fprintf(stderr, "spillway tap: %s answered %d%s "
				    "%.*s\n", o->admin, status, status == 401 ?
				    " (the admin token is missing or wrong: "
				    "--token)" : ":", (int)n, p);
				goto fail;
			}
			chunked = strcasestr(buf, "\ntransfer-encoding: "
			    "chunked") != NULL;
			head = 0;
			len -= (size_t)(e + 4 - buf);
			memmove(buf, e + 4, len);
		}
		/* Unframe: buf holds what is left of the body's bytes. */
		p = buf;
		for (;;) {
			if (chunked && want == 0) {
				if ((e = memmem(p, len - (size_t)(p - buf),
				    "\r\n", 2)) == NULL)
					break;
				csize = strtoul(p, NULL, 16);
				p = e + 2;
				if (csize == 0) {	/* the last chunk */
					last = 1;
					break;
				}
				want = csize + 2;	/* with its CRLF */
				continue;
			}
			n = (ssize_t)(len - (size_t)(p - buf));
			if (chunked && (size_t)n > want)
				n = (ssize_t)want;
			if (n == 0)
				break;
			if (blen + (size_t)n > bcap) {
				bcap = (blen + (size_t)n) * 2;
				if ((e = realloc(body, bcap)) == NULL)
					goto fail;
				body = e;
			}
			memcpy(body + blen, p, (size_t)n);
			blen += (size_t)n;
			p += n;
			if (chunked) {
				want -= (size_t)n;
				if (want == 0)
					blen -= 2;	/* the chunk's CRLF */
			}
		}
		len -= (size_t)(p - buf);
		memmove(buf, p, len);
		while (blen > 0 && (nl = memchr(body, '\n', blen)) != NULL) {
			tap_show(o, body, (size_t)(nl - body));
			blen -= (size_t)(nl + 1 - body);
			memmove(body, nl + 1, blen);
		}
		if (last) {
			free(buf);
			free(body);
			return 0;
		}
		if (eof) {
			if (chunked)
				goto short_read;
			free(buf);
			free(body);
			return 0;
		}
	}
short_read:
	fprintf(stderr, "spillway tap: %s closed the connection early\n",
	    o->admin);
fail:
	free(buf);
	free(body);
	return 1;
}

int
cli_tap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "class", required_argument, NULL, 'c' },
		{ "outcome", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "token", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct tap_opts o = { "127.0.0.1:9281", NULL, NULL, NULL, 0, 0 };
	char *req, *qc = NULL, *end, sep;
	size_t reqlen;
	int ch, fd, rv, n;

	o.token = getenv("SPILLWAY_ADMIN_TOKEN");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			o.admin = optarg;
			break;
		case 'c':
			o.class_name = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "forwarded") != 0 &&
			    strcmp(optarg, "shed") != 0 &&
			    strcmp(optarg, "rejected") != 0) {
				fprintf(stderr, "spillway tap: --outcome must "
				    "be forwarded, shed or rejected\n");
				return 2;
			}
			o.outcome = optarg;
			break;
		case 'n':
			errno = 0;
			o.limit = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    o.limit < 1) {
				fprintf(stderr, "spillway tap: --limit must be "
				    "a number of events, at least 1\n");
				return 2;
			}
			break;
		case 'j':
			o.json = 1;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'h':
			tap_usage(stdout);
			return 0;
		default:
			tap_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		tap_usage(stderr);
		return 2;
	}
	if (o.class_name != NULL) {
		if ((qc = malloc(3 * strlen(o.class_name) + 1)) == NULL)
			return 1;
		tap_qescape(o.class_name, qc);
	}
	reqlen = 512 + (qc ? strlen(qc) : 0) + (o.token ? strlen(o.token) :
	    0) + strlen(o.admin);
	if ((req = malloc(reqlen)) == NULL) {
		free(qc);
		return 1;
	}
	n = snprintf(req, reqlen, "GET /tap");
	sep = '?';
	if (qc != NULL) {
		n += snprintf(req + n, reqlen - (size_t)n, "%cclass=%s", sep,
		    qc);
		sep = '&';
	}
	if (o.outcome != NULL) {
		n += snprintf(req + n, reqlen - (size_t)n, "%coutcome=%s", sep,
		    o.outcome);
		sep = '&';
	}
	if (o.limit > 0)
		n += snprintf(req + n, reqlen - (size_t)n, "%climit=%ld", sep,
		    o.limit);
	snprintf(req + n, reqlen - (size_t)n, " HTTP/1.1\r\nHost: %s\r\n"
	    "%s%s%sAccept: application/x-ndjson\r\n\r\n", o.admin,
	    o.token ? "Authorization: Bearer " : "", o.token ? o.token : "",
	    o.token ? "\r\n" : "");
	free(qc);
	if ((fd = tap_connect(o.admin)) == -1) {
		free(req);
		return 1;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		fprintf(stderr, "spillway tap: write: %s\n", strerror(errno));
		free(req);
		close(fd);
		return 1;
	}
	free(req);
	rv = tap_read(fd, &o);
	close(fd);
	return rv;
}
