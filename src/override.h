/*
 * override: the timed levers an operator pulls during an incident
 * (POST /overrides): cap a class's rate, shed every priority from P on,
 * or move a class to another priority, each for a while, undone by
 * itself.  None of them can shed priority 0 unless it was asked with
 * "force": true, neither when it is added nor later, after a reload
 * made a class priority 0.
 *
 * Pure: time is a parameter (ns, monotonic), and what applies to a
 * class is asked by name, so overrides outlive rule reloads.
 */
#ifndef SPILLWAY_OVERRIDE_H
#define SPILLWAY_OVERRIDE_H

#include <stddef.h>
#include <stdint.h>

#include "bucket.h"
#include "rules.h"

#define OVERRIDE_MAX		64		/* active at once */
#define OVERRIDE_REASON_MAX	255
#define OVERRIDE_FOR_MAX_NS	(7ULL * 24 * 3600 * 1000000000ULL)

enum override_kind {
	OVERRIDE_RATE,		/* {"class": C, "rate": R} */
	OVERRIDE_SHED,		/* {"priority_at_least": P, "shed": true} */
	OVERRIDE_PRIORITY	/* {"class": C, "priority": P} */
};

struct override {
	uint64_t		 id;		/* from overrides_add() */
	enum override_kind	 kind;
	char			 class_name[RULES_NAME_MAX + 1];
	double			 rate;		/* RATE: events/s, >= 0 */
	int			 priority;	/* SHED: from; PRIORITY: to */
	int			 force;		/* may shed priority 0 */
	char			 reason[OVERRIDE_REASON_MAX + 1];
	uint64_t		 created;	/* ns */
	uint64_t		 expires;	/* ns */
	uint64_t		 shed;		/* events it dropped */
	struct bucket		 bucket;	/* RATE: burst one second */
};

/*
 * A duration such as "90s", "15m", "2h" or "1h30m" (units ms, s, m, h,
 * each at most once, largest first) in ns.  0, or -1 when it is not one,
 * is 0, or is longer than OVERRIDE_FOR_MAX_NS.
 */
int		 override_duration(const char *s, uint64_t *ns);

/*
 * Parse a POST /overrides body into o, to start at now.  The class's
 * existence and priority are checked by overrides_add(), against the
 * rules in force.  0, or -1 with the reason in err.
 */
int		 override_parse(const char *body, size_t len, uint64_t now,
		    struct override *o, char *err, size_t errlen);

struct evbuffer;
struct overrides;

struct overrides *overrides_new(void);
void		 overrides_free(struct overrides *ovs);

/*
 * Put o in force under the rules rs: its class must be one of them, and
 * unless o->force, o must not shed priority 0 (a rate on a class that is
 * priority 0 now, priority_at_least 0, or moving a class away from
 * priority 0).  Gives o its id.  0, or -1 with the reason in err (the
 * table is full, or the checks fail).
 */
int		 overrides_add(struct overrides *ovs, struct override *o,
		    const struct ruleset *rs, char *err, size_t errlen);

/* End override id early: 0, or -1 when there is none. */
int		 overrides_remove(struct overrides *ovs, uint64_t id);

/*
 * Remove those expired at now, calling done(arg, o) for each before it
 * goes (for the log).  Returns how many went.
 */
size_t		 overrides_expire(struct overrides *ovs, uint64_t now,
		    void (*done)(void *, const struct override *), void *arg);

size_t		 overrides_count(const struct overrides *ovs);

/* The i-th active override, in order of creation. */
struct override	*overrides_at(const struct overrides *ovs, size_t i);

/* A class's priority under the overrides: prio unless one moves it. */
int		 overrides_priority(const struct overrides *ovs,
		    const char *name, int prio);

/*
 * The override that drops an event of class name, now of priority prio
 * (after overrides_priority()), costing cost tokens, at now: a shed
 * override covering prio, or a rate override of the class whose bucket
 * has no room for it (its tokens are taken when there is).  None applies
 * to priority 0 without force.  NULL: none drops it.  The caller counts
 * the drop in the override's shed.
 */
struct override	*overrides_drop(struct overrides *ovs, const char *name,
		    int prio, double cost, uint64_t now);

/* The time o has left at now, in ns (0 once expired). */
uint64_t	 override_left(const struct override *o, uint64_t now);

/*
 * o as JSON at now, appended to out: {"id":N,"kind":"rate"|"shed"|
 * "priority", "class":C (rate, priority), "rate":R (rate),
 * "priority_at_least":P (shed), "priority":P (priority), "force":bool,
 * "reason":"...", "for_s":S, "left_s":S, "shed":N}.  0, or -1 without
 * memory.
 */
int		 override_json(const struct override *o, uint64_t now,
		    struct evbuffer *out);

/* Every override in force, a JSON array of override_json()'s. */
int		 overrides_json(const struct overrides *ovs, uint64_t now,
		    struct evbuffer *out);

#endif
