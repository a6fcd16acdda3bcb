/*
 * admin: the operator's listener (SPEC §6): health, metrics, stats and
 * the rules in force; the incident levers are levers.h's.
 */
#ifndef SPILLWAY_ADMIN_H
#define SPILLWAY_ADMIN_H

struct app;
struct http_request;
struct http_server;
struct rules_error;

/* Serve the admin API on the listening socket fd (taken over). */
struct http_server *admin_new(struct app *app, int fd);

/* Answer req with err as {"error":..., "line":L, "column":C}. */
void	 admin_rules_error(struct http_request *req, int status,
	    const struct rules_error *err);

#endif
