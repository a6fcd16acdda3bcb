/*
 * fleet: the fleet-wide water line (fleet.h).
 *
 * The others are kept in an array, looked up by id with a linear scan:
 * a report is a few hundred bytes that arrives a few times a second per
 * instance, so even a fleet of thousands costs little next to the events.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleet.h"
#include "record.h"

struct peer {
	struct fleet_report	 r;
	uint64_t		 heard;		/* ns */
};

struct fleet {
	char		 self[FLEET_ID_MAX + 1];
	uint64_t	 stale_ns;
	struct peer	**peers;
	size_t		 npeers;
	size_t		 cap;
};

struct fleet *
fleet_new(const char *self_id, uint64_t stale_ns)
{
	struct fleet *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	snprintf(f->self, sizeof(f->self), "%s", self_id);
	f->stale_ns = stale_ns;
	return f;
}

void
fleet_free(struct fleet *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->npeers; i++)
		free(f->peers[i]);
	free(f->peers);
	free(f);
}

const char *
fleet_self(const struct fleet *f)
{
	return f->self;
}

int
fleet_heard(struct fleet *f, const struct fleet_report *r, uint64_t now)
{
	struct peer *p, **np;
	size_t i, ncap;

	if (strcmp(r->id, f->self) == 0)
		return 0;
	for (i = 0; i < f->npeers; i++)
		if (strcmp(f->peers[i]->r.id, r->id) == 0)
			break;
	if (i == f->npeers) {
		if (f->npeers >= FLEET_PEERS_MAX)
			return 0;
		if (f->npeers == f->cap) {
			ncap = f->cap ? f->cap * 2 : 16;
			if ((np = realloc(f->peers, ncap * sizeof(*np))) ==
			    NULL)
				return 0;
			f->peers = np;
			f->cap = ncap;
		}
		if ((p = malloc(sizeof(*p))) == NULL)
			return 0;
		f->peers[f->npeers++] = p;
	}
	p = f->peers[i];
	p->r = *r;
	if (p->r.nprio < 0 || p->r.nprio > FLEET_PRIOS)
		p->r.nprio = FLEET_PRIOS;
	p->heard = now;
	return 1;
}

/* Forget the others not heard from within stale_ns. */
static void
fleet_expire(struct fleet *f, uint64_t now)
{
	size_t i = 0;

	while (i < f->npeers) {
		if (now - f->peers[i]->heard > f->stale_ns) {
			free(f->peers[i]);
			f->peers[i] = f->peers[--f->npeers];
		} else
			i++;
	}
}

/* Add r's capacity and demand into v. */
static void
fleet_add(struct fleet_view *v, const struct fleet_report *r)
{
	int p;

	v->capacity += r->capacity;
	for (p = 0; p < r->nprio; p++) {
		v->prio_demand[p] += r->demand[p];
		v->demand += r->demand[p];
	}
	if (r->nprio > v->nprio)
		v->nprio = r->nprio;
}

double
fleet_share(struct fleet *f, const struct fleet_report *self, uint64_t now,
    struct fleet_view *v)
{
	double left, give, share = 0, frac;
	size_t i;
	int p;

	fleet_expire(f, now);
	memset(v, 0, sizeof(*v));
	v->margin = -1;
	v->margin_share = 1;
	fleet_add(v, self);
	for (i = 0; i < f->npeers; i++)
		fleet_add(v, &f->peers[i]->r);
	v->peers = f->npeers;
	v->over = -1;
	if (f->npeers == 0 || isinf(v->capacity)) {
		v->share = self->capacity;
		return v->share;
	}

	v->over = v->demand > v->capacity;
	/* The water line: priority 0 first, each in full or what is left. */
	left = v->capacity;
	for (p = 0; p < v->nprio; p++) {
		if (v->prio_demand[p] <= 0)
			continue;
		give = v->prio_demand[p] < left ? v->prio_demand[p] : left;
		frac = give / v->prio_demand[p];
		if (frac < 1 && v->margin < 0) {
			v->margin = p;
			v->margin_share = frac;
		}
		if (p < self->nprio)
			share += frac * self->demand[p];
		left -= give;
	}
	/* What nobody asked for stays with whose capacity it is. */
	if (left > 0 && v->capacity > 0)
		share += left * (self->capacity / v->capacity);
	if (self->nprio > 0 && share < self->demand[0])
		share = self->demand[0];
	if (share < 1)
		share = 1;
	v->share = share;
	return share;
}

size_t
fleet_encode(const struct fleet_report *r, char *buf, size_t buflen)
{
	size_t n, idlen = strlen(r->id);
	int p, first = 1;

	if (buflen < FLEET_REPORT_MAX)
		return 0;
	n = (size_t)snprintf(buf, buflen, "{\"id\":\"");
	n += record_escape(buf + n, r->id, idlen);
	if (isinf(r->capacity))
		n += (size_t)snprintf(buf + n, buflen - n,
		    "\",\"capacity\":null,\"demand\":{");
	else
		n += (size_t)snprintf(buf + n, buflen - n,
		    "\",\"capacity\":%.9g,\"demand\":{", r->capacity);
	for (p = 0; p < r->nprio; p++) {
		if (r->demand[p] <= 0)
			continue;
		n += (size_t)snprintf(buf + n, buflen - n, "%s\"%d\":%.9g",
		    first ? "" : ",", p, r->demand[p]);
		first = 0;
	}
	n += (size_t)snprintf(buf + n, buflen - n, "}}");
	return n;
}

/* A rate: a finite number >= 0. */
static int
fleet_rate(json_t *v, double *out)
{
	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return isfinite(*out) && *out >= 0 ? 0 : -1;
}

int
fleet_decode(const char *buf, size_t len, struct fleet_report *r, char *err,
    size_t errlen)
{
	json_t *o, *id, *cap, *dem, *v;
	const char *k;
	char *end;
	long p;
	int rc = -1;

	if ((o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	id = json_object_get(o, "id");
	cap = json_object_get(o, "capacity");
	dem = json_object_get(o, "demand");
	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    json_string_length(id) > FLEET_ID_MAX) {
		snprintf(err, errlen, "\"id\" must be a string of 1 to %d "
		    "bytes", FLEET_ID_MAX);
		goto out;
	}
	memset(r, 0, sizeof(*r));
	memcpy(r->id, json_string_value(id), json_string_length(id));
	if (memchr(r->id, '\0', json_string_length(id)) != NULL) {
		snprintf(err, errlen, "\"id\" holds a NUL");
		goto out;
	}
	if (json_is_null(cap))
		r->capacity = INFINITY;
	else if (fleet_rate(cap, &r->capacity) == -1) {
		snprintf(err, errlen, "\"capacity\" must be a number >= 0 "
		    "or null");
		goto out;
	}
	if (!json_is_object(dem)) {
		snprintf(err, errlen, "\"demand\" must be an object");
		goto out;
	}
	json_object_foreach(dem, k, v) {
		errno = 0;
		p = strtol(k, &end, 10);
		if (*k < '0' || *k > '9' || *end != '\0' || errno != 0 ||
		    p > RULES_PRIORITY_MAX) {
			snprintf(err, errlen, "\"demand\": \"%.16s\" is not "
			    "a priority 0..%d", k, RULES_PRIORITY_MAX);
			goto out;
		}
		if (fleet_rate(v, &r->demand[p]) == -1) {
			snprintf(err, errlen, "\"demand\": priority %ld: not "
			    "a number >= 0", p);
			goto out;
		}
		if ((int)p + 1 > r->nprio)
			r->nprio = (int)p + 1;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}
