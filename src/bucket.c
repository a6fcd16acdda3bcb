/*
 * bucket: token bucket arithmetic in doubles.  A double holds every
 * integer up to 2^53 exactly, far beyond any rate or burst in events or
 * bytes, and it cannot overflow the way a scaled integer can when the
 * elapsed time is long: the refill is clamped to the burst before use.
 */
#include "bucket.h"

static void
bucket_refill(struct bucket *b, uint64_t now)
{
	double add;

	if (now <= b->last)
		return;
	if (b->tokens < b->burst) {
		add = (double)(now - b->last) * b->rate / 1e9;
		b->tokens = add >= b->burst - b->tokens ? b->burst :
		    b->tokens + add;
	}
	b->last = now;
}

void
bucket_init(struct bucket *b, double rate, double burst, uint64_t now)
{
	b->rate = rate;
	b->burst = burst > 0 ? burst : rate;
	b->tokens = b->burst;
	b->last = now;
}

void
bucket_configure(struct bucket *b, double rate, double burst, uint64_t now)
{
	bucket_refill(b, now);
	b->rate = rate;
	b->burst = burst > 0 ? burst : rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
}

int
bucket_check(struct bucket *b, double cost, uint64_t now)
{
	if (b->rate <= 0)
		return 1;
	bucket_refill(b, now);
	return b->tokens >= cost || (cost > b->burst && b->tokens >= b->burst);
}

int
bucket_take(struct bucket *b, double cost, uint64_t now)
{
	if (!bucket_check(b, cost, now))
		return 0;
	/*
	 * An event larger than the burst leaves the bucket in debt, so the
	 * long-run rate holds for large events too.
	 */
	if (b->rate > 0)
		b->tokens -= cost;
	return 1;
}

double
bucket_peek(struct bucket *b, uint64_t now)
{
	bucket_refill(b, now);
	return b->tokens;
}
