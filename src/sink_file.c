/*
 * sink_file: NDJSON to stdout, to a file, or nowhere ("null").  The bytes
 * written are the bytes received.  A record counts as forwarded once its
 * line has been written; above a high watermark of unwritten bytes the
 * sink answers BUSY, which is the back-pressure of a blocked writer (a
 * full pipe, a slow disk).
 *
 * A pipe or a socket is written from the event loop, without blocking.
 * A regular file (or a terminal) cannot say "not now", so its write()s
 * go to a thread of their own: the event loop never waits on a disk,
 * and copying the bytes into the page cache, a good part of the cost of
 * an event, runs beside it.  The loop hands over what it appended; the
 * writer reports what it wrote, and a failed write, through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include <spillway/clock.h>

#include "config.h"
#include "log.h"
#include "net.h"
#include "sink.h"

#define FILE_HIGH_WATER	(64u << 10)	/* unwritten bytes before BUSY */
#define FILE_HIGH_WATER_THREAD (1u << 20) /* the same, with a writer thread */

/*
 * The writer thread of a regular file.  The loop copies lines into
 * chunks and hands full ones over; the writer writes them and gives them
 * back.  Chunks never change threads for good, so no memory is freed on
 * a thread other than the one that allocated it.
 */
#define FILE_CHUNK	(256u << 10)
#define FILE_IOV	64
#define FILE_FLUSH_US	1000

struct fchunk {
	struct fchunk	*next;
	size_t		 len;
	char		 buf[FILE_CHUNK];
};

struct fwriter {
	pthread_t	 th;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct fchunk	*full, **fullp;	/* handed over, in order: mu */
	struct fchunk	*spare;		/* written, for reuse: mu */
	struct fchunk	*cur;		/* being filled: the loop's */
	int		 fd;		/* the writer's */
	int		 newfd;		/* after a reopen, or -1: mu */
	uint64_t	 written;	/* bytes written for good: mu */
	int		 err;		/* errno of a failed write, or 0: mu */
	int		 stop;		/* write what is left, then end: mu */
	int		 busy;		/* writing, not waiting: mu */
	int		 told;		/* the loop has a wake-up coming: mu */
	int		 notify[2];	/* to the loop */
	struct event	*nev;
	struct event	*flushev;	/* hands over a chunk part-filled */
};

/* A submitted batch, acknowledged once `end` bytes have been written. */
struct fbatch {
	struct batch	 b;
	uint64_t	 end;
	struct fbatch	*next;
};

struct sink_file {
	struct sink	*sink;
	char		*path;		/* NULL for stdout and null */
	int		 fd;		/* -1 for null */
	int		 is_null;
	int		 pollable;	/* fd may answer EAGAIN */
	struct evbuffer	*out;
	struct event	*wev;		/* fd writable */
	struct event	*ackev;		/* deferred acknowledgements */
	struct fbatch	*head, *tail;	/* pending, in order */
	uint64_t	 appended;	/* bytes ever added to out */
	uint64_t	 written;	/* bytes ever written */
	int		 want_ready;	/* said BUSY; owe a ready() */
	int		 failed;	/* last write failed */
	uint64_t	 down_since;
	struct fwriter	*w;		/* regular files: the writer thread */
	size_t		 high_water;
};

static void	sink_file_write(struct sink_file *);

static int
sink_file_open(struct sink_file *sf, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(sf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1) {
		snprintf(err, errlen, "%s: %s", sf->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* A FIFO or a device: never block the loop on it. */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		sf->pollable = 1;
	} else
		sf->pollable = 0;
	sf->fd = fd;
	return 0;
}

/* Acknowledge every batch whose bytes are all written, or all of them. */
static void
sink_file_ack(struct sink_file *sf, int all, enum sink_outcome outcome)
{
	struct fbatch *fb;
	struct record *rec;

	while ((fb = sf->head) != NULL && (all || fb->end <= sf->written)) {
		sf->head = fb->next;
		if (sf->head == NULL)
			sf->tail = NULL;
		while ((rec = TAILQ_FIRST(&fb->b.recs)) != NULL) {
			TAILQ_REMOVE(&fb->b.recs, rec, link);
			sink_done(sf->sink, rec, outcome);
		}
		free(fb);
	}
	if (sf->want_ready && sf->appended - sf->written < sf->high_water) {
		sf->want_ready = 0;
		sink_ready(sf->sink);
	}
}

static void
sink_file_ackcb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_file *sf = arg;

	(void)fd;
	(void)what;
	sink_file_ack(sf, 0, SINK_FORWARDED);
}

static void
sink_file_wcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sink_file_write(arg);
}

/* -- the writer thread */

static void
fchunks_free(struct fchunk *c)
{
	struct fchunk *next;

	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
}

/* Write the chunks in order; the bytes written, *err on a failure. */
static uint64_t
fwriter_writev(int fd, struct fchunk *c, int *err)
{
	struct iovec iov[FILE_IOV];
	size_t off = 0;			/* into c, already written */
	uint64_t done = 0;
	ssize_t n;
	int k;

	*err = 0;
	while (c != NULL) {
		struct fchunk *p = c;

		for (k = 0; k < FILE_IOV && p != NULL; k++, p = p->next) {
			iov[k].iov_base = p->buf + (k == 0 ? off : 0);
			iov[k].iov_len = p->len - (k == 0 ? off : 0);
		}
		if ((n = writev(fd, iov, k)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			*err = n == 0 ? EIO : errno;
			return done;
		}
		done += (uint64_t)n;
		/* Move past what went out. */
		while (c != NULL && (size_t)n >= c->len - off) {
			n -= (ssize_t)(c->len - off);
			off = 0;
			c = c->next;
		}
		if (c != NULL)
			off += (size_t)n;
	}
	return done;
}

static void *
fwriter_main(void *arg)
{
	struct fwriter *w = arg;
	struct fchunk *got, *last;
	uint64_t done;
	int err;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->err == 0 && w->newfd == -1 &&
		    w->full == NULL) {
			w->busy = 0;
			pthread_cond_wait(&w->cv, &w->mu);
		}
		w->busy = 1;
		if (w->err != 0) {		/* until the loop has seen it */
			if (w->stop)
				break;
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		if (w->newfd != -1) {
			close(w->fd);
			w->fd = w->newfd;
			w->newfd = -1;
		}
		if ((got = w->full) == NULL) {
			if (w->stop)
				break;
			continue;
		}
		w->full = NULL;
		w->fullp = &w->full;
		pthread_mutex_unlock(&w->mu);

		done = fwriter_writev(w->fd, got, &err);

		for (last = got; last->next != NULL; last = last->next)
			last->len = 0;
		last->len = 0;
		pthread_mutex_lock(&w->mu);
		last->next = w->spare;
		w->spare = got;
		w->written += done;
		w->err = err;
		if (!w->told) {
			w->told = 1;
			net_pipe_wake(w->notify[1]);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void	sink_file_written(struct sink_file *, uint64_t, int);
static void	fwriter_push(struct fwriter *);

/* What the writer did: on the loop. */
static void
fwriter_notifycb(evutil_socket_t fd, short what, void *arg)
{
	struct sink_file *sf = arg;
	struct fwriter *w = sf->w;
	struct fchunk *c;
	uint64_t written;
	int err;

	(void)what;
	net_pipe_drain(fd);
	pthread_mutex_lock(&w->mu);
	w->told = 0;
	written = w->written;
	err = w->err;
	if (err != 0) {
		/* Everything not written fails; the writer goes on after. */
		while ((c = w->full) != NULL) {
			w->full = c->next;
			c->len = 0;
			c->next = w->spare;
			w->spare = c;
		}
		w->fullp = &w->full;
		if (w->cur != NULL)
			w->cur->len = 0;
		w->err = 0;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	sink_file_written(sf, written, err);
}

/*
 * Hand the chunk being filled to the writer, waking it if it waits.  A
 * full chunk goes at once; one part-filled goes FILE_FLUSH_US after the
 * first bytes in it, so that a steady stream makes few hand-overs (a
 * wake-up costs more than a chunk's worth of copying) and a trickle
 * still goes out within a millisecond.
 */
static void
fwriter_push(struct fwriter *w)
{
	struct fchunk *c = w->cur;

	if (c == NULL || c->len == 0)
		return;
	w->cur = NULL;
	c->next = NULL;
	pthread_mutex_lock(&w->mu);
	*w->fullp = c;
	w->fullp = &c->next;
	if (!w->busy)
		pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
fwriter_flushcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fwriter_push(arg);
}

/* Copy len bytes for the writer; -1 without memory. */
static int
fwriter_append(struct fwriter *w, const char *p, size_t len)
{
	size_t n;

	while (len > 0) {
		if (w->cur == NULL) {
			pthread_mutex_lock(&w->mu);
			if ((w->cur = w->spare) != NULL)
				w->spare = w->cur->next;
			pthread_mutex_unlock(&w->mu);
			if (w->cur == NULL &&
			    (w->cur = malloc(sizeof(*w->cur))) == NULL)
				return -1;
			w->cur->len = 0;
			w->cur->next = NULL;
		}
		n = FILE_CHUNK - w->cur->len;
		if (n > len)
			n = len;
		memcpy(w->cur->buf + w->cur->len, p, n);
		w->cur->len += n;
		p += n;
		len -= n;
		if (w->cur->len == FILE_CHUNK)
			fwriter_push(w);
	}
	return 0;
}

static struct fwriter *
fwriter_new(struct sink_file *sf, char *err, size_t errlen)
{
	struct fwriter *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->fd = sf->fd;
	w->newfd = -1;
	w->fullp = &w->full;
	w->notify[0] = w->notify[1] = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (net_pipe(w->notify) == -1 ||
	    (w->nev = event_new(sf->sink->base, w->notify[0],
	    EV_READ | EV_PERSIST, fwriter_notifycb, sf)) == NULL ||
	    event_priority_set(w->nev, SPILLWAY_PRIO_SINK) == -1 ||
	    event_add(w->nev, NULL) == -1 ||
	    (w->flushev = evtimer_new(sf->sink->base, fwriter_flushcb,
	    w)) == NULL) {
		snprintf(err, errlen, "cannot set up the file writer");
		goto fail;
	}
	if (pthread_create(&w->th, NULL, fwriter_main, w) != 0) {
		snprintf(err, errlen, "cannot start the file writer: %s",
		    strerror(errno));
		goto fail;
	}
	pthread_setname_np(w->th, "file writer");
	return w;
fail:
	if (w->nev != NULL)
		event_free(w->nev);
	if (w->flushev != NULL)
		event_free(w->flushev);
	if (w->notify[0] != -1)
		close(w->notify[0]);
	if (w->notify[1] != -1)
		close(w->notify[1]);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	return NULL;
}

/*
 * Let the writer write what is left, join it, and give back the file,
 * which it owns until then.  Returns the descriptor to close.
 */
static int
fwriter_free(struct sink_file *sf)
{
	struct fwriter *w = sf->w;
	int fd;

	fwriter_push(w);
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	if (w->newfd != -1) {
		close(w->fd);
		w->fd = w->newfd;
	}
	fd = w->fd;
	/* What it reported last, and a failure, count as always. */
	sink_file_written(sf, w->written, w->err);
	event_free(w->nev);
	event_free(w->flushev);
	close(w->notify[0]);
	close(w->notify[1]);
	fchunks_free(w->full);
	fchunks_free(w->spare);
	free(w->cur);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	sf->w = NULL;
	return fd;
}

/*
 * The writer has written up to `written` bytes of all appended; err: a
 * write failed and everything after that is lost.
 */
static void
sink_file_written(struct sink_file *sf, uint64_t written, int err)
{
	sf->written = written;
	if (err != 0) {
		if (!sf->failed)
			log_err("sink %s: write %s: %s", sf->sink->label,
			    sf->path ? sf->path : "stdout", strerror(err));
		sf->failed = 1;
		if (sf->down_since == 0)
			sf->down_since = clock_now_ns();
		sink_file_ack(sf, 0, SINK_FORWARDED);
		sf->written = sf->appended;
		sink_file_ack(sf, 1, SINK_ERROR);
		return;
	}
	if (sf->failed && sf->written == sf->appended) {
		log_info("sink %s: writing again", sf->sink->label);
		sf->failed = 0;
		sf->down_since = 0;
	}
	sink_file_ack(sf, 0, SINK_FORWARDED);
}

/* -- writing */

static void
sink_file_write(struct sink_file *sf)
{
	size_t before;
	int n;

	if (sf->w != NULL) {
		struct timeval tv = { 0, FILE_FLUSH_US };

		if (sf->w->cur != NULL && sf->w->cur->len > 0 &&
		    !evtimer_pending(sf->w->flushev, NULL))
			evtimer_add(sf->w->flushev, &tv);
		return;
	}
	if (sf->is_null) {
		sf->written = sf->appended;
		event_active(sf->ackev, EV_WRITE, 0);
		return;
	}
	while ((before = evbuffer_get_length(sf->out)) > 0) {
		n = evbuffer_write(sf->out, sf->fd);
		if (n > 0) {
			sf->written += (uint64_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			event_add(sf->wev, NULL);
			break;
		}
		/* A real error: everything pending fails, the sink goes on. */
		if (!sf->failed)
			log_err("sink %s: write %s: %s", sf->sink->label,
			    sf->path ? sf->path : "stdout",
			    n == 0 ? "no progress" : strerror(errno));
		sf->failed = 1;
		if (sf->down_since == 0)
			sf->down_since = clock_now_ns();
		evbuffer_drain(sf->out, before);
		sf->written = sf->appended;
		sink_file_ack(sf, 1, SINK_ERROR);
		return;
	}
	if (evbuffer_get_length(sf->out) == 0 && sf->failed) {
		log_info("sink %s: writing again", sf->sink->label);
		sf->failed = 0;
		sf->down_since = 0;
	}
	event_active(sf->ackev, EV_WRITE, 0);
}

static int
sink_file_init(struct sink *s, const char *url, const struct config *cf,
    char *err, size_t errlen)
{
	struct sink_file *sf;

	(void)cf;
	if ((sf = calloc(1, sizeof(*sf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sf->sink = s;
	sf->fd = -1;
	if (strcmp(url, "null") == 0)
		sf->is_null = 1;
	else if (strcmp(url, "stdout") == 0) {
		struct stat st;

		sf->fd = STDOUT_FILENO;
		if (fstat(sf->fd, &st) == 0 && (S_ISFIFO(st.st_mode) ||
		    S_ISSOCK(st.st_mode))) {
			fcntl(sf->fd, F_SETFL,
			    fcntl(sf->fd, F_GETFL) | O_NONBLOCK);
			sf->pollable = 1;
		}
	} else {
		if (url[5] == '\0') {
			snprintf(err, errlen, "file: sink needs a path");
			goto fail;
		}
		if ((sf->path = strdup(url + 5)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (sink_file_open(sf, err, errlen) == -1)
			goto fail;
	}
	sf->high_water = FILE_HIGH_WATER;
	sf->out = evbuffer_new();
	sf->ackev = event_new(s->base, -1, 0, sink_file_ackcb, sf);
	if (sf->fd != -1 && sf->pollable)
		sf->wev = event_new(s->base, sf->fd, EV_WRITE, sink_file_wcb,
		    sf);
	if (sf->out == NULL || sf->ackev == NULL ||
	    (sf->pollable && sf->wev == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (sf->fd != -1 && !sf->pollable) {
		if ((sf->w = fwriter_new(sf, err, errlen)) == NULL)
			goto fail;
		sf->high_water = FILE_HIGH_WATER_THREAD;
	}
	s->priv = sf;
	return 0;
fail:
	if (sf->out != NULL)
		evbuffer_free(sf->out);
	if (sf->ackev != NULL)
		event_free(sf->ackev);
	if (sf->path != NULL && sf->fd != -1)
		close(sf->fd);
	free(sf->path);
	free(sf);
	return -1;
}

static enum sink_status
sink_file_submit(struct sink *s, struct batch *b, uint64_t now)
{
	struct sink_file *sf = s->priv;
	struct fbatch *fb;
	struct record *rec;

	(void)now;		/* a write is done when it is done */
	if (sf->appended - sf->written >= sf->high_water) {
		sf->want_ready = 1;
		return SINK_BUSY;
	}
	if ((fb = malloc(sizeof(*fb))) == NULL) {
		sf->want_ready = 1;
		return SINK_BUSY;
	}
	batch_init(&fb->b);
	while ((rec = TAILQ_FIRST(&b->recs)) != NULL) {
		TAILQ_REMOVE(&b->recs, rec, link);
		if (sf->w != NULL) {
			if (fwriter_append(sf->w, rec->data, rec->len) == -1 ||
			    fwriter_append(sf->w, "\n", 1) == -1)
				log_err("sink %s: out of memory; a line is "
				    "lost", s->label);
		} else if (!sf->is_null) {
			evbuffer_add(sf->out, rec->data, rec->len);
			evbuffer_add(sf->out, "\n", 1);
		}
		sf->appended += rec->len + 1;
		batch_add(&fb->b, rec);
	}
	b->n = 0;
	b->bytes = 0;
	fb->end = sf->appended;
	fb->next = NULL;
	if (sf->tail != NULL)
		sf->tail->next = fb;
	else
		sf->head = fb;
	sf->tail = fb;
	sink_file_write(sf);
	return SINK_OK;
}

static void
sink_file_stats(struct sink *s, struct sink_stats *st, uint64_t now)
{
	struct sink_file *sf = s->priv;
	struct fbatch *fb;

	(void)now;
	memset(st, 0, sizeof(*st));
	st->up = !sf->failed;
	st->down_since = sf->down_since;
	st->pending_bytes = sf->appended - sf->written;
	st->pressure = st->pending_bytes >= sf->high_water;
	for (fb = sf->head; fb != NULL; fb = fb->next)
		st->pending += fb->b.n;
}

static void
sink_file_reopen(struct sink *s)
{
	struct sink_file *sf = s->priv;
	char err[256];
	int old = sf->fd;

	if (sf->path == NULL)
		return;
	if (sink_file_open(sf, err, sizeof(err)) == -1) {
		log_err("sink %s: reopen: %s", s->label, err);
		sf->fd = old;
		return;
	}
	if (sf->pollable == (sf->w != NULL)) {
		/* A file that became a FIFO, or a FIFO that became a file. */
		log_err("sink %s: reopen: %s is no longer what it was; "
		    "writing on to the old one", s->label, sf->path);
		close(sf->fd);
		sf->fd = old;
		sf->pollable = sf->w == NULL;
		return;
	}
	if (sf->w != NULL) {
		/* The writer closes the old file after what it holds. */
		pthread_mutex_lock(&sf->w->mu);
		if (sf->w->newfd != -1)
			close(sf->w->newfd);
		sf->w->newfd = sf->fd;
		pthread_cond_signal(&sf->w->cv);
		pthread_mutex_unlock(&sf->w->mu);
		return;
	}
	event_del(sf->wev);
	event_free(sf->wev);
	close(old);
	sf->wev = event_new(s->base, sf->fd, EV_WRITE, sink_file_wcb, sf);
	if (evbuffer_get_length(sf->out) > 0)
		sink_file_write(sf);
}

static void
sink_file_free(struct sink *s)
{
	struct sink_file *sf = s->priv;

	if (sf == NULL)
		return;
	/* The writer writes what it was handed; the file is its until then. */
	if (sf->w != NULL) {
		sink_file_write(sf);
		sf->fd = fwriter_free(sf);
	}
	/* Flush what a ready pipe takes without waiting. */
	if (!sf->is_null && sf->fd != -1 && !sf->failed)
		while (evbuffer_get_length(sf->out) > 0) {
			int n = evbuffer_write(sf->out, sf->fd);

			if (n <= 0)
				break;
			sf->written += (uint64_t)n;
		}
	if (sf->is_null)
		sf->written = sf->appended;
	sink_file_ack(sf, 0, SINK_FORWARDED);
	sf->want_ready = 0;
	sink_file_ack(sf, 1, SINK_ABORTED);
	if (sf->wev != NULL)
		event_free(sf->wev);
	event_free(sf->ackev);
	evbuffer_free(sf->out);
	if (sf->path != NULL && sf->fd != -1)
		close(sf->fd);
	free(sf->path);
	free(sf);
	s->priv = NULL;
}

const struct sink_ops sink_file_ops = {
	.name = "file",
	.caps = SINK_CAP_SHOW_URL,
	.init = sink_file_init,
	.submit = sink_file_submit,
	.poll = NULL,
	.stats = sink_file_stats,
	.reopen = sink_file_reopen,
	.metrics = NULL,
	.probe = NULL,		/* opened at start-up: nothing to probe */
	.free = sink_file_free,
};
