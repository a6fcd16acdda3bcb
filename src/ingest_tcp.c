/*
 * ingest_tcp: NDJSON over TCP (Logstash tcp output, json_lines codec).
 * A line longer than max_event_bytes is counted as too_large once and the
 * rest of it is discarded up to its newline; the connection goes on.
 */
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <spillway/clock.h>

#include "classify.h"
#include "config.h"
#include "ingest_tcp.h"
#include "net.h"
#include "record.h"
#include "shaper.h"
#include "stats.h"

/*
 * The counters of a worker's listener are read by the main loop (metrics,
 * max_connections, dealing): relaxed atomics, each on its own.
 */
#define COUNT(field, n)	__atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)

struct tcp_conn {
	struct ingest_tcp	*it;
	struct bufferevent	*bev;
	TAILQ_ENTRY(tcp_conn)	 entry;
	int			 discarding;	/* inside an over-long line */
};

struct ingest_tcp {
	struct event_base		*base;
	const struct config		*cf;
	struct shaper			*sh;
	const struct ingest_tcp_hooks	*hooks;	/* NULL: the shaper */
	void				*hooks_arg;
	int				(*dispatch)(void *, int);
	void				*dispatch_arg;
	struct net_listener		*nl;
	struct ingest_tcp_counters	 counters;
	TAILQ_HEAD(, tcp_conn)		 conns;
};

/* One complete line, without its '\n'. */
static void
ingest_tcp_line(struct ingest_tcp *it, const char *line, size_t len,
    uint64_t now)
{
	struct classify_result cr;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (record_blank(line, len))
		return;
	if (it->hooks != NULL) {
		it->hooks->offer(it->hooks_arg, line, len, now);
		return;
	}
	classify_event(shaper_rules(it->sh), line, len, &cr);
	shaper_offer_classified(it->sh, line, len, NULL, 0, SOURCE_TCP, &cr,
	    NULL, 0, NULL, now);
}

static void
ingest_tcp_too_large(struct ingest_tcp *it)
{
	if (it->hooks != NULL)
		it->hooks->too_large(it->hooks_arg);
	else
		shaper_too_large(it->sh, SOURCE_TCP);
}

/*
 * Offer every complete line buffered on c.  At EOF (`eof`) what is left
 * is offered too: a line cut short by a disconnect is still accounted
 * for, as an event if it is one, else under _invalid.
 */
static void
ingest_tcp_drain(struct tcp_conn *c, int eof)
{
	struct ingest_tcp *it = c->it;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t max = (size_t)it->cf->max_event_bytes;
	uint64_t now = clock_now_ns();
	struct evbuffer_ptr p;
	size_t have, len;
	const char *line;

	for (;;) {
		have = evbuffer_get_length(in);
		if (have == 0)
			break;
		p = evbuffer_search(in, "\n", 1, NULL);
		if (p.pos < 0) {
			if (c->discarding) {
				evbuffer_drain(in, have);
				break;
			}
			if (have > max) {
				ingest_tcp_too_large(it);
				c->discarding = 1;
				evbuffer_drain(in, have);
				break;
			}
			if (!eof)
				break;
			line = (const char *)evbuffer_pullup(in, -1);
			if (!record_blank(line, have))
				COUNT(it->counters.partial, 1);
			ingest_tcp_line(it, line, have, now);
			evbuffer_drain(in, have);
			break;
		}
		len = (size_t)p.pos;
		if (c->discarding) {
			c->discarding = 0;
		} else if (len > max + 1 || (len == max + 1 &&
		    evbuffer_pullup(in, len)[len - 1] != '\r')) {
			ingest_tcp_too_large(it);
		} else {
			line = (const char *)evbuffer_pullup(in, len + 1);
			ingest_tcp_line(it, line, len, now);
		}
		evbuffer_drain(in, len + 1);
	}
	if (it->hooks != NULL && it->hooks->flush != NULL)
		it->hooks->flush(it->hooks_arg);
}

static void
ingest_tcp_close(struct tcp_conn *c)
{
	struct ingest_tcp *it = c->it;

	TAILQ_REMOVE(&it->conns, c, entry);
	COUNT(it->counters.connections, (size_t)-1);
	bufferevent_free(c->bev);
	free(c);
	if (it->hooks != NULL && it->hooks->closed != NULL)
		it->hooks->closed(it->hooks_arg);
}

static void
ingest_tcp_readcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	ingest_tcp_drain(arg, 0);
}

static void
ingest_tcp_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		COUNT(c->it->counters.timeouts, 1);
	ingest_tcp_drain(c, 1);
	ingest_tcp_close(c);
}

static void
ingest_tcp_accept(int fd, void *arg)
{
	struct ingest_tcp *it = arg;

	switch (it->dispatch != NULL ? it->dispatch(it->dispatch_arg, fd) : 0) {
	case 1:
		return;		/* another loop serves it */
	case -1:		/* max_connections over all the loops */
		COUNT(it->counters.refused, 1);
		close(fd);
		return;
	}
	ingest_tcp_adopt(it, fd);
}

void
ingest_tcp_set_dispatch(struct ingest_tcp *it, int (*fn)(void *, int),
    void *arg)
{
	it->dispatch = fn;
	it->dispatch_arg = arg;
}

static void	ingest_tcp_serve(struct ingest_tcp *,
		    struct ingest_tcp_handoff *, int);

void
ingest_tcp_adopt(struct ingest_tcp *it, int fd)
{
	struct ingest_tcp_handoff h = { fd, 0, 0 };

	ingest_tcp_serve(it, &h, 0);
}

void
ingest_tcp_adopt_handoff(struct ingest_tcp *it, struct ingest_tcp_handoff *h)
{
	ingest_tcp_serve(it, h, 1);
	free(h);
}

struct ingest_tcp_handoff *
ingest_tcp_release(struct ingest_tcp *it)
{
	struct ingest_tcp_handoff *h;
	struct tcp_conn *c;
	struct evbuffer *in;
	size_t len;

	if ((c = TAILQ_FIRST(&it->conns)) == NULL)
		return NULL;
	ingest_tcp_drain(c, 0);		/* nothing but a part line is left */
	in = bufferevent_get_input(c->bev);
	len = evbuffer_get_length(in);
	if ((h = malloc(sizeof(*h) + len)) == NULL)
		return NULL;
	evbuffer_remove(in, h->buf, len);
	h->len = len;
	h->discarding = c->discarding;
	h->fd = (int)bufferevent_getfd(c->bev);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(c->bev, -1);	/* freed without closing it */
	COUNT(it->counters.moved_out, 1);
	ingest_tcp_close(c);
	return h;
}

/*
 * What the loop it came from read past the last line goes first.  The
 * input end of a bufferevent's buffer is frozen to users: open it.
 */
static int
ingest_tcp_prefill(struct bufferevent *bev, struct ingest_tcp_handoff *h)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	int r;

	if (h->len == 0)
		return 0;
	evbuffer_unfreeze(in, 0);
	r = evbuffer_add(in, h->buf, h->len);
	evbuffer_freeze(in, 0);
	return r;
}

/* Serve h->fd: accepted here (moved 0) or taken over (moved 1). */
static void
ingest_tcp_serve(struct ingest_tcp *it, struct ingest_tcp_handoff *h,
    int moved)
{
	struct tcp_conn *c;
	struct timeval tv;
	int fd = h->fd;

	if (it->counters.connections >= (size_t)it->cf->max_connections ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		COUNT(it->counters.refused, 1);
		close(fd);
		return;
	}
	if ((c->bev = bufferevent_socket_new(it->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    ingest_tcp_prefill(c->bev, h) == -1) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		COUNT(it->counters.refused, 1);
		free(c);
		return;
	}
	c->it = it;
	c->discarding = h->discarding;
	TAILQ_INSERT_TAIL(&it->conns, c, entry);
	COUNT(it->counters.connections, 1);
	if (moved)
		COUNT(it->counters.moved_in, 1);
	else
		COUNT(it->counters.accepted, 1);
	bufferevent_setcb(c->bev, ingest_tcp_readcb, NULL, ingest_tcp_eventcb,
	    c);
	if (it->cf->idle_timeout_ms > 0) {
		tv.tv_sec = it->cf->idle_timeout_ms / 1000;
		tv.tv_usec = (it->cf->idle_timeout_ms % 1000) * 1000;
		bufferevent_set_timeouts(c->bev, &tv, NULL);
	}
	bufferevent_enable(c->bev, EV_READ);
}

struct ingest_tcp *
ingest_tcp_new(struct event_base *base, int fd, const struct config *cf,
    struct shaper *sh)
{
	return ingest_tcp_new_hooked(base, fd, cf, sh, NULL, NULL);
}

struct ingest_tcp *
ingest_tcp_new_hooked(struct event_base *base, int fd,
    const struct config *cf, struct shaper *sh,
    const struct ingest_tcp_hooks *hooks, void *arg)
{
	struct ingest_tcp *it;

	if ((it = calloc(1, sizeof(*it))) == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	it->base = base;
	it->cf = cf;
	it->sh = sh;
	it->hooks = hooks;
	it->hooks_arg = arg;
	TAILQ_INIT(&it->conns);
	if (fd >= 0 && (it->nl = net_listener_new(base, fd, ingest_tcp_accept,
	    it)) == NULL) {
		free(it);
		return NULL;
	}
	return it;
}

void
ingest_tcp_stop(struct ingest_tcp *it)
{
	struct tcp_conn *c;

	if (it == NULL)
		return;
	net_listener_free(it->nl);
	it->nl = NULL;
	while ((c = TAILQ_FIRST(&it->conns)) != NULL) {
		ingest_tcp_drain(c, 1);
		ingest_tcp_close(c);
	}
}

void
ingest_tcp_free(struct ingest_tcp *it)
{
	if (it == NULL)
		return;
	ingest_tcp_stop(it);
	free(it);
}

const struct ingest_tcp_counters *
ingest_tcp_counters(const struct ingest_tcp *it)
{
	return &it->counters;
}

void
ingest_tcp_report(const void *arg, struct stats_source *out)
{
	const struct ingest_tcp *it = arg;

	out->has |= STATS_CONNECTIONS | STATS_REFUSED | STATS_TCP;
	out->connections = it->counters.connections;
	out->refused_limit = it->counters.refused;
	out->refused_descriptors = it->nl != NULL ?
	    net_listener_shed(it->nl) : 0;
	out->partial = it->counters.partial;
}
