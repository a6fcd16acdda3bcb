/*
 * shadow: a candidate rule set classifying live traffic beside the rules
 * in force, changing nothing (PUT /rules/shadow).  For every sampled
 * event it counts the pair (class in force, class under the candidate)
 * in one-minute slots; GET /rules/shadow shows the pairs of the last
 * SHADOW_SLOTS minutes, which is `classify --diff` on live traffic.
 *
 * Called on the main loop for each event the shaper is offered, after
 * the event's own classification is done with.
 */
#ifndef SPILLWAY_SHADOW_H
#define SPILLWAY_SHADOW_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define SHADOW_SLOTS		5	/* minutes shown */
#define SHADOW_PAIRS_MAX	4096	/* more pairs count as "(other)" */
#define SHADOW_SAMPLE_MAX	1000000
/*
 * One event in ten unless asked otherwise: on every event a candidate
 * costs about as much CPU again as the rules in force (docs/benchmarks.md).
 */
#define SHADOW_SAMPLE_DEFAULT	10

struct evbuffer;
struct shadow;

/*
 * A shadow for the candidate rules rs (ownership taken), classifying one
 * event in every `sample` (1: all).  NULL without memory.
 */
struct shadow	*shadow_new(struct ruleset *rs, unsigned sample,
		    uint64_t now);

/* Frees the candidate too, unless shadow_take() took it. */
void		 shadow_free(struct shadow *sh);

/* The candidate, for promoting it; the shadow keeps no rules after. */
struct ruleset	*shadow_take(struct shadow *sh);

const struct ruleset *shadow_rules(const struct shadow *sh);

/*
 * One live event (len bytes), classified in force as live_class, at now
 * (ns).  Classifies it under the candidate when it is sampled.
 */
void		 shadow_event(struct shadow *sh, const char *line, size_t len,
		    const char *live_class, uint64_t now);

/*
 * The counts as JSON: {"sample":N,"window_s":300,"age_s":S,"events":N,
 * "moved":N,"cpu_ns_per_event":X,"pairs":[{"from":...,"to":...,
 * "events":N,"moved":bool},...]}, the pairs of the last SHADOW_SLOTS
 * minutes, most events first; cpu_ns_per_event is the CPU time each
 * classification under the candidate took, on average.
 */
int		 shadow_json(const struct shadow *sh, uint64_t now,
		    struct evbuffer *out);

#endif
