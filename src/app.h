/*
 * app: what the admin API and metrics see of the running daemon: the
 * shaper, the sinks, and the sources that report counters.  One instance
 * per process; main keeps the listeners to itself.
 */
#ifndef SPILLWAY_APP_H
#define SPILLWAY_APP_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct config;
struct event_base;
struct levers;
struct rules_error;
struct shaper;
struct sink;

struct app {
	struct event_base	*base;
	struct config		*cf;
	char			*rules_path;	/* NULL: built-in rules */
	struct shaper		*sh;
	struct sink		*sink;
	struct sink		*divert;	/* or NULL */
	struct levers		*levers;	/* overrides, shadow, tap,
						   history (levers.h) */
	struct stats_registry	 stats;		/* the listeners, the Kafka
						   source: what they count */
	uint64_t		 reloads_ok;
	uint64_t		 reloads_error;
	uint64_t		 started;	/* ns */
};

/*
 * Re-read the rules file and put it in force.  Returns 0, or -1 with err
 * filled in (the rules in force stay untouched).  Counts the reload.
 */
int	app_reload(struct app *app, struct rules_error *err);

/*
 * Validate text as rules and put it in force; when the daemon has a rules
 * file, replace it first by atomic rename (*persisted = 1), keeping its
 * permissions.  Returns 0; -1 with err filled in when the text is not
 * valid rules; -2 when it is but the file cannot be written.  Counts the
 * reload, and logs it as `how` ("PUT /rules").
 */
int	app_put_rules(struct app *app, const char *how, const char *text,
	    size_t len, struct rules_error *err, int *persisted);

#endif
