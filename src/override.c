/*
 * override: timed overrides (override.h).  A handful at a time, so a
 * small array kept in order of creation, searched in full per event of
 * a class that has one; with none active the shaper asks nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "override.h"

#define NSEC_PER_MS	1000000ULL

struct overrides {
	struct override	 v[OVERRIDE_MAX];
	size_t		 n;
	uint64_t	 next_id;
};

int
override_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = { { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	    { "ms", 1 } };
	uint64_t total = 0, n;
	size_t u = 0, i, len;
	const char *p = s;

	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return -1;
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (uint64_t)(*p - '0');
			if (n > OVERRIDE_FOR_MAX_NS / NSEC_PER_MS)
				return -1;
		}
		/* The longest unit that matches here, never a larger one again. */
		for (i = u; i < sizeof(units) / sizeof(units[0]); i++) {
			len = strlen(units[i].unit);
			if (strncmp(p, units[i].unit, len) == 0 &&
			    (p[len] == '\0' || (p[len] >= '0' && p[len] <= '9')))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += n * units[i].ms;
		if (total > OVERRIDE_FOR_MAX_NS / NSEC_PER_MS)
			return -1;
		p += strlen(units[i].unit);
		u = i + 1;
	}
	if (total == 0)
		return -1;
	*ns = total * NSEC_PER_MS;
	return 0;
}

/* The keys a body may hold. */
static int
override_key_known(const char *k)
{
	static const char *keys[] = { "class", "rate", "priority",
	    "priority_at_least", "shed", "for", "reason", "force" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

/* A priority 0..RULES_PRIORITY_MAX from an integer, else -1. */
static int
override_prio(json_t *v)
{
	json_int_t p;

	if (!json_is_integer(v))
		return -1;
	p = json_integer_value(v);
	return p >= 0 && p <= RULES_PRIORITY_MAX ? (int)p : -1;
}

int
override_parse(const char *body, size_t len, uint64_t now, struct override *o,
    char *err, size_t errlen)
{
	json_t *root, *cls, *rate, *prio, *least, *shed, *dur, *why, *force, *v;
	json_error_t jerr;
	const char *k;
	uint64_t ns;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "invalid JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (!override_key_known(k)) {
			snprintf(err, errlen, "unknown key \"%.64s\"", k);
			goto out;
		}
	}
	cls = json_object_get(root, "class");
	rate = json_object_get(root, "rate");
	prio = json_object_get(root, "priority");
	least = json_object_get(root, "priority_at_least");
	shed = json_object_get(root, "shed");
	dur = json_object_get(root, "for");
	why = json_object_get(root, "reason");
	force = json_object_get(root, "force");

	if (!json_is_string(dur) || override_duration(json_string_value(dur),
	    &ns) == -1) {
		snprintf(err, errlen, "\"for\" must be a duration such as "
		    "\"90s\", \"15m\" or \"2h\", at most 7 days");
		goto out;
	}
	if (why != NULL && (!json_is_string(why) ||
	    json_string_length(why) > OVERRIDE_REASON_MAX)) {
		snprintf(err, errlen, "\"reason\" must be a string of at most "
		    "%d bytes", OVERRIDE_REASON_MAX);
		goto out;
	}
	if (force != NULL && !json_is_boolean(force)) {
		snprintf(err, errlen, "\"force\" must be true or false");
		goto out;
	}
	if (least != NULL || shed != NULL) {
		if (cls != NULL || rate != NULL || prio != NULL) {
			snprintf(err, errlen, "\"priority_at_least\" and "
			    "\"shed\" go without \"class\", \"rate\" or "
			    "\"priority\"");
			goto out;
		}
		if ((o->priority = override_prio(least)) == -1) {
			snprintf(err, errlen, "\"priority_at_least\" must be an "
			    "integer 0..%d", RULES_PRIORITY_MAX);
			goto out;
		}
		if (!json_is_true(shed)) {
			snprintf(err, errlen, "\"priority_at_least\" needs "
			    "\"shed\": true");
			goto out;
		}
		o->kind = OVERRIDE_SHED;
	} else {
		if (!json_is_string(cls) || json_string_length(cls) == 0 ||
		    json_string_length(cls) > RULES_NAME_MAX) {
			snprintf(err, errlen, "\"class\" must name a class "
			    "(or give \"priority_at_least\" and \"shed\")");
			goto out;
		}
		memcpy(o->class_name, json_string_value(cls),
		    json_string_length(cls));
		if ((rate != NULL) == (prio != NULL)) {
			snprintf(err, errlen, "give a class either \"rate\" "
			    "or \"priority\"");
			goto out;
		}
		if (rate != NULL) {
			if (!json_is_number(rate) ||
			    !isfinite(json_number_value(rate)) ||
			    json_number_value(rate) < 0) {
				snprintf(err, errlen, "\"rate\" must be a "
				    "number >= 0 (events/s)");
				goto out;
			}
			o->kind = OVERRIDE_RATE;
			o->rate = json_number_value(rate);
		} else {
			if ((o->priority = override_prio(prio)) == -1) {
				snprintf(err, errlen, "\"priority\" must be an "
				    "integer 0..%d", RULES_PRIORITY_MAX);
				goto out;
			}
			o->kind = OVERRIDE_PRIORITY;
		}
	}
	if (why != NULL)
		memcpy(o->reason, json_string_value(why),
		    json_string_length(why));
	o->force = json_is_true(force);
	o->created = now;
	o->expires = now + ns;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

struct overrides *
overrides_new(void)
{
	struct overrides *ovs;

	if ((ovs = calloc(1, sizeof(*ovs))) == NULL)
		return NULL;
	ovs->next_id = 1;
	return ovs;
}

void
overrides_free(struct overrides *ovs)
{
	free(ovs);
}

/* The class of rs named name, or NULL. */
static const struct rule_class *
override_class(const struct ruleset *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nclasses; i++)
		if (strcmp(rs->classes[i].name, name) == 0)
			return &rs->classes[i];
	return NULL;
}

int
overrides_add(struct overrides *ovs, struct override *o,
    const struct ruleset *rs, char *err, size_t errlen)
{
	const struct rule_class *rc = NULL;
	int prio;

	if (ovs->n == OVERRIDE_MAX) {
		snprintf(err, errlen, "%d overrides are active already; end "
		    "one first", OVERRIDE_MAX);
		return -1;
	}
	if (o->kind != OVERRIDE_SHED &&
	    (rc = override_class(rs, o->class_name)) == NULL) {
		snprintf(err, errlen, "no class \"%s\" in the rules in force",
		    o->class_name);
		return -1;
	}
	if (!o->force) {
		prio = rc != NULL ? overrides_priority(ovs, rc->name,
		    rc->priority) : 0;
		if ((o->kind == OVERRIDE_SHED && o->priority == 0) ||
		    (o->kind == OVERRIDE_RATE && prio == 0) ||
		    (o->kind == OVERRIDE_PRIORITY && prio == 0 &&
		    o->priority != 0)) {
			snprintf(err, errlen, "this would shed priority 0; "
			    "say \"force\": true if that is what you want");
			return -1;
		}
	}
	o->id = ovs->next_id++;
	o->shed = 0;
	if (o->kind == OVERRIDE_RATE) {
		bucket_init(&o->bucket, o->rate, o->rate > 1 ? o->rate : 1,
		    o->created);
	}
	ovs->v[ovs->n++] = *o;
	return 0;
}

/* Take the i-th away, keeping the order of the rest. */
static void
overrides_cut(struct overrides *ovs, size_t i)
{
	memmove(&ovs->v[i], &ovs->v[i + 1], (ovs->n - i - 1) *
	    sizeof(ovs->v[0]));
	ovs->n--;
}

int
overrides_remove(struct overrides *ovs, uint64_t id)
{
	size_t i;

	for (i = 0; i < ovs->n; i++)
		if (ovs->v[i].id == id) {
			overrides_cut(ovs, i);
			return 0;
		}
	return -1;
}

size_t
overrides_expire(struct overrides *ovs, uint64_t now,
    void (*done)(void *, const struct override *), void *arg)
{
	size_t i = 0, gone = 0;

	while (i < ovs->n) {
		if (ovs->v[i].expires <= now) {
			if (done != NULL)
				done(arg, &ovs->v[i]);
			overrides_cut(ovs, i);
			gone++;
		} else
			i++;
	}
	return gone;
}

size_t
overrides_count(const struct overrides *ovs)
{
	return ovs->n;
}

struct override *
overrides_at(const struct overrides *ovs, size_t i)
{
	return i < ovs->n ? (struct override *)&ovs->v[i] : NULL;
}

int
overrides_priority(const struct overrides *ovs, const char *name, int prio)
{
	size_t i;

	/* The latest one wins. */
	for (i = ovs->n; i > 0; i--)
		if (ovs->v[i - 1].kind == OVERRIDE_PRIORITY &&
		    strcmp(ovs->v[i - 1].class_name, name) == 0)
			return ovs->v[i - 1].priority;
	return prio;
}

struct override *
overrides_drop(struct overrides *ovs, const char *name, int prio,
    double cost, uint64_t now)
{
	struct override *o;
	size_t i;

	for (i = 0; i < ovs->n; i++) {
		o = &ovs->v[i];
		if ((prio == 0 && !o->force) || o->expires <= now)
			continue;
		if (o->kind == OVERRIDE_SHED && prio >= o->priority)
			return o;
		if (o->kind == OVERRIDE_RATE &&
		    strcmp(o->class_name, name) == 0 &&
		    (o->rate <= 0 || !bucket_take(&o->bucket, cost, now)))
			return o;
	}
	return NULL;
}

uint64_t
override_left(const struct override *o, uint64_t now)
{
	return o->expires > now ? o->expires - now : 0;
}

int
override_json(const struct override *o, uint64_t now, struct evbuffer *out)
{
	static const char *const kinds[] = { "rate", "shed", "priority" };
	json_t *j;
	char *text;
	int rc = -1;

	j = json_pack("{sI ss sb ss sf sf sI}", "id", (json_int_t)o->id,
	    "kind", kinds[o->kind], "force", o->force, "reason", o->reason,
	    "for_s", (double)(o->expires - o->created) / 1e9,
	    "left_s", (double)override_left(o, now) / 1e9,
	    "shed", (json_int_t)o->shed);
	if (j == NULL)
		return -1;
	switch (o->kind) {
	case OVERRIDE_RATE:
		json_object_set_new(j, "class", json_string(o->class_name));
		json_object_set_new(j, "rate", json_real(o->rate));
		break;
	case OVERRIDE_SHED:
		json_object_set_new(j, "priority_at_least",
		    json_integer(o->priority));
		break;
	case OVERRIDE_PRIORITY:
		json_object_set_new(j, "class", json_string(o->class_name));
		json_object_set_new(j, "priority", json_integer(o->priority));
		break;
	}
	if ((text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(9))) != NULL) {
		rc = evbuffer_add(out, text, strlen(text));
		free(text);
	}
	json_decref(j);
	return rc;
}

int
overrides_json(const struct overrides *ovs, uint64_t now,
    struct evbuffer *out)
{
	size_t i;

	if (evbuffer_add(out, "[", 1) == -1)
		return -1;
	for (i = 0; i < ovs->n; i++)
		if ((i > 0 && evbuffer_add(out, ",", 1) == -1) ||
		    override_json(&ovs->v[i], now, out) == -1)
			return -1;
	return evbuffer_add(out, "]", 1);
}
