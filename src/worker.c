/*
 * worker: TCP listeners on more threads, classifying in parallel.
 *
 * Each worker owns an event loop and its own compiled copy of the rules.
 * The main loop accepts every TCP connection and deals each to the loop
 * with the fewest, itself included but counting its own at 5/4: besides
 * its connections it shapes every event, so it takes a little less than a
 * worker (16 connections over 2 loops split 7 and 9).
 * A kernel hash over SO_REUSEPORT listeners would split a few connections
 * by chance, and the slowest loop sets the pace.  Lines are classified
 * there (the parse is most of an event's cost) and appended to a batch:
 * the bytes, the class
 * index, the key text.  Batches go to the main loop through a list under a
 * mutex and a pipe that wakes it; the main loop shapes each event as if it
 * had read it itself.  A batch classified under rules that were replaced
 * meanwhile is classified again on the main loop, so every event is shaped
 * under the rules in force when it reaches the shaper.
 *
 * Memory stays bounded: a worker that has WORKER_PENDING_MAX bytes waiting
 * for the main loop blocks until the main loop catches up, and its
 * sockets wait in the kernel meanwhile.  The main loop hands emptied
 * batches back for reuse, so their memory stays warm and allocated
 * instead of going back and forth between the threads and the kernel.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>

#include <event2/event.h>

#include <spillway/clock.h>

#include "arena.h"
#include "classify.h"
#include "config.h"
#include "ingest_tcp.h"
#include "log.h"
#include "net.h"
#include "rules.h"
#include "shaper.h"
#include "stats.h"
#include "worker.h"

#define WORKER_BATCH_EVENTS	512
#define WORKER_BATCH_BYTES	(256 * 1024)
#define WORKER_PENDING_MAX	(16 * 1024 * 1024)
#define WORKER_TICK_US		100000	/* publish rules, check stop */
#define WORKER_SPARES		16	/* emptied batches kept for reuse */
#define WORKER_FLUSH_US		1000	/* a part-filled batch waits this */
/*
 * A connection of the main loop counts as MAIN_WEIGHT / WORKER_WEIGHT of
 * a worker's: the main loop also shapes the events of all the loops,
 * measured at about a tenth of what parsing them costs.
 */
#define MAIN_WEIGHT		5
#define WORKER_WEIGHT		4

struct wevent {
	size_t		 off;		/* line bytes in buf */
	size_t		 len;
	size_t		 keylen;	/* key bytes follow the line */
	size_t		 idx;
	uint64_t	 t_in;
	int		 too_large;
};

struct wbatch {
	TAILQ_ENTRY(wbatch)	 entry;
	uint64_t		 revision;	/* of the rules it was made with */
	struct wevent		*ev;
	size_t			 n, cap;
	char			*buf;
	size_t			 used, size;
	uint64_t		*hits;		/* regex limit hits, per class */
	size_t			 nhits;
};

TAILQ_HEAD(wbatches, wbatch);

struct worker {
	struct workers		*w;
	pthread_t		 th;
	int			 started;
	struct event_base	*base;
	struct ingest_tcp	*it;
	int			 stopfd[2];
	struct event		*stop_ev;
	struct event		*flush_ev;	/* hands over a part-filled batch */
	int			 adoptfd[2];	/* connections dealt to it */
	struct event		*adopt_ev;
	struct ruleset		*rs;		/* private copy */
	uint64_t		 revision;
	struct wbatch		*cur;
	uint64_t		 dealt;		/* connections sent its way */
	int			 exited;	/* under w->mu */
};

struct workers {
	struct event_base	*base;		/* main loop */
	const struct config	*cf;
	struct shaper		*sh;
	struct worker		*v;
	int			 n;

	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct wbatches		 ready;		/* for the main loop */
	size_t			 pending;	/* bytes in ready */
	struct wbatches		 spare;		/* emptied, for the workers */
	size_t			 nspare;
	int			 notifyfd[2];
	struct event		*notify_ev;
	struct event		*tick_ev;

	/* the rules in force, as text, for the workers to compile */
	char			*text;
	size_t			 textlen;
	uint64_t		 revision;
	int			 stopping;
	struct ingest_tcp	*main_tcp;	/* the listener dealing */
	int			 rebalance;	/* a worker lost a connection */
};

static struct ingest_tcp_hooks worker_hooks;

static void	workers_rebalance(struct workers *);
static void	workers_counters(const struct workers *,
		    struct ingest_tcp_counters *);


/* -- batches */

static void
wbatch_free(struct wbatch *b)
{
	if (b == NULL)
		return;
	free(b->ev);
	free(b->buf);
	free(b->hits);
	free(b);
}

/* An empty batch: a spare one if the main loop gave one back. */
static struct wbatch *
wbatch_new(struct worker *wk)
{
	struct workers *w = wk->w;
	struct wbatch *b;
	uint64_t *hits;
	size_t nhits = wk->rs->nclasses;

	pthread_mutex_lock(&w->mu);
	if ((b = TAILQ_FIRST(&w->spare)) != NULL) {
		TAILQ_REMOVE(&w->spare, b, entry);
		w->nspare--;
	}
	pthread_mutex_unlock(&w->mu);
	if (b == NULL && (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (b->nhits != nhits) {
		if ((hits = realloc(b->hits, nhits * sizeof(*hits))) == NULL) {
			wbatch_free(b);
			return NULL;
		}
		b->hits = hits;
		b->nhits = nhits;
	}
	memset(b->hits, 0, nhits * sizeof(*b->hits));
	b->revision = wk->revision;
	b->n = 0;
	b->used = 0;
	return b;
}

/* Room for one more event of need bytes; -1 without memory. */
static int
wbatch_room(struct wbatch *b, size_t need)
{
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct wevent *nv;

		if ((nv = realloc(b->ev, ncap * sizeof(*nv))) == NULL)
			return -1;
		b->ev = nv;
		b->cap = ncap;
	}
	if (b->used + need > b->size) {
		size_t nsize = b->size ? b->size * 2 : 16384;
		char *nb;

		while (nsize < b->used + need)
			nsize *= 2;
		if ((nb = realloc(b->buf, nsize)) == NULL)
			return -1;
		b->buf = nb;
		b->size = nsize;
	}
	return 0;
}

/* -- worker side */

/* Pick up the rules in force if they changed. */
static void
worker_rules(struct worker *wk)
{
	struct workers *w = wk->w;
	struct rules_error err;
	struct ruleset *rs;
	uint64_t rev;
	char *text = NULL;
	size_t len = 0;

	pthread_mutex_lock(&w->mu);
	rev = w->revision;
	if (rev != wk->revision && w->text != NULL &&
	    (text = malloc(w->textlen)) != NULL) {
		memcpy(text, w->text, w->textlen);
		len = w->textlen;
	}
	pthread_mutex_unlock(&w->mu);
	if (text == NULL)
		return;
	rs = rules_load_buffer(text, len, &err);
	free(text);
	if (rs == NULL)
		return;		/* cannot happen: the main loop loaded it */
	rules_free(wk->rs);
	wk->rs = rs;
	wk->revision = rev;
}

static void
worker_push(struct worker *wk)
{
	struct workers *w = wk->w;
	struct wbatch *b = wk->cur;
	int first;

	if (b == NULL || b->n == 0)
		return;
	wk->cur = NULL;
	pthread_mutex_lock(&w->mu);
	while (w->pending > WORKER_PENDING_MAX && !w->stopping)
		pthread_cond_wait(&w->cv, &w->mu);
	first = TAILQ_EMPTY(&w->ready);
	TAILQ_INSERT_TAIL(&w->ready, b, entry);
	w->pending += b->used + b->n * sizeof(struct wevent);
	pthread_mutex_unlock(&w->mu);
	if (first)
		net_pipe_wake(w->notifyfd[1]);
}

static struct wevent *
worker_event(struct worker *wk, size_t need)
{
	struct wbatch *b;

	if (wk->cur == NULL) {
		worker_rules(wk);
		if ((wk->cur = wbatch_new(wk)) == NULL)
			return NULL;
	}
	b = wk->cur;
	if (wbatch_room(b, need) == -1)
		return NULL;
	return &b->ev[b->n];
}

static void
worker_offer(void *arg, const char *line, size_t len, uint64_t now)
{
	struct worker *wk = arg;
	struct classify_result cr;
	struct wevent *ev;
	struct wbatch *b;
	size_t i;

	if ((ev = worker_event(wk, len + CLASSIFY_KEY_MAX)) == NULL) {
		log_err("worker: no memory; a line is lost");
		return;
	}
	b = wk->cur;
	classify_event(wk->rs, line, len, &cr);
	if (cr.hits != NULL)
		for (i = 0; i < b->nhits; i++)
			b->hits[i] += cr.hits[i];
	ev->off = b->used;
	ev->len = len;
	ev->keylen = cr.keylen;
	ev->idx = cr.cls;
	ev->t_in = now;
	ev->too_large = 0;
	memcpy(b->buf + b->used, line, len);
	memcpy(b->buf + b->used + len, cr.key, cr.keylen);
	b->used += len + cr.keylen;
	b->n++;
	if (b->n >= WORKER_BATCH_EVENTS || b->used >= WORKER_BATCH_BYTES)
		worker_push(wk);
}

static void
worker_too_large(void *arg)
{
	struct worker *wk = arg;
	struct wevent *ev;

	if ((ev = worker_event(wk, 0)) == NULL)
		return;
	memset(ev, 0, sizeof(*ev));
	ev->too_large = 1;
	wk->cur->n++;
}

/*
 * After a read: a full batch went already; one part-filled goes a
 * millisecond later, so that a steady stream is handed over in whole
 * batches (waking the main loop costs more than a batch's worth of
 * copying) and a trickle still reaches it at once.
 */
static void
worker_flush(void *arg)
{
	struct worker *wk = arg;
	struct timeval tv = { 0, WORKER_FLUSH_US };

	if (wk->cur != NULL && wk->cur->n > 0 &&
	    !evtimer_pending(wk->flush_ev, NULL))
		evtimer_add(wk->flush_ev, &tv);
}

static void
worker_flushcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	worker_push(arg);
}

static void
handoff_drop(struct ingest_tcp_handoff *h)
{
	close(h->fd);
	free(h);
}

/* Connections dealt or moved to this worker: a hand-off pointer each. */
static void
worker_adoptcb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *wk = arg;
	struct ingest_tcp_handoff *h;

	(void)what;
	while (read(fd, &h, sizeof(h)) == (ssize_t)sizeof(h)) {
		if (wk->w->stopping)
			handoff_drop(h);
		else
			ingest_tcp_adopt_handoff(wk->it, h);
	}
}

/* A connection of this worker ended: the main loop may even things out. */
static void
worker_closed(void *arg)
{
	struct worker *wk = arg;

	if (!__atomic_exchange_n(&wk->w->rebalance, 1, __ATOMIC_RELAXED))
		net_pipe_wake(wk->w->notifyfd[1]);
}

static void
worker_stopcb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *wk = arg;

	(void)what;
	net_pipe_drain(fd);
	worker_adoptcb(wk->adoptfd[0], EV_READ, wk);
	ingest_tcp_stop(wk->it);	/* offers what is buffered */
	worker_push(wk);
	event_base_loopbreak(wk->base);
}

static void *
worker_main(void *arg)
{
	struct worker *wk = arg;
	struct workers *w = wk->w;

	event_base_dispatch(wk->base);
	worker_push(wk);
	arena_shutdown();
	pthread_mutex_lock(&w->mu);
	wk->exited = 1;
	pthread_mutex_unlock(&w->mu);
	net_pipe_wake(w->notifyfd[1]);
	return NULL;
}

/* -- main loop side */

/* Shape one batch's events, as the main loop's own listener would. */
static void
workers_shape(struct workers *w, struct wbatch *b)
{
	struct shaper *sh = w->sh;
	const char *line;
	size_t i;
	int same = b->revision == shaper_revision(sh);

	if (same)
		shaper_add_limit_hits(sh, b->hits, b->nhits);
	for (i = 0; i < b->n; i++) {
		struct wevent *ev = &b->ev[i];
		struct classify_result cr;

		if (ev->too_large) {
			shaper_too_large(sh, SOURCE_TCP);
			continue;
		}
		line = b->buf + ev->off;
		if (same) {
			cr.cls = ev->idx;
			cr.key = line + ev->len;
			cr.keylen = ev->keylen;
			cr.hits = NULL;		/* counted with the batch's */
		} else
			classify_event(shaper_rules(sh), line, ev->len, &cr);
		shaper_offer_classified(sh, line, ev->len, NULL, 0, SOURCE_TCP,
		    &cr, NULL, 0, NULL, ev->t_in);
	}
}

/* Tell the workers the rules in force, when they changed. */
static void
workers_publish(struct workers *w)
{
	const struct ruleset *rs = shaper_rules(w->sh);
	char *text;

	if (w->revision == shaper_revision(w->sh) || rs->text == NULL)
		return;
	if ((text = malloc(rs->textlen)) == NULL)
		return;
	memcpy(text, rs->text, rs->textlen);
	pthread_mutex_lock(&w->mu);
	free(w->text);
	w->text = text;
	w->textlen = rs->textlen;
	w->revision = shaper_revision(w->sh);
	pthread_mutex_unlock(&w->mu);
}

static void
workers_notifycb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct wbatches got, done;
	struct wbatch *b;
	size_t bytes = 0;

	(void)what;
	net_pipe_drain(fd);
	workers_publish(w);
	if (__atomic_exchange_n(&w->rebalance, 0, __ATOMIC_RELAXED))
		workers_rebalance(w);
	TAILQ_INIT(&got);
	TAILQ_INIT(&done);
	pthread_mutex_lock(&w->mu);
	TAILQ_CONCAT(&got, &w->ready, entry);
	pthread_mutex_unlock(&w->mu);
	while ((b = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, b, entry);
		workers_shape(w, b);
		bytes += b->used + b->n * sizeof(struct wevent);
		TAILQ_INSERT_TAIL(&done, b, entry);
	}
	pthread_mutex_lock(&w->mu);
	w->pending -= bytes;
	pthread_cond_broadcast(&w->cv);
	/* Keep a few for reuse; one that grew for a huge line is let go. */
	while ((b = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, b, entry);
		if (w->nspare < WORKER_SPARES &&
		    b->size <= 2 * WORKER_BATCH_BYTES) {
			TAILQ_INSERT_TAIL(&w->spare, b, entry);
			w->nspare++;
		} else
			TAILQ_INSERT_TAIL(&got, b, entry);
	}
	pthread_mutex_unlock(&w->mu);
	while ((b = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, b, entry);
		wbatch_free(b);
	}
}

static void
workers_tickcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	workers_publish(arg);
}

struct workers *
workers_new(struct event_base *base, const struct config *cf,
    struct shaper *sh, int n, char *err, size_t errlen)
{
	struct timeval tick = { 0, WORKER_TICK_US };
	struct workers *w;
	struct worker *wk;
	int i;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->v = calloc((size_t)n, sizeof(*w->v))) == NULL) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->base = base;
	w->cf = cf;
	w->sh = sh;
	w->n = n;
	w->notifyfd[0] = w->notifyfd[1] = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	TAILQ_INIT(&w->ready);
	TAILQ_INIT(&w->spare);
	worker_hooks.offer = worker_offer;
	worker_hooks.too_large = worker_too_large;
	worker_hooks.flush = worker_flush;
	worker_hooks.closed = worker_closed;
	workers_publish(w);
	if (net_pipe(w->notifyfd) == -1 ||
	    (w->notify_ev = event_new(base, w->notifyfd[0],
	    EV_READ | EV_PERSIST, workers_notifycb, w)) == NULL ||
	    event_add(w->notify_ev, NULL) == -1 ||
	    (w->tick_ev = event_new(base, -1, EV_PERSIST, workers_tickcb,
	    w)) == NULL || event_add(w->tick_ev, &tick) == -1) {
		snprintf(err, errlen, "cannot set up the workers' wake-up");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		wk = &w->v[i];
		wk->w = w;
		wk->stopfd[0] = wk->stopfd[1] = -1;
		wk->adoptfd[0] = wk->adoptfd[1] = -1;
		if ((wk->rs = rules_builtin()) == NULL)
			goto oom;
		wk->revision = 0;
		worker_rules(wk);
		if ((wk->base = event_base_new()) == NULL ||
		    net_pipe(wk->stopfd) == -1 ||
		    (wk->flush_ev = evtimer_new(wk->base, worker_flushcb,
		    wk)) == NULL ||
		    (wk->stop_ev = event_new(wk->base, wk->stopfd[0], EV_READ,
		    worker_stopcb, wk)) == NULL ||
		    event_add(wk->stop_ev, NULL) == -1 ||
		    net_pipe(wk->adoptfd) == -1 ||
		    (wk->adopt_ev = event_new(wk->base, wk->adoptfd[0],
		    EV_READ | EV_PERSIST, worker_adoptcb, wk)) == NULL ||
		    event_add(wk->adopt_ev, NULL) == -1)
			goto oom;
		if ((wk->it = ingest_tcp_new_hooked(wk->base, -1, cf, sh,
		    &worker_hooks, wk)) == NULL)
			goto oom;
		if (pthread_create(&wk->th, NULL, worker_main, wk) != 0) {
			snprintf(err, errlen, "cannot start a worker: %s",
			    strerror(errno));
			goto fail;
		}
		{
			char name[32];	/* for top -H, ps -L, /proc */

			snprintf(name, sizeof(name), "worker %d", i + 1);
			name[15] = '\0';
			pthread_setname_np(wk->th, name);
		}
		wk->started = 1;
	}
	log_info("%d worker loop%s besides the main loop serve TCP", n,
	    n == 1 ? "" : "s");
	return w;
oom:
	snprintf(err, errlen, "out of memory starting the workers");
fail:
	workers_stop(w);
	workers_free(w);
	return NULL;
}

#define LOAD(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

/* A worker's connections, counting those dealt and not yet taken up. */
static size_t
worker_load(const struct worker *wk)
{
	const struct ingest_tcp_counters *c = ingest_tcp_counters(wk->it);

	return LOAD(c->connections) + (size_t)(wk->dealt - LOAD(c->accepted) -
	    LOAD(c->refused) - LOAD(c->moved_in));
}

/* The worker with the fewest connections (the first of equals). */
static struct worker *
workers_lightest(struct workers *w, size_t *loadp)
{
	struct worker *wk = NULL;
	size_t load, best = SIZE_MAX;
	int i;

	for (i = 0; i < w->n; i++)
		if ((load = worker_load(&w->v[i])) < best) {
			best = load;
			wk = &w->v[i];
		}
	*loadp = best;
	return wk;
}

/* Send a connection to a worker; -1 when its pipe is full. */
static int
worker_send(struct worker *wk, struct ingest_tcp_handoff *h)
{
	wk->dealt++;			/* before it can be taken up */
	if (write(wk->adoptfd[1], &h, sizeof(h)) != (ssize_t)sizeof(h)) {
		wk->dealt--;
		return -1;
	}
	return 0;
}

static int
workers_dispatch(void *arg, int fd)
{
	struct workers *w = arg;
	struct ingest_tcp_counters sum = *ingest_tcp_counters(w->main_tcp);
	struct ingest_tcp_handoff *h;
	struct worker *wk;
	size_t load;

	/* limits.max_connections holds over all the loops together. */
	workers_counters(w, &sum);
	if (sum.connections >= (size_t)w->cf->max_connections)
		return -1;
	if (w->stopping)
		return 0;
	/* The loop that would carry the least with it; a tie is the main's. */
	if ((wk = workers_lightest(w, &load)) == NULL ||
	    (load + 1) * WORKER_WEIGHT >=
	    (ingest_tcp_counters(w->main_tcp)->connections + 1) * MAIN_WEIGHT)
		return 0;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return 0;
	h->fd = fd;
	if (worker_send(wk, h) == -1) {
		free(h);
		return 0;		/* its pipe is full: serve it here */
	}
	return 1;
}

/*
 * When a worker has lost connections, move the main loop's to it while
 * that lowers the heaviest load, as dealing would have placed them: so
 * the loops stay even to the end, when the connections of one loop are
 * done before another's.
 */
static void
workers_rebalance(struct workers *w)
{
	struct ingest_tcp_handoff *h;
	struct worker *wk;
	size_t load;

	while (!w->stopping) {
		if ((wk = workers_lightest(w, &load)) == NULL ||
		    ingest_tcp_counters(w->main_tcp)->connections * MAIN_WEIGHT <=
		    (load + 1) * WORKER_WEIGHT)
			break;
		if ((h = ingest_tcp_release(w->main_tcp)) == NULL)
			break;
		if (worker_send(wk, h) == -1) {
			ingest_tcp_adopt_handoff(w->main_tcp, h);
			break;
		}
	}
}

void
workers_attach(struct workers *w, struct ingest_tcp *it)
{
	w->main_tcp = it;
	ingest_tcp_set_dispatch(it, workers_dispatch, w);
}

void
workers_stop(struct workers *w)
{
	int i;

	if (w == NULL || w->stopping)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->n; i++)
		if (w->v[i].started && w->v[i].stopfd[1] != -1)
			net_pipe_wake(w->v[i].stopfd[1]);
}

int
workers_idle(struct workers *w)
{
	int i, idle = 1;

	if (w == NULL)
		return 1;
	pthread_mutex_lock(&w->mu);
	for (i = 0; i < w->n; i++)
		if (w->v[i].started && !w->v[i].exited)
			idle = 0;
	if (!TAILQ_EMPTY(&w->ready))
		idle = 0;
	pthread_mutex_unlock(&w->mu);
	return idle;
}

void
workers_free(struct workers *w)
{
	struct wbatch *b;
	int i;

	if (w == NULL)
		return;
	workers_stop(w);
	for (i = 0; i < w->n; i++) {
		struct worker *wk = &w->v[i];

		if (wk->started)
			pthread_join(wk->th, NULL);
		ingest_tcp_free(wk->it);
		if (wk->stop_ev != NULL)
			event_free(wk->stop_ev);
		if (wk->flush_ev != NULL)
			event_free(wk->flush_ev);
		if (wk->adopt_ev != NULL)
			event_free(wk->adopt_ev);
		if (wk->adoptfd[0] != -1) {
			struct ingest_tcp_handoff *h;

			while (read(wk->adoptfd[0], &h, sizeof(h)) ==
			    (ssize_t)sizeof(h))
				handoff_drop(h);
			close(wk->adoptfd[0]);
		}
		if (wk->adoptfd[1] != -1)
			close(wk->adoptfd[1]);
		if (wk->base != NULL)
			event_base_free(wk->base);
		if (wk->stopfd[0] != -1)
			close(wk->stopfd[0]);
		if (wk->stopfd[1] != -1)
			close(wk->stopfd[1]);
		wbatch_free(wk->cur);
		rules_free(wk->rs);
	}
	/* What the main loop never took: shape it now, nothing is lost. */
	while ((b = TAILQ_FIRST(&w->ready)) != NULL) {
		TAILQ_REMOVE(&w->ready, b, entry);
		workers_shape(w, b);
		wbatch_free(b);
	}
	while ((b = TAILQ_FIRST(&w->spare)) != NULL) {
		TAILQ_REMOVE(&w->spare, b, entry);
		wbatch_free(b);
	}
	if (w->notify_ev != NULL)
		event_free(w->notify_ev);
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->notifyfd[0] != -1)
		close(w->notifyfd[0]);
	if (w->notifyfd[1] != -1)
		close(w->notifyfd[1]);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->text);
	free(w->v);
	free(w);
}

/* Add the workers' listener counters to *sum. */
static void
workers_counters(const struct workers *w, struct ingest_tcp_counters *sum)
{
	const struct ingest_tcp_counters *c;
	int i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++) {
		if (w->v[i].it == NULL)
			continue;
		c = ingest_tcp_counters(w->v[i].it);
		sum->connections += LOAD(c->connections);
		sum->accepted += LOAD(c->accepted);
		sum->refused += LOAD(c->refused);
		sum->timeouts += LOAD(c->timeouts);
		sum->partial += LOAD(c->partial);
		sum->moved_in += LOAD(c->moved_in);
		sum->moved_out += LOAD(c->moved_out);
	}
}

void
workers_report(const void *arg, struct stats_source *out)
{
	const struct workers *w = arg;
	const struct ingest_tcp_counters *own =
	    ingest_tcp_counters(w->main_tcp);
	struct ingest_tcp_counters sum = *own;
	int i;

	ingest_tcp_report(w->main_tcp, out);
	workers_counters(w, &sum);
	out->has |= STATS_LOOPS;
	out->connections = sum.connections;
	out->refused_limit = sum.refused;
	out->partial = sum.partial;
	out->moved = sum.moved_out;
	out->loop_connections[0] = own->connections;
	for (i = 0; i < w->n && i + 1 < STATS_LOOPS_MAX; i++)
		out->loop_connections[i + 1] = w->v[i].it == NULL ? 0 :
		    LOAD(ingest_tcp_counters(w->v[i].it)->connections);
	out->nloops = (size_t)i + 1;
}
