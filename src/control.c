/*
 * control: AIMD on the admitted rate, fed by the sink's back-pressure.
 *
 * Each interval:
 *   pressure        C = max(floor, forwarded rate x decrease)
 *   demand above C  C grows by max(increase x C, 1), and at once to the
 *                   forwarded rate when the sink delivers more than C
 *                   (it is draining a backlog: it can take at least that)
 *   calm            demand below C with no pressure for calm_ns: C is
 *                   lifted (unlimited)
 * In a fleet, the fleet's demand against the fleet's capacity decides
 * between growing and calm instead of this instance's own, and C grows
 * no further than this instance could use (its demand, or twice what
 * it forwards): each instance's C is its part of the fleet's.
 * The floor is the demand of priority 0: the controller never sheds
 * priority 0 itself; if the sink cannot take even that, priority 0 waits
 * in the bounded queue.
 */
#include <limits.h>
#include <math.h>

#include "control.h"

#define NSEC_PER_S	1000000000ULL

void
control_init(struct control *ct, const struct control_params *p,
    uint64_t now)
{
	ct->p = *p;
	if (ct->p.interval_ns == 0)
		ct->p.interval_ns = 250000000ULL;
	if (ct->p.calm_ns == 0)
		ct->p.calm_ns = CONTROL_CALM_NS;
	ct->capacity = INFINITY;
	ct->pressure = 0;
	ct->fwd_rate = 0;
	ct->demand_rate = 0;
	ct->floor = 0;
	ct->ceiling = 0;
	ct->fleet_over = -1;
	ct->probing = 0;
	ct->calm_since = 0;
	ct->last = now;
	ct->fwd_total = 0;
	ct->demand_total = 0;
	ct->decreases = ct->increases = ct->lifts = 0;
	ct->win_len = (unsigned)((NSEC_PER_S + ct->p.interval_ns - 1) /
	    ct->p.interval_ns);
	if (ct->win_len < 1)
		ct->win_len = 1;
	if (ct->win_len > CONTROL_WINDOW_MAX)
		ct->win_len = CONTROL_WINDOW_MAX;
	ct->win_pos = ct->win_n = 0;
	ct->win[0].at = now;
	ct->win[0].fwd = 0;
	ct->win_n = 1;
}

/*
 * The forwarded rate over the last second of steps: a sliding window
 * rather than a smoothed average, so the rate where the sink pushed back
 * is read as it was, not dragged down by an earlier dip.
 */
static double
control_window(struct control *ct, uint64_t now, uint64_t forwarded)
{
	unsigned oldest;
	double r;

	oldest = ct->win_n < ct->win_len ? (ct->win_pos + CONTROL_WINDOW_MAX +
	    1 - ct->win_n) % CONTROL_WINDOW_MAX : (ct->win_pos +
	    CONTROL_WINDOW_MAX + 1 - ct->win_len) % CONTROL_WINDOW_MAX;
	r = now > ct->win[oldest].at ? (double)(forwarded -
	    ct->win[oldest].fwd) * 1e9 / (double)(now - ct->win[oldest].at) :
	    0;
	ct->win_pos = (ct->win_pos + 1) % CONTROL_WINDOW_MAX;
	ct->win[ct->win_pos].at = now;
	ct->win[ct->win_pos].fwd = forwarded;
	if (ct->win_n < CONTROL_WINDOW_MAX)
		ct->win_n++;
	return r;
}

double
control_smooth(double old, double sample, uint64_t dt_ns)
{
	double a = 1.0 - exp(-(double)dt_ns / (double)CONTROL_TAU_NS);

	return old + a * (sample - old);
}

/*
 * How much of the full increase to take on the n-th interval spent at or
 * above the ceiling: nothing while holding, where the sink just pushed
 * back, then a ramp (a gentle probe at first), growing past the full
 * increase while the sink keeps taking more, so a capacity that came back
 * is found in seconds.
 */
static double
control_probe(unsigned n)
{
	double m;

	if (n <= CONTROL_HOLD_STEPS)
		return 0;
	m = (double)(n - CONTROL_HOLD_STEPS) / CONTROL_PROBE_STEPS;
	return m < CONTROL_PROBE_MAX ? m : CONTROL_PROBE_MAX;
}

enum control_change
control_step(struct control *ct, uint64_t now, uint64_t forwarded,
    uint64_t demand, int pressure, double floor)
{
	enum control_change ch = CONTROL_SAME;
	double secs, c = ct->capacity, step, most;
	uint64_t dt;
	int over;

	if (now <= ct->last) {
		ct->fwd_total = forwarded;
		ct->demand_total = demand;
		return CONTROL_SAME;
	}
	dt = now - ct->last;
	secs = (double)dt / 1e9;
	ct->fwd_rate = control_window(ct, now, forwarded);
	ct->demand_rate = control_smooth(ct->demand_rate,
	    (double)(demand - ct->demand_total) / secs, dt);
	ct->fwd_total = forwarded;
	ct->demand_total = demand;
	ct->last = now;
	ct->pressure = pressure;
	ct->floor = floor > 0 ? floor : 0;

	if (pressure) {
		c = ct->fwd_rate * ct->p.decrease;
		/*
		 * Where it hurt: what the sink took over the last second.
		 * One interval alone reads acknowledgements that come in
		 * lumps (a bulk request's worth at once) far too high.
		 */
		ct->ceiling = ct->fwd_rate;
		ct->probing = 0;
		ct->calm_since = 0;
		ch = isinf(ct->capacity) ? CONTROL_LIMITED : CONTROL_DECREASED;
	} else if (!isinf(c)) {
		over = ct->fleet_over >= 0 ? ct->fleet_over :
		    ct->demand_rate > c;
		if (over) {
			/*
			 * Back to where the sink last pushed back at once (it
			 * took that much), then above it probe gently at first
			 * and faster the longer the sink keeps up.
			 */
			step = ct->p.increase * c;
			if (ct->ceiling > 0 && c >= ct->ceiling) {
				ct->probing++;
				step *= control_probe(ct->probing);
			}
			if (step > 0)
				c += step < 1 ? 1 : step;
			/*
			 * Feedback lags a few intervals: never admit more than
			 * twice what the sink took over the last second while
			 * probing, so a fast probe cannot overshoot far.
			 */
			if (ct->probing > 0 && ct->fwd_rate > 0 &&
			    c > 2 * ct->fwd_rate && c > ct->ceiling)
				c = 2 * ct->fwd_rate > ct->ceiling ?
				    2 * ct->fwd_rate : ct->ceiling;
			if (c < ct->ceiling)
				c = ct->ceiling;
			if (ct->fwd_rate > c)
				c = ct->fwd_rate;
			most = 2 * ct->fwd_rate > ct->demand_rate ?
			    2 * ct->fwd_rate : ct->demand_rate;
			if (ct->fleet_over >= 0 && c > most)
				c = most > ct->capacity ? most : ct->capacity;
			ct->calm_since = 0;
			ch = CONTROL_INCREASED;
		} else if (ct->calm_since == 0)
			ct->calm_since = now;
		else if (now - ct->calm_since >= ct->p.calm_ns) {
			c = INFINITY;
			ct->calm_since = 0;
			ch = CONTROL_LIFTED;
		}
	}
	if (!isinf(c) && c < ct->floor)
		c = ct->floor;
	if (!isinf(c) && c < 1)
		c = 1;
	if (ch == CONTROL_DECREASED && c >= ct->capacity)
		ch = CONTROL_SAME;
	switch (ch) {
	case CONTROL_LIMITED:
	case CONTROL_DECREASED:
		ct->decreases++;
		break;
	case CONTROL_INCREASED:
		ct->increases++;
		break;
	case CONTROL_LIFTED:
		ct->lifts++;
		break;
	case CONTROL_SAME:
		break;
	}
	ct->capacity = c;
	return ch;
}

double
control_allocate(double capacity, struct alloc_item *v, size_t n)
{
	double left = capacity, d, give;
	int p = -1, next;
	size_t i;

	for (;;) {
		next = INT_MAX;
		for (i = 0; i < n; i++)
			if (v[i].priority > p && v[i].priority < next)
				next = v[i].priority;
		if (next == INT_MAX)
			break;
		p = next;
		d = 0;
		for (i = 0; i < n; i++)
			if (v[i].priority == p && v[i].demand > 0)
				d += v[i].demand;
		give = d < left ? d : left;
		for (i = 0; i < n; i++)
			if (v[i].priority == p)
				v[i].alloc = d > 0 && v[i].demand > 0 ?
				    give * (v[i].demand / d) : 0;
		left -= give;
	}
	return left > 0 ? left : 0;
}
