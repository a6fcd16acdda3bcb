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

#endif
