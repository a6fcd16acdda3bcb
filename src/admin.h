/*
 * admin: the operator's listener (SPEC §6): health, metrics, stats and
 * the rules in force.
 */
#ifndef SPILLWAY_ADMIN_H
#define SPILLWAY_ADMIN_H

struct app;
struct http_server;

/* Serve the admin API on the listening socket fd (taken over). */
struct http_server *admin_new(struct app *app, int fd);

#endif
