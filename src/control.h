/*
 * control: the capacity controller and the allocation by priority.
 *
 * Pure arithmetic on counts and times handed in by the caller: no clock,
 * no libevent, no sink.  The shaper feeds it once per interval; unit
 * tests drive it with a fake clock and scripted pressure.
 */
#ifndef SPILLWAY_CONTROL_H
#define SPILLWAY_CONTROL_H

#include <stddef.h>
#include <stdint.h>

/* How long demand must stay below C, with no pressure, before C is lifted. */
#define CONTROL_CALM_NS		(5ULL * 1000000000ULL)
/*
 * Above the ceiling: hold this many intervals, then probe, reaching the
 * full increase after CONTROL_PROBE_STEPS more and growing on to
 * CONTROL_PROBE_MAX times it.
 */
#define CONTROL_HOLD_STEPS	4
#define CONTROL_PROBE_STEPS	4
#define CONTROL_PROBE_MAX	4.0
/* The forwarded rate is measured over the last second, at most this
 * many intervals. */
#define CONTROL_WINDOW_MAX	64
/* Time constant of the smoothed rates. */
#define CONTROL_TAU_NS		(1000000000ULL)

struct control_params {
	uint64_t	 interval_ns;
	double		 decrease;	/* C = forwarded rate x decrease */
	double		 increase;	/* C grows by increase x C */
	uint64_t	 calm_ns;	/* lift after this long calm */
};

/* What a step did, for the operator's log. */
enum control_change {
	CONTROL_SAME,
	CONTROL_LIMITED,	/* unlimited -> a finite C */
	CONTROL_DECREASED,
	CONTROL_INCREASED,
	CONTROL_LIFTED		/* back to unlimited */
};

struct control {
	struct control_params p;
	double		 capacity;	/* admitted events/s, +Inf: unlimited */
	int		 pressure;	/* seen in the last step */
	double		 fwd_rate;	/* forwarded events/s, last second */
	double		 demand_rate;	/* smoothed events/s asking admission */
	double		 floor;		/* C never goes below (priority 0) */
	double		 ceiling;	/* forwarded rate at the last pressure */
	/*
	 * In a fleet (fleet.h), whether the fleet's demand exceeds its
	 * capacity, set by the caller before each step: 1 or 0 decides in
	 * place of this instance's own demand whether C grows or, calm, is
	 * lifted; -1 (the default): this instance's own demand decides.
	 */
	int		 fleet_over;
	uint64_t	 calm_since;	/* ns; 0 while not calm */
	unsigned	 probing;	/* intervals spent above the ceiling */
	uint64_t	 last;		/* ns of the last step; 0: none yet */
	uint64_t	 fwd_total;	/* counts at the last step */
	uint64_t	 demand_total;
	struct {
		uint64_t at, fwd;
	}		 win[CONTROL_WINDOW_MAX];	/* past steps */
	unsigned	 win_len, win_pos, win_n;
	uint64_t	 decreases;	/* steps, ever */
	uint64_t	 increases;
	uint64_t	 lifts;
};

void	control_init(struct control *ct, const struct control_params *p,
	    uint64_t now);

/*
 * One interval ends at now.  forwarded and demand are cumulative counts
 * (events acknowledged by the sink; events that passed their fixed
 * buckets and asked the controller for admission); pressure tells
 * whether the sink pushed back during the interval; floor is the
 * smoothed demand of priority 0, below which C never goes, so the
 * controller itself never sheds priority 0.
 */
enum control_change control_step(struct control *ct, uint64_t now,
	    uint64_t forwarded, uint64_t demand, int pressure, double floor);

/* Exponential smoothing of a rate: old moved toward sample over dt. */
double	control_smooth(double old, double sample, uint64_t dt_ns);

/* One class as the allocator sees it. */
struct alloc_item {
	int		 priority;
	double		 demand;	/* events/s */
	double		 alloc;		/* out: events/s */
};

/*
 * Hand capacity out in priority order, 0 first: each priority gets
 * min(its demand, what is left); classes inside one priority share that
 * in proportion to their demand.  Returns what no class asked for (the
 * spare), 0 when capacity is short.  An infinite capacity gives every
 * class its demand and an infinite spare.
 */
double	control_allocate(double capacity, struct alloc_item *v, size_t n);

#endif
