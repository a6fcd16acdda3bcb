/*
 * ingest_tcp: NDJSON over TCP (Logstash's tcp output with json_lines), one
 * event a line, on the main loop or on a worker's.
 */
#ifndef SPILLWAY_INGEST_TCP_H
#define SPILLWAY_INGEST_TCP_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct shaper;
struct stats_source;
struct ingest_tcp;

struct ingest_tcp_counters {
	size_t		 connections;	/* open now */
	uint64_t	 accepted;
	uint64_t	 refused;	/* over max_connections */
	uint64_t	 timeouts;	/* idle connections closed */
	uint64_t	 partial;	/* lines cut short by a disconnect */
	uint64_t	 moved_in;	/* taken over from another loop */
	uint64_t	 moved_out;	/* handed to another loop */
};

/*
 * A connection on its way to another event loop: its socket, the bytes
 * read past its last complete line, and whether it is inside a line too
 * long to keep.
 */
struct ingest_tcp_handoff {
	int		 fd;
	int		 discarding;
	size_t		 len;
	char		 buf[];
};

/* Serve NDJSON on the listening socket fd (taken over). */
struct ingest_tcp *ingest_tcp_new(struct event_base *base, int fd,
		    const struct config *cf, struct shaper *sh);

/*
 * Where a listener on another thread sends its lines instead of the
 * shaper: offer() each complete line, too_large() for each line refused
 * for its size, flush() after each read.
 */
struct ingest_tcp_hooks {
	void	(*offer)(void *arg, const char *line, size_t len,
		    uint64_t now);
	void	(*too_large)(void *arg);
	void	(*flush)(void *arg);
	void	(*closed)(void *arg);	/* a connection ended; may be NULL */
};

/* fd may be -1: no listener, connections come by ingest_tcp_adopt(). */
struct ingest_tcp *ingest_tcp_new_hooked(struct event_base *base, int fd,
		    const struct config *cf, struct shaper *sh,
		    const struct ingest_tcp_hooks *hooks, void *arg);

/*
 * Offer each accepted connection to fn first: 1 when another event loop
 * has taken the descriptor, -1 to refuse it (counted, closed), 0 to serve
 * it here.
 */
void		 ingest_tcp_set_dispatch(struct ingest_tcp *it,
		    int (*fn)(void *arg, int fd), void *arg);

/* Serve a connected socket (taken over) as if this listener accepted it. */
void		 ingest_tcp_adopt(struct ingest_tcp *it, int fd);

/*
 * Take one connection off this listener, between two lines: every
 * complete line it read has been offered.  NULL when it has none.
 */
struct ingest_tcp_handoff *ingest_tcp_release(struct ingest_tcp *it);

/* Serve a connection another listener released; takes h. */
void		 ingest_tcp_adopt_handoff(struct ingest_tcp *it,
		    struct ingest_tcp_handoff *h);

/*
 * Stop accepting and reading; lines already buffered are still offered.
 * Connections are closed.
 */
void		 ingest_tcp_stop(struct ingest_tcp *it);
void		 ingest_tcp_free(struct ingest_tcp *it);
const struct ingest_tcp_counters *ingest_tcp_counters(
		    const struct ingest_tcp *it);

/*
 * A stats_report_fn (stats.h) for the listener it (arg): its connections,
 * those refused (over max_connections, or closed at once to keep
 * descriptors free for the admin port) and its lines cut short.
 */
void		 ingest_tcp_report(const void *it, struct stats_source *out);

#endif
