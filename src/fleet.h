/*
 * fleet: many spillways in front of one sink, shedding as one.
 *
 * Every instance publishes, each control interval, its controller's
 * capacity and its demand by priority (struct fleet_report).  Every
 * instance keeps the last report of each other one it heard within
 * stale_ns, and from them all, its own included, computes the same water
 * line: the fleet's capacity, the sum of the instances' own, is handed
 * out by priority over the fleet's demand, 0 first; each priority is
 * admitted in full, in part (the margin) or not at all, and every
 * instance admits that fraction of its own demand at each priority.
 * Inside one priority the instances thus share in proportion to demand.
 *
 * Pure: no clock, no I/O.  The channel the reports travel on is
 * fleet_kafka's; a unit test drives this module with a fake clock.
 */
#ifndef SPILLWAY_FLEET_H
#define SPILLWAY_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define FLEET_PRIOS	(RULES_PRIORITY_MAX + 1)
#define FLEET_ID_MAX	127		/* bytes of an instance's id */
#define FLEET_PEERS_MAX	4096		/* others kept; more are ignored */
#define FLEET_REPORT_MAX (64 + FLEET_ID_MAX * 6 + FLEET_PRIOS * 32)

/* What one instance tells the others, every control interval. */
struct fleet_report {
	char		 id[FLEET_ID_MAX + 1];
	double		 capacity;	/* its controller's C; +Inf: unlimited */
	int		 nprio;		/* demand[] beyond this is 0 */
	double		 demand[FLEET_PRIOS];	/* events/s, by priority */
};

/* What the last fleet_share() saw, for /stats and /metrics. */
struct fleet_view {
	size_t		 peers;		/* others heard within stale_ns */
	double		 capacity;	/* the fleet's: sum of C, +Inf if any */
	double		 demand;	/* the fleet's, all priorities */
	int		 over;		/* the fleet's demand exceeds its
					   capacity (1) or not (0); -1 when
					   the fleet does not decide: no one
					   else heard, or one is unlimited */
	int		 margin;	/* most important priority the fleet
					   sheds from; -1: it sheds nothing */
	double		 margin_share;	/* of its demand admitted, 0..1 */
	double		 share;		/* what this instance may admit */
	int		 nprio;
	double		 prio_demand[FLEET_PRIOS];	/* the fleet's */
};

struct fleet;

/* Others are forgotten stale_ns after their last report.  NULL: ENOMEM. */
struct fleet	*fleet_new(const char *self_id, uint64_t stale_ns);
void		 fleet_free(struct fleet *f);

const char	*fleet_self(const struct fleet *f);

/*
 * Another instance's report arrived at now.  Reports of this instance
 * itself are ignored (0), as are those past FLEET_PEERS_MAX others.
 * Returns 1 when kept.
 */
int		 fleet_heard(struct fleet *f, const struct fleet_report *r,
		    uint64_t now);

/*
 * The fleet rule at now, with self this instance's own report: forget
 * the others not heard within stale_ns, then return the rate this
 * instance may admit, filling v.  With no one else heard, that is
 * self->capacity: an instance cut off from the others falls back to
 * its local controller, never to admitting everything.  Never less than
 * self's priority-0 demand.
 */
double		 fleet_share(struct fleet *f, const struct fleet_report *self,
		    uint64_t now, struct fleet_view *v);

/*
 * A report as one JSON object, NUL-terminated, into buf (at least
 * FLEET_REPORT_MAX bytes).  Returns its length.
 */
size_t		 fleet_encode(const struct fleet_report *r, char *buf,
		    size_t buflen);

/* Parse a report.  0, or -1 with the reason in err. */
int		 fleet_decode(const char *buf, size_t len,
		    struct fleet_report *r, char *err, size_t errlen);

#endif
