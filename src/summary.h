/*
 * summary: the drop summaries the shaper makes every 10 s.
 */
#ifndef SPILLWAY_SUMMARY_H
#define SPILLWAY_SUMMARY_H

#include <stdint.h>

struct shaper;

/*
 * If sh dropped anything since the last summary (shutdown aside), forward
 * one summary event in "_spillway" and log one line per class that
 * dropped.  host names this instance; wall is the wall-clock time in ns.
 */
void	summary_make(struct shaper *sh, const char *host, uint64_t wall,
	    uint64_t now);

#endif
