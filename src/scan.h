/*
 * scan: validate an event and read only the fields the rules need.
 */
#ifndef SPILLWAY_SCAN_H
#define SPILLWAY_SCAN_H

#include <stddef.h>

#include <jansson.h>

#include "rules.h"

enum scan_result {
	SCAN_OK,	/* *out: the fields the rules read, as jansson has them */
	SCAN_INVALID,	/* not exactly one JSON object, as jansson would say */
	SCAN_FULL	/* parse it with jansson: the scan cannot decide */
};

enum scan_result scan_event(const struct ruleset *rs, const char *raw,
		    size_t len, json_t **out);

/*
 * Whether raw is exactly one JSON object by jansson's grammar, whatever
 * the size of its numbers: for what jansson refuses for a number alone.
 */
int		 scan_valid(const char *raw, size_t len);

/*
 * The same check, telling where it ended: 1 when an object was read from
 * the start, *end just past it and the whitespace after; 0 when the
 * grammar failed, *end where the check stopped.
 */
int		 scan_prefix(const char *raw, size_t len, size_t *end);

#endif
