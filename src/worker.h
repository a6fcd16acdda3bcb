/*
 * worker: more event loops for TCP NDJSON, one per thread.
 *
 * With `workers: N`, N-1 threads each run an event loop for TCP
 * connections, which the main loop accepts and deals out, each to the
 * loop with the fewest, its own counted at 5/4.  A worker reads, frames, parses and
 * classifies its lines, the costly part, against its own copy of the rules
 * in force, and hands the results to the main loop in batches.  The main
 * loop alone shapes: buckets, the controller, the queue and every counter
 * stay in one place, so a class rate of R is R in total and counts are
 * exact.
 */
#ifndef SPILLWAY_WORKER_H
#define SPILLWAY_WORKER_H

#include <stddef.h>

struct config;
struct event_base;
struct ingest_tcp;
struct shaper;
struct stats_source;
struct workers;

/* Start n threads.  NULL with a message in err. */
struct workers	*workers_new(struct event_base *base, const struct config *cf,
		    struct shaper *sh, int n, char *err, size_t errlen);

/*
 * Let the main TCP listener deal its connections to the loops, refusing
 * any beyond limits.max_connections over all of them.
 */
void		 workers_attach(struct workers *w, struct ingest_tcp *it);

/* Stop accepting and reading; what was read is still handed over. */
void		 workers_stop(struct workers *w);

/* Every worker has stopped and everything it read has been shaped. */
int		 workers_idle(struct workers *w);

/* Join the threads, free everything.  Accepts NULL. */
void		 workers_free(struct workers *w);

/*
 * A stats_report_fn (stats.h) for the TCP listener and its workers (arg):
 * what ingest_tcp_report() gives, over all the loops, and the
 * connections of each loop.
 */
void		 workers_report(const void *w, struct stats_source *out);

#endif
