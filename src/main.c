/*
 * spillway: command line, start-up, signals and shutdown.  Everything
 * else happens in the modules the event loop drives.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include <spillway/clock.h>

#include "admin.h"
#include "app.h"
#include "levers.h"
#include "cli.h"
#include "config.h"
#include "fleet.h"
#include "fleet_kafka.h"
#include "http.h"
#include "ingest_http.h"
#include "ingest_kafka.h"
#include "ingest_tcp.h"
#include "log.h"
#include "net.h"
#include "rules.h"
#include "shaper.h"
#include "sink.h"
#include "stats.h"
#include "summary.h"
#include "tls.h"
#include "url.h"
#include "worker.h"

#define SPILLWAY_VERSION	"0.1.0"

static struct app	 app;

/* What main alone drives: the listeners, the Kafka source, the workers. */
static struct {
	struct ingest_tcp	*tcp;
	struct ingest_http	*http;
	struct ingest_http	*https;		/* the same over TLS, or NULL */
	struct ingest_kafka	*kafka;		/* consumer-group source */
	struct workers		*workers;	/* more TCP loops, or NULL */
	struct http_server	*admin;
} parts;

#define SUMMARY_SECS		10	/* drop summaries */

static struct event	*tick_ev, *poll_ev, *control_ev, *drain_ev;
static char		 hostname[256];
static uint64_t		 drain_deadline;
static struct fleet	*fleet;
static struct fleet_link *fleet_link;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: spillway [-c CONFIG] [-r RULES] [--sink URL] "
	    "[--listen-tcp ADDR]\n"
	    "                [--listen-http ADDR] [--admin ADDR] "
	    "[--workers N] [--require-sink]\n"
	    "                [--syslog] [-v|-q]\n"
	    "       spillway check [-r RULES | RULES]\n"
	    "       spillway classify [-r RULES] [--each | --explain] "
	    "[FILE...]\n"
	    "       spillway classify --diff OLD NEW [--each] [FILE...]\n"
	    "       spillway tap [--admin ADDR] [--class C] [--outcome O] "
	    "[--limit N] [--json]\n"
	    "       spillway version\n");
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	static unsigned ticks;
	uint64_t now = clock_now_ns();

	(void)arg;
	shaper_tick(app.sh, now);
	levers_tick(app.levers, now, clock_wall_ns());
	if (++ticks % SUMMARY_SECS == 0)
		summary_make(app.sh, hostname, clock_wall_ns(), now);
}

static void
fleet_publish(void *arg, const struct fleet_report *r)
{
	fleet_link_publish(arg, r);
}

/* fleet.url: shed as one with the instances that report there. */
static int
fleet_join(void)
{
	char id[FLEET_ID_MAX + 1], err[512];

	if (app.cf->fleet_url == NULL)
		return 0;
	if (app.cf->fleet_id != NULL)
		snprintf(id, sizeof(id), "%s", app.cf->fleet_id);
	else
		snprintf(id, sizeof(id), "%.*s-%ld", FLEET_ID_MAX - 24,
		    hostname, (long)getpid());
	if ((fleet = fleet_new(id, (uint64_t)app.cf->fleet_stale_ms *
	    NSEC_PER_MSEC)) == NULL ||
	    shaper_set_fleet(app.sh, fleet, fleet_publish, NULL) == -1) {
		log_err("fleet: out of memory");
		return -1;
	}
	if ((fleet_link = fleet_link_new(app.base, app.cf, fleet, err,
	    sizeof(err))) == NULL) {
		log_err("%s", err);
		return -1;
	}
	stats_register(&app.stats, "fleet", fleet_link_report, fleet_link);
	return shaper_set_fleet(app.sh, fleet, fleet_publish, fleet_link);
}

static void
control_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	shaper_control(app.sh, clock_now_ns());
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = clock_now_ns();

	(void)fd;
	(void)what;
	(void)arg;
	sink_poll(app.sink, now);
	if (app.divert != NULL)
		sink_poll(app.divert, now);
}

/* While shutting down: stop once everything is out, or at the deadline. */
static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if ((shaper_idle(app.sh) && workers_idle(parts.workers)) ||
	    clock_now_ns() >= drain_deadline)
		event_base_loopexit(app.base, NULL);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct rules_error err;
	struct timeval tv = { 0, 10000 };

	(void)what;
	(void)arg;
	if (sig == SIGHUP) {
		if (app.rules_path != NULL)
			app_reload(&app, &err);
		sink_reopen(app.sink);
		if (app.divert != NULL)
			sink_reopen(app.divert);
		return;
	}
	if (shaper_draining(app.sh))
		return;
	log_info("%s: stop accepting, flushing the queue (at most %ld ms)",
	    strsignal((int)sig), app.cf->shutdown_timeout_ms);
	shaper_drain(app.sh);
	ingest_tcp_stop(parts.tcp);
	ingest_http_stop(parts.http);
	ingest_http_stop(parts.https);
	ingest_kafka_stop(parts.kafka);
	workers_stop(parts.workers);
	drain_deadline = clock_now_ns() +
	    (uint64_t)app.cf->shutdown_timeout_ms * NSEC_PER_MSEC;
	drain_ev = event_new(app.base, -1, EV_PERSIST, drain_cb, NULL);
	event_add(drain_ev, &tv);
}

/* Let the answers just given reach their senders, for at most a second. */
static void
flush_answers(void)
{
	struct timeval tv = { 0, 10000 };
	uint64_t until = clock_now_ns() + NSEC_PER_SEC;

	while (ingest_http_unflushed(parts.http) + ingest_http_unflushed(
	    parts.https) > 0 && clock_now_ns() < until) {
		event_base_loopexit(app.base, &tv);
		event_base_dispatch(app.base);
	}
}

/* Bind addr, announce it; -1 on failure (message logged). */
static int
listen_on(const char *what, const char *addr)
{
	char bound[300], err[300];
	int fd;

	if ((fd = net_listen(addr, bound, sizeof(bound), err,
	    sizeof(err))) == -1) {
		log_err("cannot listen (%s): %s", what, err);
		return -1;
	}
	fprintf(stderr, "listening %s %s\n", what, bound);
	fflush(stderr);
	return fd;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rules", required_argument, NULL, 'r' },
		{ "sink", required_argument, NULL, 's' },
		{ "listen-tcp", required_argument, NULL, 'T' },
		{ "listen-http", required_argument, NULL, 'H' },
		{ "admin", required_argument, NULL, 'A' },
		{ "workers", required_argument, NULL, 'w' },
		{ "require-sink", no_argument, NULL, 'R' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfpath = NULL, *rules = NULL, *sinkurl = NULL;
	const char *ltcp = NULL, *lhttp = NULL, *ladmin = NULL;
	struct event *sig_hup = NULL, *sig_term = NULL, *sig_int = NULL;
	SSL_CTX *tls = NULL;
	struct sink_owner owner;
	struct rules_error rerr;
	struct ruleset *rs;
	struct timeval sec = { 1, 0 }, poll_tv = { 0, 50000 }, control_tv;
	char err[700];
	long workers = 0;
	int require_sink = 0;
	int ch, verbosity = 0, use_syslog = 0, fd, rc = 0;

	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return cli_check(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "classify") == 0)
		return cli_classify(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "tap") == 0)
		return cli_tap(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "version") == 0) {
		printf("spillway %s\n", SPILLWAY_VERSION);
		return 0;
	}

	while ((ch = getopt_long(argc, argv, "c:r:vqh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c': cfpath = optarg; break;
		case 'r': rules = optarg; break;
		case 's': sinkurl = optarg; break;
		case 'T': ltcp = optarg; break;
		case 'H': lhttp = optarg; break;
		case 'A': ladmin = optarg; break;
		case 'w':
			workers = strtol(optarg, NULL, 10);
			if (workers < 1 || workers > 256) {
				fprintf(stderr, "spillway: --workers takes 1 "
				    "to 256\n");
				return 1;
			}
			break;
		case 'R': require_sink = 1; break;
		case 'S': use_syslog = 1; break;
		case 'v': verbosity = 1; break;
		case 'q': verbosity = -1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spillway: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 1;
	}
	log_init(verbosity, use_syslog);

	app.cf = cfpath ? config_load(cfpath, err, sizeof(err)) :
	    config_default();
	if (app.cf == NULL) {
		fprintf(stderr, "%s\n", cfpath ? err : "out of memory");
		return 1;
	}
	if ((sinkurl && config_set_str(&app.cf->sink_url, sinkurl) == -1) ||
	    (ltcp && config_set_str(&app.cf->listen_tcp, ltcp) == -1) ||
	    (lhttp && config_set_str(&app.cf->listen_http, lhttp) == -1) ||
	    (ladmin && config_set_str(&app.cf->listen_admin, ladmin) == -1) ||
	    (rules && config_set_str(&app.cf->rules_path, rules) == -1)) {
		fprintf(stderr, "spillway: out of memory\n");
		return 1;
	}
	if (workers > 0)
		app.cf->workers = workers;
	app.rules_path = app.cf->rules_path;
	if (app.rules_path != NULL) {
		if ((rs = rules_load_file(app.rules_path, &rerr)) == NULL) {
			rules_error_print(stderr, &rerr, app.rules_path);
			config_free(app.cf);
			return 1;
		}
	} else if ((rs = rules_builtin()) == NULL) {
		fprintf(stderr, "spillway: out of memory\n");
		return 1;
	}

	signal(SIGPIPE, SIG_IGN);
	/*
	 * Two priorities: what the sink answers runs before more input is
	 * read (SPILLWAY_PRIO_SINK), so a slow sink is never kept waiting
	 * by a busy listener; everything else has the default, the other.
	 */
	if ((app.base = event_base_new()) == NULL ||
	    event_base_priority_init(app.base, SPILLWAY_PRIOS) == -1) {
		fprintf(stderr, "spillway: cannot create the event loop\n");
		return 2;
	}
	/*
	 * Signals are caught before any listener is announced, so a SIGTERM
	 * sent right after the "listening" lines is a clean shutdown.
	 */
	sig_hup = evsignal_new(app.base, SIGHUP, signal_cb, NULL);
	sig_term = evsignal_new(app.base, SIGTERM, signal_cb, NULL);
	sig_int = evsignal_new(app.base, SIGINT, signal_cb, NULL);
	evsignal_add(sig_hup, NULL);
	evsignal_add(sig_term, NULL);
	evsignal_add(sig_int, NULL);
	app.started = clock_now_ns();
	if ((app.sh = shaper_new(app.base, app.cf, rs, app.started)) == NULL) {
		fprintf(stderr, "spillway: out of memory\n");
		return 2;
	}
	shaper_sink_owner(app.sh, &owner);
	if ((app.sink = sink_new(app.base, app.cf->sink_url, app.cf, "main",
	    &owner, err, sizeof(err))) == NULL) {
		fprintf(stderr, "spillway: sink: %s\n", err);
		rc = 1;
		goto out;
	}
	if (app.cf->divert_url != NULL && (app.divert = sink_new(app.base,
	    app.cf->divert_url, app.cf, "divert", &owner, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "spillway: divert: %s\n", err);
		rc = 1;
		goto out;
	}
	shaper_set_sinks(app.sh, app.sink, app.divert);
	/* --require-sink: the sink's peer must answer now. */
	if (require_sink && sink_probe(app.sink, err, sizeof(err)) == -1) {
		log_err("sink unreachable at start-up: %s", err);
		rc = 2;
		goto out;
	}

	if (app.cf->listen_tcp != NULL && *app.cf->listen_tcp != '\0') {
		if ((fd = listen_on("tcp", app.cf->listen_tcp)) == -1 ||
		    (parts.tcp = ingest_tcp_new(app.base, fd, app.cf,
		    app.sh)) == NULL) {
			rc = 2;
			goto out;
		}
		if (app.cf->workers > 1) {
			if ((parts.workers = workers_new(app.base, app.cf, app.sh,
			    (int)app.cf->workers - 1, err, sizeof(err))) ==
			    NULL) {
				log_err("workers: %s", err);
				rc = 2;
				goto out;
			}
			workers_attach(parts.workers, parts.tcp);
			stats_register(&app.stats, "tcp", workers_report,
			    parts.workers);
		} else
			stats_register(&app.stats, "tcp", ingest_tcp_report,
			    parts.tcp);
	}
	if (app.cf->listen_http != NULL && *app.cf->listen_http != '\0') {
		if ((fd = listen_on("http", app.cf->listen_http)) == -1 ||
		    (parts.http = ingest_http_new(app.base, fd, app.cf,
		    app.sh)) == NULL) {
			rc = 2;
			goto out;
		}
		stats_register(&app.stats, "http", ingest_http_report,
		    parts.http);
	}
	if (app.cf->listen_https != NULL && *app.cf->listen_https != '\0') {
		if ((tls = tls_server(app.cf->tls_cert, app.cf->tls_key, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "spillway: %s\n", err);
			rc = 1;
			goto out;
		}
		if ((fd = listen_on("https", app.cf->listen_https)) == -1 ||
		    (parts.https = ingest_http_new(app.base, fd, app.cf,
		    app.sh)) == NULL) {
			rc = 2;
			goto out;
		}
		ingest_http_tls(parts.https, tls);
		stats_register(&app.stats, "https", ingest_http_report,
		    parts.https);
	}
	if (app.cf->listen_kafka != NULL && (parts.kafka = ingest_kafka_new(
	    app.base, app.cf, app.sh, err, sizeof(err))) == NULL) {
		fprintf(stderr, "spillway: %s\n", err);
		rc = 1;
		goto out;
	}
	if (parts.kafka != NULL)
		stats_register(&app.stats, "kafka", ingest_kafka_report,
		    parts.kafka);
	if ((app.levers = levers_new(&app)) == NULL) {
		fprintf(stderr, "spillway: no memory for the admin levers\n");
		rc = 2;
		goto out;
	}
	if (app.cf->listen_admin != NULL && *app.cf->listen_admin != '\0') {
		if ((fd = listen_on("admin", app.cf->listen_admin)) == -1 ||
		    (parts.admin = admin_new(&app, fd)) == NULL) {
			rc = 2;
			goto out;
		}
		stats_register(&app.stats, "admin", stats_http_server,
		    parts.admin);
	}

	if (gethostname(hostname, sizeof(hostname) - 1) == -1)
		snprintf(hostname, sizeof(hostname), "localhost");
	if (fleet_join() == -1) {
		rc = 1;
		goto out;
	}
	tick_ev = event_new(app.base, -1, EV_PERSIST, tick_cb, NULL);
	poll_ev = event_new(app.base, -1, EV_PERSIST, poll_cb, NULL);
	control_ev = event_new(app.base, -1, EV_PERSIST, control_cb, NULL);
	control_tv.tv_sec = app.cf->control_interval_ms / 1000;
	control_tv.tv_usec = (app.cf->control_interval_ms % 1000) * 1000;
	event_add(tick_ev, &sec);
	event_add(poll_ev, &poll_tv);
	event_add(control_ev, &control_tv);
	log_info("spillway %s: rules %s (revision 1, %zu classes), sink %s",
	    SPILLWAY_VERSION, app.rules_path ? app.rules_path : "built-in",
	    rs->nclasses, url_redact(app.cf->sink_url, err, sizeof(err)));

	event_base_dispatch(app.base);

	/* The workers hand over all they read before anything is counted. */
	workers_free(parts.workers);
	parts.workers = NULL;
	event_free(tick_ev);
	event_free(poll_ev);
	event_free(control_ev);
	if (drain_ev != NULL)
		event_free(drain_ev);
	/*
	 * Whatever is left now is lost to the shutdown, and counted so; the
	 * senders still waiting hear 503 for it and send it again.
	 */
	levers_free(app.levers);	/* its taps end first */
	app.levers = NULL;
	http_server_free(parts.admin);
	parts.admin = NULL;
	shaper_abandon(app.sh);
	shaper_set_sinks(app.sh, NULL, NULL);
	shaper_set_fleet(app.sh, NULL, NULL, NULL);
	sink_free(app.sink);
	sink_free(app.divert);
	app.sink = app.divert = NULL;
	ingest_http_finish(parts.http);
	ingest_http_finish(parts.https);
	flush_answers();
out:
	workers_free(parts.workers);
	ingest_tcp_free(parts.tcp);
	ingest_http_free(parts.http);
	ingest_http_free(parts.https);
	if (tls != NULL)
		SSL_CTX_free(tls);
	levers_free(app.levers);
	http_server_free(parts.admin);
	sink_free(app.sink);
	sink_free(app.divert);
	shaper_free(app.sh);
	fleet_link_free(fleet_link);
	fleet_free(fleet);
	/* After the shaper: its records told the source their fate. */
	ingest_kafka_free(parts.kafka);
	if (sig_hup != NULL)
		event_free(sig_hup);
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	event_base_free(app.base);
	config_free(app.cf);
	libevent_global_shutdown();
	return rc;
}
