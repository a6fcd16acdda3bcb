/*
 * Histograms with fixed bucket bounds (Prometheus style): counts per
 * bucket, not cumulative; the last bucket is +Inf.  Shared by the sink's
 * request durations and the shaper's event lag.
 */
#ifndef SPILLWAY_HIST_H
#define SPILLWAY_HIST_H

#include <stddef.h>

/* The bucket of v among n ascending bounds: the first >= v, n for +Inf. */
static inline size_t
hist_bucket(const double *bounds, size_t n, double v)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (bounds[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif
