/*
 * bucket: a token bucket that is a pure function of the time passed in.
 * No clock, no libevent: tests drive it with a fake clock.
 */
#ifndef SPILLWAY_BUCKET_H
#define SPILLWAY_BUCKET_H

#include <stdint.h>

struct bucket {
	double		tokens;		/* current fill, 0 .. burst */
	double		rate;		/* tokens per second; <= 0: unlimited */
	double		burst;		/* capacity */
	uint64_t	last;		/* ns of the last refill */
};

/* A full bucket at time now.  burst <= 0 means burst = rate. */
void	bucket_init(struct bucket *b, double rate, double burst, uint64_t now);

/*
 * Change rate and burst, keeping the current fill (clamped to the new
 * burst), so that a reload does not hand out a fresh burst.
 */
void	bucket_configure(struct bucket *b, double rate, double burst,
	    uint64_t now);

/*
 * Refill for the time elapsed up to now, then take `cost` tokens if
 * there are that many.  Returns 1 when taken, 0 when the bucket is short.
 * A clock that goes backwards refills nothing.  A cost larger than the
 * burst is taken when the bucket is full, so that no event is too large
 * to ever pass; the bucket then goes into debt (negative fill) so that
 * the long-run rate still holds.
 */
int	bucket_take(struct bucket *b, double cost, uint64_t now);

/*
 * Whether bucket_take(b, cost, now) would succeed, without taking: lets a
 * caller check several buckets before it charges any of them.
 */
int	bucket_check(struct bucket *b, double cost, uint64_t now);

/* Tokens available at time now, after refill; does not take any. */
double	bucket_peek(struct bucket *b, uint64_t now);

#endif
