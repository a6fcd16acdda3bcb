/*
 * admin: request routing for the admin listener, and the two ways rules
 * change at run time (reload from the file, PUT).  Both validate first
 * and swap only a complete rule set, so a bad change leaves the running
 * rules untouched.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/buffer.h>

#include <spillway/clock.h>

#include "admin.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "levers.h"
#include "log.h"
#include "metrics.h"
#include "record.h"
#include "rules.h"
#include "shaper.h"
#include "sink.h"

/* The dashboard page: src/dashboard.html, embedded by the build. */
extern const char	dashboard_html[];
extern const size_t	dashboard_html_len;

/* Count a load and log it; `where` names what was read. */
static void
app_counted(struct app *app, int ok, const struct rules_error *err,
    const char *how, const char *where)
{
	char buf[700];

	if (ok) {
		app->reloads_ok++;
		log_info("rules: revision %llu in force (%s)",
		    (unsigned long long)shaper_revision(app->sh), how);
	} else {
		app->reloads_error++;
		log_err("rules: %s refused, revision %llu stays: %s", how,
		    (unsigned long long)shaper_revision(app->sh),
		    rules_error_format(err, where, buf, sizeof(buf)));
	}
}

int
app_reload(struct app *app, struct rules_error *err)
{
	struct ruleset *rs;

	if (app->rules_path == NULL) {
		memset(err, 0, sizeof(*err));
		snprintf(err->msg, sizeof(err->msg), "spillway runs on its "
		    "built-in rules; there is no rules file to reload");
		app_counted(app, 0, err, "reload", "rules");
		return -1;
	}
	if ((rs = rules_load_file(app->rules_path, err)) == NULL) {
		app_counted(app, 0, err, "reload", app->rules_path);
		return -1;
	}
	shaper_swap_rules(app->sh, rs, clock_now_ns());
	app_counted(app, 1, NULL, "reload", app->rules_path);
	return 0;
}

/* Replace path with text by writing a temporary file and renaming it. */
static int
write_atomic(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	struct stat st;
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
	    -1)
		return -1;
	/* The new file keeps the old one's permissions. */
	if (stat(path, &st) == 0)
		(void)fchmod(fd, st.st_mode & 07777);
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

int
app_put_rules(struct app *app, const char *how, const char *text, size_t len,
    struct rules_error *err, int *persisted)
{
	struct ruleset *rs;

	*persisted = 0;
	if ((rs = rules_load_buffer(text, len, err)) == NULL) {
		app_counted(app, 0, err, how, "request body");
		return -1;
	}
	if (app->rules_path != NULL) {
		if (write_atomic(app->rules_path, text, len) == -1) {
			memset(err, 0, sizeof(*err));
			snprintf(err->msg, sizeof(err->msg), "cannot write %s: "
			    "%s", app->rules_path, strerror(errno));
			rules_free(rs);
			app_counted(app, 0, err, how, "request body");
			return -2;
		}
		*persisted = 1;
	}
	shaper_swap_rules(app->sh, rs, clock_now_ns());
	app_counted(app, 1, NULL, how, "request body");
	return 0;
}

void
admin_rules_error(struct http_request *req, int status,
    const struct rules_error *err)
{
	char esc[6 * sizeof(err->msg) + 1];
	size_t n;

	n = record_escape(esc, err->msg, strlen(err->msg));
	esc[n] = '\0';
	http_respond_json(req, status,
	    "{\"error\":\"%s\",\"line\":%d,\"column\":%d}", esc, err->line,
	    err->col);
}

static int
authorized(struct app *app, struct http_request *req)
{
	const char *h = http_header(req, "Authorization");
	const char *tok = app->cf->admin_token;

	size_t i, n, m;
	unsigned char diff;

	if (tok == NULL)
		return 1;
	/* The scheme is case-insensitive (RFC 9110 11.1). */
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	/* Compare in time independent of where the token differs. */
	n = strlen(h);
	m = strlen(tok);
	diff = n != m;
	for (i = 0; i < m; i++)
		diff |= (unsigned char)(tok[i] ^ (i < n ? h[i] : 0));
	return diff == 0;
}

static int
is(const struct http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static void
admin_healthz(struct app *app, struct http_request *req)
{
	struct sink_stats st;
	uint64_t now = clock_now_ns();

	sink_stats(app->sink, &st, clock_now_ns());
	if (!st.up && st.down_since != 0 && now - st.down_since >
	    (uint64_t)app->cf->timeout_ms * NSEC_PER_MSEC) {
		http_respond_json(req, 503, "{\"status\":\"unavailable\",\"reason\":"
		    "\"sink %s unreachable for %llu ms\"}", app->sink->label,
		    (unsigned long long)((now - st.down_since) /
		    NSEC_PER_MSEC));
		return;
	}
	http_respond_json(req, 200, "{\"status\":\"ok\"}");
}

/*
 * GET /: the dashboard page, or the plain-text index for a client that
 * asks for text/plain and not HTML (no q-values weighed); /index.txt is
 * always the index.  The page polls /stats from the same origin with its
 * own inline script and style, which is all its policy allows.
 */
static void
admin_index(struct http_request *req)
{
	static const char idx[] = "spillway admin: / /healthz /metrics "
	    "/stats /stats/history /rules /rules/reload /rules/shadow "
	    "/rules/shadow/promote /overrides /tap\n";
	const char *accept = http_header(req, "Accept");

	if (strcmp(req->path, "/index.txt") == 0 || (accept != NULL &&
	    strstr(accept, "text/plain") != NULL &&
	    strstr(accept, "text/html") == NULL)) {
		http_respond(req, 200, "text/plain; charset=utf-8", idx,
		    sizeof(idx) - 1, "Cache-Control: no-cache\r\n"
		    "Vary: Accept\r\n");
		return;
	}
	http_respond(req, 200, "text/html; charset=utf-8", dashboard_html,
	    dashboard_html_len, "Cache-Control: no-cache\r\n"
	    "Vary: Accept\r\n"
	    "Content-Security-Policy: default-src 'none'; "
	    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	    "img-src data:; connect-src 'self'; base-uri 'none'; "
	    "form-action 'none'; frame-ancestors 'none'\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n");
}

static void
admin_handle(struct http_request *req, void *arg)
{
	struct app *app = arg;
	struct rules_error err;
	struct evbuffer *buf;
	char hdr[64];
	int persisted;

	if (strcmp(req->path, "/healthz") == 0 && (is(req, "GET") ||
	    is(req, "HEAD"))) {
		admin_healthz(app, req);
		return;
	}
	if (strcmp(req->path, "/metrics") == 0 && (is(req, "GET") ||
	    is(req, "HEAD"))) {
		if ((buf = evbuffer_new()) == NULL)
			goto oom;
		metrics_render(app, buf);
		http_respond_buffer(req, 200, "text/plain; version=0.0.4; "
		    "charset=utf-8", buf, NULL);
		return;
	}
	if (strcmp(req->path, "/stats") == 0 && (is(req, "GET") ||
	    is(req, "HEAD"))) {
		if ((buf = evbuffer_new()) == NULL)
			goto oom;
		metrics_stats(app, buf);
		http_respond_buffer(req, 200, "application/json", buf, NULL);
		return;
	}
	if (strcmp(req->path, "/rules") == 0) {
		if (is(req, "GET") || is(req, "HEAD")) {
			const struct ruleset *rs = shaper_rules(app->sh);

			snprintf(hdr, sizeof(hdr), "X-Spillway-Rules-Revision: "
			    "%llu\r\n",
			    (unsigned long long)shaper_revision(app->sh));
			http_respond(req, 200, "application/json",
			    rs->text ? rs->text : "{}",
			    rs->text ? rs->textlen : 2, hdr);
			return;
		}
		if (is(req, "PUT")) {
			if (!authorized(app, req))
				goto unauthorized;
			switch (app_put_rules(app, "PUT /rules",
			    req->body ? req->body : "",
			    req->body_len, &err, &persisted)) {
			case -1:
				admin_rules_error(req, 400, &err);
				return;
			case -2:	/* valid, but the file cannot be written */
				admin_rules_error(req, 500, &err);
				return;
			}
			http_respond_json(req, 200, "{\"revision\":%llu,\"persisted\":"
			    "%s}", (unsigned long long)shaper_revision(app->sh),
			    persisted ? "true" : "false");
			return;
		}
		goto method;
	}
	if (strcmp(req->path, "/rules/reload") == 0) {
		if (!is(req, "POST"))
			goto method;
		if (!authorized(app, req))
			goto unauthorized;
		if (app_reload(app, &err) == -1) {
			if (err.line == 0 && app->rules_path == NULL) {
				http_respond_json(req, 409, "{\"error\":\"no rules "
				    "file: spillway runs on built-in rules\","
				    "\"line\":0,\"column\":0}");
				return;
			}
			admin_rules_error(req, 400, &err);
			return;
		}
		http_respond_json(req, 200, "{\"revision\":%llu}",
		    (unsigned long long)shaper_revision(app->sh));
		return;
	}
	switch (levers_handle(app->levers, req, authorized(app, req))) {
	case LEVERS_NONE:
		break;
	case LEVERS_DONE:
		return;
	case LEVERS_METHOD:
		goto method;
	case LEVERS_UNAUTHORIZED:
		goto unauthorized;
	case LEVERS_NOMEM:
		goto oom;
	}
	if ((strcmp(req->path, "/") == 0 || strcmp(req->path,
	    "/index.txt") == 0) && (is(req, "GET") || is(req, "HEAD"))) {
		admin_index(req);
		return;
	}
	http_respond_json(req, 404, "{\"error\":\"not found\"}");
	return;
method:
	http_respond_json(req, 405, "{\"error\":\"method not allowed\"}");
	return;
unauthorized:
	http_respond(req, 401, "application/json",
	    "{\"error\":\"unauthorized\"}", 24,
	    "WWW-Authenticate: Bearer realm=\"spillway\"\r\n");
	return;
oom:
	http_respond(req, 500, NULL, NULL, 0, NULL);
}

struct http_server *
admin_new(struct app *app, int fd)
{
	struct http_limits lim;
	struct http_server *srv;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = 16384;
	lim.max_body_bytes = 16u << 20;
	lim.max_connections = (size_t)app->cf->admin_max_connections;
	lim.idle_timeout_ms = 60000;
	lim.header_timeout_ms = app->cf->header_timeout_ms;
	/* The operators' way in stays open when ingest uses up descriptors. */
	if ((srv = http_server_new(app->base, fd, &lim, admin_handle, app)) !=
	    NULL)
		http_server_reserve(srv);
	return srv;
}
