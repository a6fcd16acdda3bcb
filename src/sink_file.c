/*
 * sink_file: NDJSON to stdout, to a file, or nowhere ("null").  The bytes
 * written are the bytes received.  A record counts as forwarded once its
 * line has been written; above a high watermark of unwritten bytes the
 * sink answers BUSY, which is the back-pressure of a blocked writer (a
 * full pipe, a slow disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include <spillway/clock.h>

#include "config.h"
#include "log.h"
#include "sink.h"

#define FILE_HIGH_WATER	(64u << 10)	/* unwritten bytes before BUSY */

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
	if (sf->want_ready &&
	    evbuffer_get_length(sf->out) < FILE_HIGH_WATER) {
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

static void
sink_file_write(struct sink_file *sf)
{
	size_t before;
	int n;

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
	sf->out = evbuffer_new();
	sf->ackev = event_new(s->base, -1, 0, sink_file_ackcb, sf);
	if (sf->fd != -1)
		sf->wev = event_new(s->base, sf->fd, EV_WRITE, sink_file_wcb,
		    sf);
	if (sf->out == NULL || sf->ackev == NULL ||
	    (sf->fd != -1 && sf->wev == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
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
sink_file_submit(struct sink *s, struct batch *b)
{
	struct sink_file *sf = s->priv;
	struct fbatch *fb;
	struct record *rec;

	if (evbuffer_get_length(sf->out) >= FILE_HIGH_WATER) {
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
		if (!sf->is_null) {
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
sink_file_stats(struct sink *s, struct sink_stats *st)
{
	struct sink_file *sf = s->priv;
	struct fbatch *fb;

	memset(st, 0, sizeof(*st));
	st->up = !sf->failed;
	st->down_since = sf->down_since;
	st->pending_bytes = evbuffer_get_length(sf->out);
	st->pressure = st->pending_bytes >= FILE_HIGH_WATER;
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
	/* Flush what a regular file or a ready pipe takes without waiting. */
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
	.init = sink_file_init,
	.submit = sink_file_submit,
	.poll = NULL,
	.stats = sink_file_stats,
	.reopen = sink_file_reopen,
	.free = sink_file_free,
};
