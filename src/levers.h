/*
 * levers: what an operator pulls and watches during an incident, on the
 * admin API.  Timed overrides (POST/GET/DELETE /overrides, kept by the
 * shaper), candidate rules in the shadow (PUT/GET/DELETE /rules/shadow,
 * POST /rules/shadow/promote), the live tap (GET /tap) and the last 15
 * minutes of rates (GET /stats/history).  The admin listener routes the
 * requests here; main ticks it once a second.
 */
#ifndef SPILLWAY_LEVERS_H
#define SPILLWAY_LEVERS_H

#include <stdint.h>

struct app;
struct http_request;
struct levers;

/*
 * The levers of app: a tap the shaper tells every fate to, an empty
 * history, no shadow.  NULL without memory.
 */
struct levers	*levers_new(struct app *app);

/* Ends every tap ("shutdown") and detaches from the shaper.  NULL ok. */
void		 levers_free(struct levers *lv);

/*
 * Once a second, after shaper_tick(): a history sample (wall: the wall
 * clock, ns) and each tap subscriber's counter line.
 */
void		 levers_tick(struct levers *lv, uint64_t now, uint64_t wall);

enum levers_answer {
	LEVERS_NONE,		/* not a lever's path: req untouched */
	LEVERS_DONE,		/* answered */
	LEVERS_METHOD,		/* not answered: a method the path lacks */
	LEVERS_UNAUTHORIZED,	/* not answered: it needs the token */
	LEVERS_NOMEM		/* not answered: out of memory */
};

/*
 * Answer req if its path is one of the levers'.  authorized: the
 * request carries the admin token, when there is one; changes and the
 * tap need it.  Whatever is not LEVERS_DONE the caller answers.
 */
enum levers_answer levers_handle(struct levers *lv, struct http_request *req,
		    int authorized);

#endif
