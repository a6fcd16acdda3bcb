/*
 * fuzz_override: a POST /overrides body through override_parse() (src/
 * override.c), then put in force and applied as the shaper would.
 * Checked:
 *   - success or failure, nothing else: on failure a NUL-terminated
 *     reason, even in a small buffer;
 *   - a parsed override is what src/override.h promises: a known kind,
 *     a duration of at least one millisecond and at most
 *     OVERRIDE_FOR_MAX_NS, a finite rate of at least 0, a priority in
 *     the rules' range, a NUL-terminated class name and reason;
 *   - overrides_add() never puts in force what could shed priority 0
 *     without force, and a forced one only when asked;
 *   - overrides_drop() never drops a priority-0 event for an override
 *     that was not forced; the override's JSON is valid JSON; it expires
 *     at its end and not before.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "override.h"
#include "rules.h"

#include "fuzz.h"

#define NS	1000000000ULL
#define T0	(1000 * NS)

static struct ruleset	*rs;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char rules[] = "{\"classes\":["
	    "{\"name\":\"critical\",\"priority\":0,\"match\":[]},"
	    "{\"name\":\"batch\",\"priority\":7,\"match\":[]},"
	    "{\"name\":\"debug\",\"priority\":9,\"match\":[]}]}";
	struct rules_error err;

	(void)argc;
	(void)argv;
	if ((rs = rules_load_buffer(rules, sizeof(rules) - 1, &err)) == NULL)
		abort();
	return 0;
}

static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "critical", "batch", "debug",
	    "nope" };
	struct overrides *ovs;
	struct override o, *d;
	struct evbuffer *b;
	char err[300], small[8];
	json_t *j;
	size_t i;
	int p;

	memset(small, 'x', sizeof(small));
	if (override_parse((const char *)data, size, T0, &o, small,
	    sizeof(small)) == -1)
		FUZZ_CHECK(terminated(small, sizeof(small)),
		    "the reason is not NUL-terminated in a small buffer");
	memset(err, 'x', sizeof(err));
	if (override_parse((const char *)data, size, T0, &o, err,
	    sizeof(err)) == -1) {
		FUZZ_CHECK(terminated(err, sizeof(err)) && err[0] != '\0',
		    "refused without a reason");
		return 0;
	}
	FUZZ_CHECK(o.kind == OVERRIDE_RATE || o.kind == OVERRIDE_SHED ||
	    o.kind == OVERRIDE_PRIORITY, "kind %d", (int)o.kind);
	FUZZ_CHECK(o.created == T0 && o.expires > o.created &&
	    o.expires - o.created <= OVERRIDE_FOR_MAX_NS,
	    "duration %llu ns", (unsigned long long)(o.expires - o.created));
	FUZZ_CHECK(isfinite(o.rate) && o.rate >= 0, "rate %g", o.rate);
	FUZZ_CHECK(o.kind == OVERRIDE_RATE || (o.priority >= 0 &&
	    o.priority <= RULES_PRIORITY_MAX), "priority %d", o.priority);
	FUZZ_CHECK(terminated(o.class_name, sizeof(o.class_name)) &&
	    terminated(o.reason, sizeof(o.reason)), "not NUL-terminated");

	if ((ovs = overrides_new()) == NULL)
		abort();
	if (overrides_add(ovs, &o, rs, err, sizeof(err)) == 0) {
		FUZZ_CHECK(overrides_count(ovs) == 1, "added but not listed");
		FUZZ_CHECK(o.force || !(o.kind == OVERRIDE_SHED &&
		    o.priority == 0), "sheds priority 0 unforced");
		FUZZ_CHECK(o.force || o.kind != OVERRIDE_RATE ||
		    strcmp(o.class_name, "critical") != 0,
		    "caps a priority-0 class unforced");
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			for (p = 0; p <= RULES_PRIORITY_MAX; p += 3) {
				d = overrides_drop(ovs, names[i],
				    overrides_priority(ovs, names[i], p), 1,
				    T0 + NS);
				FUZZ_CHECK(d == NULL || d->force ||
				    overrides_priority(ovs, names[i], p) != 0,
				    "dropped priority 0 unforced");
			}
		if ((b = evbuffer_new()) == NULL ||
		    overrides_json(ovs, T0 + NS, b) == -1)
			abort();
		j = json_loadb((const char *)evbuffer_pullup(b, -1),
		    evbuffer_get_length(b), 0, NULL);
		FUZZ_CHECK(json_is_array(j) && json_array_size(j) == 1,
		    "overrides_json() is not an array of one");
		json_decref(j);
		evbuffer_free(b);
		FUZZ_CHECK(overrides_expire(ovs, o.expires - 1, NULL, NULL) ==
		    0, "expired before its end");
		FUZZ_CHECK(overrides_expire(ovs, o.expires, NULL, NULL) == 1 &&
		    overrides_count(ovs) == 0, "not expired at its end");
	} else
		FUZZ_CHECK(terminated(err, sizeof(err)) && err[0] != '\0',
		    "not added, without a reason");
	overrides_free(ovs);
	return 0;
}
