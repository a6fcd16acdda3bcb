/*
 * Drop reasons (SPEC §5).  Shared by the shaper, the sinks, metrics and
 * the admin API; the names are part of the metrics contract.
 */
#ifndef SPILLWAY_REASON_H
#define SPILLWAY_REASON_H

enum reason {
	REASON_RATE_LIMIT,	/* fixed class or key bucket empty */
	REASON_BACKPRESSURE,	/* controller allocation exhausted */
	REASON_QUEUE_FULL,	/* queue full, or evicted by a higher priority */
	REASON_TOO_LARGE,	/* line over max_event_bytes */
	REASON_EXPIRED,		/* queued longer than its class's max_age_ms */
	REASON_SINK_REJECTED,	/* permanent per-item refusal by the sink */
	REASON_SINK_ERROR,	/* retries exhausted */
	REASON_UNACKNOWLEDGED,	/* answered 503: the sender keeps and resends it */
	REASON_SHUTDOWN,	/* still queued when the shutdown deadline passed */
	REASON_MAX
};

/* Metric label for a reason; never NULL for a valid reason. */
static inline const char *
reason_name(enum reason r)
{
	static const char *const names[REASON_MAX] = {
		"rate_limit", "backpressure", "queue_full", "too_large",
		"expired", "sink_rejected", "sink_error", "unacknowledged", "shutdown"
	};
	return (unsigned)r < REASON_MAX ? names[r] : "unknown";
}

#endif
